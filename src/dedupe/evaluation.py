"""Labelled pages and the content-extraction metric used by ``dedupe eval`` and ``dedupe train``.

A labelled file is JSON Lines, one page per line::

    {"id": "...", "url": "...", "source": "...",
     "paragraphs": [{"text": "...", "label": "content" | "boilerplate" | "duplicate"}, ...]}

The metric is word-weighted, because a cleaner that drops one 200-word paragraph does far more
harm than one that drops a 2-word menu item. With w_i = len(text_i.split()), K the kept blocks
and C the blocks labelled "content" (boilerplate and duplicate blocks should be stripped)::

    precision = sum(w_i, i in K & C) / sum(w_i, i in K)
    recall    = sum(w_i, i in K & C) / sum(w_i, i in C)
    F1        = 2 P R / (P + R)

plus block-level figures for the strip decision itself (S = stripped blocks, N = not content)::

    strip_precision = |S & N| / |S|        strip_recall = |S & N| / |N|

An empty denominator gives 1.0 (nothing was kept, so nothing wrong was kept; there was nothing to
find), and F1 is 0.0 when P + R = 0.

>>> page = LabelledPage("p", "", "", ["Menu", "Real text here"], ["boilerplate", "content"])
>>> s = content_scores([page], [[True, True]])
>>> round(s["word_precision"], 2), s["word_recall"], s["strip_recall"]
(0.75, 1.0, 0.0)
"""

from __future__ import annotations

import re
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np

from .errors import ConfigError, InputError
from .reading import UnreadableJSON, parse_json, url_host

LABELS = ("content", "boilerplate", "duplicate")


@dataclass
class LabelledPage:
    """One labelled page: its blocks' texts and one label per block (see :data:`LABELS`)."""

    id: str
    url: str
    source: str
    texts: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)

    @property
    def host(self) -> str:
        """The site host of ``url`` (``www.`` kept), or the id when there is no URL.

        Cross-validation groups pages by host so that no site template is both trained on and
        scored.
        """
        host = url_host(self.url) if self.url else None
        return host or self.id


def load_labelled(path) -> Iterator[LabelledPage]:
    """Yield the pages of a labelled JSONL file, in file order.

    Raises :class:`InputError` naming ``path:line`` for a line that is not a JSON object, a page
    without a "paragraphs" list, a paragraph without "text" or "label", a label outside
    :data:`LABELS`, and for a file that holds no page at all.
    """
    path = Path(path)
    try:
        handle = path.open(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot open labelled file: {exc.strerror}", str(path)) from None
    count = 0
    with handle:
        try:
            for lineno, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                yield _parse_page(line, f"{path}:{lineno}", count)
                count += 1
        except UnicodeDecodeError:
            raise InputError("the file is not UTF-8 text", str(path)) from None
    if count == 0:
        raise InputError("no labelled pages found (the file is empty); expected one JSON "
                         "object per line with a \"paragraphs\" list", str(path))


def _parse_page(line: str, where: str, index: int) -> LabelledPage:
    try:
        obj = parse_json(line)
    except UnreadableJSON as exc:
        raise InputError(str(exc), where) from None
    if not isinstance(obj, dict):
        raise InputError("expected a JSON object per line", where)
    paragraphs = obj.get("paragraphs")
    if not isinstance(paragraphs, list):
        raise InputError('missing "paragraphs": expected a list of {"text", "label"} objects',
                         where)
    texts, labels = [], []
    for k, par in enumerate(paragraphs):
        if not isinstance(par, dict) or not isinstance(par.get("text"), str):
            raise InputError(f'paragraph {k} has no "text" string', where)
        label = par.get("label")
        if label is None:
            raise InputError(f'paragraph {k} has no "label"', where)
        if label not in LABELS:
            raise InputError(f"paragraph {k} has unknown label {label!r}; use one of "
                             + ", ".join(LABELS), where)
        texts.append(par["text"])
        labels.append(label)
    return LabelledPage(str(obj.get("id", f"page-{index}")), str(obj.get("url") or ""),
                        str(obj.get("source") or ""), texts, labels)


def _texts_labels(page) -> tuple[Sequence[str], Sequence[str]]:
    if isinstance(page, LabelledPage):
        return page.texts, page.labels
    texts, labels = page
    return texts, labels


def content_scores(pages_labels: Iterable, keep_masks: Iterable,
                   ignore_masks: Iterable | None = None) -> dict:
    """Word-weighted content precision / recall / F1 and block-level strip precision / recall.

    ``pages_labels``: LabelledPage objects or ``(texts, labels)`` pairs; ``keep_masks``: one
    boolean sequence per page, True = the cleaner kept the block. ``ignore_masks`` (optional,
    True = leave the block out of every count) scores "without" a class of disputed blocks, e.g.
    :func:`caveat_mask`. Returns floats ``word_precision, word_recall, word_f1,
    strip_precision, strip_recall`` and integer counts ``content_words, kept_words,
    kept_content_words, blocks, stripped_blocks``.
    """
    ignore_iter = iter(ignore_masks) if ignore_masks is not None else None
    kept_words = kept_content = content_words = 0
    blocks = stripped = stripped_bad = bad = 0
    for page, keep in zip(pages_labels, keep_masks, strict=True):
        texts, labels = _texts_labels(page)
        keep = np.asarray(keep, dtype=bool)
        if len(keep) != len(texts) or len(labels) != len(texts):
            raise ValueError("keep mask, texts and labels must have one entry per block")
        words = np.fromiter((len(t.split()) for t in texts), np.int64, len(texts))
        is_content = np.fromiter((lab == "content" for lab in labels), bool, len(labels))
        use = np.ones(len(texts), bool)
        if ignore_iter is not None:
            use = ~np.asarray(next(ignore_iter), dtype=bool)
        use &= words > 0  # a paragraph of white space is no block: nothing could strip it
        kept_words += int(words[keep & use].sum())
        kept_content += int(words[keep & use & is_content].sum())
        content_words += int(words[use & is_content].sum())
        blocks += int(use.sum())
        stripped += int((~keep & use).sum())
        stripped_bad += int((~keep & use & ~is_content).sum())
        bad += int((use & ~is_content).sum())
    p = kept_content / kept_words if kept_words else 1.0
    r = kept_content / content_words if content_words else 1.0
    return {
        "word_precision": p,
        "word_recall": r,
        "word_f1": 2 * p * r / (p + r) if p + r else 0.0,
        "strip_precision": stripped_bad / stripped if stripped else 1.0,
        "strip_recall": stripped_bad / bad if bad else 1.0,
        "content_words": content_words,
        "kept_words": kept_words,
        "kept_content_words": kept_content,
        "blocks": blocks,
        "stripped_blocks": stripped,
    }


# Words that mark a block as site furniture rather than article apparatus; a short boilerplate
# block near the article WITHOUT any of them is taken as a headline/byline/date/caption.
_FURNITURE = re.compile(
    r"subscri|newsletter|sign ?(?:up|in)|log ?in|follow|share|advert|sponsor|read more|"
    r"related|recommended|comment|cookie|privacy|terms|©|copyright|rights reserved|click|"
    r"download|app\b|podcast|watch|video|whatsapp|facebook|twitter|instagram|linkedin|"
    r"email|more from|trending|popular|skip to|menu|search|home\b|continue reading",
    re.IGNORECASE)


def caveat_mask(page, before: int = 8, max_words: int = 60) -> np.ndarray:
    """Boilerplate blocks that look like the headline, byline, date or a caption.

    The aeb labels follow a gold body that leaves those out, although most users of a news
    cleaner want them kept. Heuristic: a block labelled non-content, of at most ``max_words``
    words, lying from ``before`` blocks ahead of the first content block to the last content
    block, and free of site-furniture words (subscribe, share, related, cookie, ...). Pass the
    result as ``ignore_masks`` to :func:`content_scores` to score "without" them.
    """
    texts, labels = _texts_labels(page)
    n = len(texts)
    mask = np.zeros(n, bool)
    content = [i for i, lab in enumerate(labels) if lab == "content"]
    if not content:
        return mask
    lo, hi = max(0, content[0] - before), content[-1]
    for i in range(lo, hi + 1):
        if labels[i] == "boilerplate" and len(texts[i].split()) <= max_words \
                and not _FURNITURE.search(texts[i]):
            mask[i] = True
    return mask


def duplicate_strip_mask(texts: Sequence[str], min_words: int = 5) -> np.ndarray:
    """True for exact repeats (lower-cased word tokens) of an earlier block of ``min_words``+
    words on the same page; mimics the dedup stage when scoring a classifier alone."""
    seen: set[tuple[str, ...]] = set()
    out = np.zeros(len(texts), bool)
    for i, text in enumerate(texts):
        key = tuple(text.lower().split())
        if len(key) >= min_words:
            out[i] = key in seen
            seen.add(key)
    return out


def justext_keep_mask(texts: Sequence[str], stoplist: str | frozenset = "English",
                      **options) -> np.ndarray:
    """The jusText baseline on already-extracted blocks: True where jusText keeps a block.

    Each block becomes one jusText ``Paragraph`` (a ``<p>`` under ``<body>``, no links), then
    jusText's own ``classify_paragraphs`` and ``revise_paragraph_classification`` (the context
    pass) run with their defaults or ``options``; blocks classed "good" are kept. Building the
    paragraph objects skips jusText's HTML cleaner, whose module (``lxml.html.clean``) newer lxml
    no longer ships, so a stand-in is registered when it is missing.
    """
    try:
        import lxml.html.clean  # noqa: F401
    except ImportError:
        stub = types.ModuleType("lxml.html.clean")
        stub.Cleaner = object  # never called: we build paragraphs ourselves
        sys.modules["lxml.html.clean"] = stub
    import justext
    from justext.core import classify_paragraphs, revise_paragraph_classification
    from justext.paragraph import Paragraph

    if isinstance(stoplist, str):
        stoplist = justext.get_stoplist(stoplist)
    paragraphs = []
    for i, text in enumerate(texts):
        par = Paragraph(types.SimpleNamespace(dom="html.body.p", xpath=f"/html/body/p[{i + 1}]"))
        par.append_text(text)
        paragraphs.append(par)
    classify_kw = {k: v for k, v in options.items() if k != "max_heading_distance"}
    classify_paragraphs(paragraphs, stoplist, **classify_kw)
    if "max_heading_distance" in options:
        revise_paragraph_classification(paragraphs, options["max_heading_distance"])
    else:
        revise_paragraph_classification(paragraphs)
    return np.array([not p.is_boilerplate for p in paragraphs], dtype=bool)



def evaluate(path, make_cleaner=None, folds: int = 0) -> dict:
    """Run the cleaner over the pages of a labelled file and score what it kept.

    Each page's paragraphs, joined by newlines, become one document; the pages are cleaned as
    one dump, in file order, so cross-page copies and templates count as in a real run.
    ``make_cleaner(boilerplate=None)`` builds the cleaner (default: ``Cleaner`` with default
    settings). With ``folds >= 2`` the figures are held out by site: pages are split by host
    into folds (GroupKFold) and each fold is cleaned with a boilerplate model trained on the
    other folds only, as a site never seen before would be.

    Returns the figures of :func:`content_scores` (``all``), the same without the
    headline/byline/date/caption blocks the gold body leaves out (``without_caveat``), and per
    reason the blocks and words stripped and the share of them that were not content.
    """
    if isinstance(folds, bool) or not isinstance(folds, int) or folds < 0 or folds == 1:
        raise ConfigError(f"folds must be 0 (the shipped model) or a whole number >= 2 (held out by site), "
                          f"not {folds!r}")
    if make_cleaner is None:
        from .pipeline import Cleaner as make_cleaner
    pages = list(load_labelled(path))
    keeps: list = [None] * len(pages)
    per_reason: dict = {}
    if folds >= 2:
        from sklearn.model_selection import GroupKFold

        from .boilerplate import fit_on_sites

        hosts = np.array([p.host for p in pages])
        n_folds = min(folds, len(set(hosts)))
        if n_folds < 2:
            raise InputError("held-out evaluation needs pages from at least two sites", str(path))
        splits = list(GroupKFold(n_folds).split(np.arange(len(pages)), groups=hosts))
    else:
        splits = [(np.arange(0), np.arange(len(pages)))]
    for train, test in splits:
        boilerplate = None
        if len(train):
            boilerplate = fit_on_sites(pages, train)
        cleaner = make_cleaner(boilerplate=boilerplate)
        for i, keep in zip(test, _keep_masks([pages[i] for i in test], cleaner, path, per_reason)):
            keeps[i] = keep
    for r in per_reason.values():
        r["precision"] = r["non_content_words"] / r["words"] if r["words"] else 1.0
    return {
        "pages": len(pages),
        "held_out_folds": len(splits) if folds >= 2 else 0,  # no more folds than sites
        "all": content_scores(pages, keeps),
        "without_caveat": content_scores(pages, keeps, [caveat_mask(p) for p in pages]),
        "by_reason": dict(sorted(per_reason.items())),
    }


def _keep_masks(pages: list, cleaner, path, per_reason: dict) -> Iterator[np.ndarray]:
    from .reading import Document

    docs = [Document(id=p.id, text="\n".join(_one_line(t) for t in p.texts), source=p.host,
                     location=f"{path}:{p.id}") for p in pages]
    for page, cleaned in zip(pages, cleaner.clean(docs)):
        keep = np.ones(len(page.texts), dtype=bool)
        line_starts = np.cumsum([0] + [len(_one_line(t)) + 1 for t in page.texts[:-1]])
        for d in cleaned.stripped:
            line = int(np.searchsorted(line_starts, d.start, side="right") - 1)
            keep[line] = False
            words = len(page.texts[line].split())
            bad = page.labels[line] != "content"
            r = per_reason.setdefault(d.reason, {"blocks": 0, "words": 0, "non_content_blocks": 0,
                                                 "non_content_words": 0})
            r["blocks"] += 1
            r["words"] += words
            r["non_content_blocks"] += int(bad)
            r["non_content_words"] += words * int(bad)
        yield keep


def _one_line(text: str) -> str:
    return text.replace("\r", " ").replace("\n", " ")
