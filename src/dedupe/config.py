"""Cleaner parameters, with their defaults and validation in one place.

Defaults were chosen from measurements on the bundled seeds and the labelled pages
(see README, "How decisions are made").
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field, fields, replace

from .errors import ConfigError

REASONS = ("duplicate", "near-duplicate", "template", "boilerplate", "off-topic")
CROSS_DOC_POLICIES = ("strip", "flag", "keep")


@dataclass(frozen=True)
class CleanerConfig:
    """Every knob of the cleaning pass.

    Parameters
    ----------
    shingle_size : word n-gram length (5).
    num_perm : MinHash permutations (128).
    seed : MinHash permutation seed (1, datasketch's default).
    threshold : Jaccard similarity from which a block is a near-duplicate of a block in an
        earlier document; also the LSH design threshold (0.7: the bands find a pair of
        similarity exactly 0.8 with probability 0.986, and 99.8% of the near copies of the
        benchmark dump are found; README, "Speed and memory").
    doc_threshold : the same inside one document, where a repeat is far more likely than a
        coincidence (0.4): catches a standfirst repeated with small edits.
    containment : a block that contains an earlier block of its document to this degree and adds
        only a short addition (a caption credit) is a near-duplicate of it (0.9).
    run_threshold : once a block repeats an earlier one, its neighbours are compared with the
        earlier block's neighbours at this lower similarity, so a repeated passage goes whole
        even where it was re-worded (0.15).
    cross_doc : what to do with copies of blocks from earlier documents: "strip", "flag"
        (report only) or "keep" (ignore). Templates are found from these copies and follow
        ``strip``, not this option; "keep" leaves no copies to count them from.
    lsh_bands, lsh_rows : LSH banding; ``None`` picks the optimum for ``threshold``.
    detect : which detectors run at all (every reason by default).
    strip : which detected reasons remove a block; the others are only flagged in the report.
    template_min_docs : a block whose copies appear in at least this many documents of one source
        (of the dump when sources are unknown) is site furniture, stripped everywhere (5).
    template_max_words : ... provided it has at most this many words; longer recurring blocks are
        syndicated copy, of which the first is kept (40).
    boilerplate_threshold : P(boilerplate) from which a block is stripped (``None``: the model's).
    title_threshold : the first block of a document is its headline in scraped text; it is
        stripped as boilerplate only from this P(boilerplate) on (0.9), so headlines stay while
        a page that opens with navigation ("Skip to content") still loses it.
    body_threshold : inside an article's body (between its first and its last block of
        ``body_words`` words or more that the classifier keeps), a block is stripped as
        boilerplate only from this P(boilerplate) on (0.8): a paragraph, a list item or a
        subheading between two kept paragraphs is the article's far more often than not. On
        the labelled pages, held out by site, it cut the content words lost by a quarter.
    body_words : the words of a block that marks the article's body (20).
    offtopic_threshold : off-topic run score from which a run is stripped (``None``: the
        detector's default).
    """

    shingle_size: int = 5
    num_perm: int = 128
    seed: int = 1
    threshold: float = 0.7
    doc_threshold: float = 0.4
    containment: float = 0.9
    run_threshold: float = 0.15
    cross_doc: str = "strip"
    lsh_bands: int | None = None
    lsh_rows: int | None = None
    detect: frozenset = field(default_factory=lambda: frozenset(REASONS))
    strip: frozenset = field(default_factory=lambda: frozenset(REASONS))
    template_min_docs: int = 5
    template_max_words: int = 40
    boilerplate_threshold: float | None = None
    title_threshold: float = 0.9
    body_threshold: float = 0.8
    body_words: int = 20
    offtopic_threshold: float | None = None

    def __post_init__(self):
        for f in fields(self):  # types first, so that the range checks below read numbers
            value = getattr(self, f.name)
            if f.name in ("detect", "strip"):
                if isinstance(value, str):  # "duplicate,near-duplicate", as on the command line
                    object.__setattr__(self, f.name, parse_reasons(value))
                elif isinstance(value, (set, frozenset, list, tuple)) and all(isinstance(r, str) for r in value):
                    object.__setattr__(self, f.name, frozenset(value))
                else:
                    raise ConfigError(f"{f.name} must be a set of reasons such as {{'duplicate'}}, got {value!r}")
            elif f.name in _INTEGERS:  # numpy's integers too, kept as Python's
                _check(isinstance(value, numbers.Integral) and not isinstance(value, bool)
                       or value is None and f.name in _OPTIONAL,
                       f"{f.name} must be a whole number, got {value!r}")
                if value is not None:
                    object.__setattr__(self, f.name, int(value))
            elif f.name in _NUMBERS:
                _check(isinstance(value, numbers.Real) and not isinstance(value, bool)
                       or value is None and f.name in _OPTIONAL,
                       f"{f.name} must be a number, got {value!r}")
                if value is not None:
                    object.__setattr__(self, f.name, float(value))
        _check(isinstance(self.cross_doc, str) and self.cross_doc in CROSS_DOC_POLICIES,
               f"cross_doc must be one of {', '.join(CROSS_DOC_POLICIES)}, got {self.cross_doc!r}")
        _check(1 <= self.shingle_size <= 32, "shingle_size must be between 1 and 32 words")
        _check(8 <= self.num_perm <= 1024 and self.num_perm % 2 == 0,  # (the index packs two values a byte)
               f"num_perm must be an even number from 8 to 1024, got {self.num_perm}")
        _check(0 <= self.seed < 2**32, "seed must be a non-negative 32-bit integer")
        # threshold is also the LSH design threshold, whose banding needs it below 1
        _check(0.0 < self.threshold < 1.0, f"threshold must be in (0, 1), got {self.threshold}: it also sets the "
                                           "index's banding, which needs it below 1 (0.99 finds near-identical copies)")
        for name in ("doc_threshold", "containment", "run_threshold"):
            value = getattr(self, name)
            _check(0.0 < value <= 1.0, f"{name} must be in (0, 1], got {value}")
        for name in ("detect", "strip"):
            unknown = set(getattr(self, name)) - set(REASONS)
            _check(not unknown, f"unknown reasons in {name}: {', '.join(sorted(unknown))}; "
                                f"choose from {', '.join(REASONS)}")
        _check(self.template_min_docs >= 2, "template_min_docs must be at least 2")
        _check(self.template_max_words >= 1, "template_max_words must be at least 1")
        _check(self.body_words >= 1, "body_words must be at least 1")
        for name in ("boilerplate_threshold", "offtopic_threshold", "title_threshold", "body_threshold"):
            value = getattr(self, name)
            _check(value is None or 0.0 < value < 1.0, f"{name} must be in (0, 1), got {value}")
        if (self.lsh_bands is None) != (self.lsh_rows is None):
            raise ConfigError("give both lsh_bands and lsh_rows, or neither")
        if self.lsh_bands is not None:
            _check(self.lsh_bands >= 1 and self.lsh_rows >= 1, "lsh_bands and lsh_rows must be at least 1")
            _check(self.lsh_bands * self.lsh_rows <= self.num_perm,
                   "lsh_bands * lsh_rows must not exceed num_perm")

    def with_(self, **changes) -> "CleanerConfig":
        """A copy with ``changes``, checked as a new config is.

        >>> CleanerConfig().with_(threshold=0.8).threshold
        0.8
        """
        names = {f.name for f in fields(self)}
        unknown = set(changes) - names
        if unknown:
            raise ConfigError(f"unknown parameter(s): {', '.join(sorted(unknown))}")
        return replace(self, **changes)


_INTEGERS = ("shingle_size", "num_perm", "seed", "lsh_bands", "lsh_rows", "template_min_docs", "template_max_words",
             "body_words")
_NUMBERS = ("threshold", "doc_threshold", "containment", "run_threshold", "boilerplate_threshold", "title_threshold",
            "body_threshold", "offtopic_threshold")
_OPTIONAL = ("lsh_bands", "lsh_rows", "boilerplate_threshold", "offtopic_threshold")


def parse_reasons(text: str) -> frozenset:
    """``"duplicate,near-duplicate"`` -> frozenset; ``"all"`` -> every reason."""
    if text.strip() == "all":
        return frozenset(REASONS)
    reasons = frozenset(r.strip() for r in text.split(",") if r.strip())
    unknown = reasons - set(REASONS)
    if unknown:
        raise ConfigError(f"unknown reason(s) {', '.join(sorted(unknown))}: choose from {', '.join(REASONS)} or all")
    return reasons


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)
