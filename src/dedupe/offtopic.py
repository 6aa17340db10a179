"""Off-topic detection: find runs of pasted, unrelated stories inside a document.

Scrapers paste teasers and whole other stories after (or inside) an article. The article's topic
is its title and lead: the first blocks, up to ``lead_words`` content words. A pasted story is a
contiguous run of blocks that shares little vocabulary with the rest of the article.

Vectors. Every block becomes a TF-IDF vector ``x_i``: hashed word unigrams, English stop words
removed, sublinear tf ``1 + ln tf``, L2-normalised. Blocks with fewer than ``short_words`` content
words (headings, "Updated: ...", bullets) carry no evidence: they get weight 0 and later take the
score of their neighbours.

Runs. For a run R (blocks a..b-1 of the unflagged substantive blocks after the lead) and the rest
of the article Q = T - R, where T sums every unflagged substantive block and counts the lead
``lead_weight`` times (the topic anchors the article),

    cos(R, Q) = (R.T - R.R) / (|R| |Q|)
    w_eff     = w_R w_Q / (w_R + w_Q)                      (content words; the smaller side rules)
    expected  = full_sim * w_eff^2 / (w_eff^2 + half_words^2)
    score(R)  = 1 - min(1, cos(R, Q) / expected)           (1 = shares nothing with the article)

``expected`` is the cosine an on-topic run of that size reaches: short runs share few words with
anything, so they need much lower cosines before they count as unrelated. All O(m^2) runs are
scored at once from 2-D prefix sums of the block Gram matrix. A run qualifies when it scores
``>= threshold``, holds at least ``window`` substantive blocks, and both its edge blocks are
closer to the rest of the run than to the article (it has not swallowed article text). The
largest qualifying run (in words) is flagged and taken out of T; this repeats until none is left. So the article is what stays anchored to the lead, a pasted
story is flagged as a whole, and a lone odd paragraph is never flagged. A block's score is the
score of its flagged run, or else the best score of any run holding it (below the threshold).

No title, no topic: a document whose first block is short, or whose lead is mostly short lines
(navigation menus, dates), has no trustworthy topic, and nothing in it is flagged.

IDF is learnt from the dump being cleaned (``partial_fit`` streams documents; memory is one
``n_features`` array of block frequencies) and blended with a shipped background table
(``models/background-idf-v1.json``) that counts as ``background_weight`` pseudo-blocks, so a fit
on five documents leans on it and a fit on millions of blocks drowns it:

    df = df_fit + df_bg * k / N_bg,   N = N_fit + k,   idf = ln((1 + N) / (1 + df)) + 1,

with ``k = background_weight``. The IDF's "documents" are blocks, since blocks are compared.

Example:

    >>> article = ["Iran and Russia sign a deal on attack drones",
    ...     "Iran will supply Russia with attack drones under a new deal signed in Tehran on Monday.",
    ...     "The drone deal lets Russia build Iranian drones at a plant in Tatarstan, officials said.",
    ...     "Western officials say Iranian drones have been used by Russia against Ukrainian power plants.",
    ...     "Tehran denies sending drones to Russia for use in the war in Ukraine."]
    >>> pasted = ["Hungary's football team failed to qualify for the World Cup in Qatar.",
    ...     "The Hungarian football federation sacked the coach after the World Cup exit.",
    ...     "Fans protested outside the football federation in Budapest after the exit."]
    >>> detector = OffTopicDetector(lead_words=20)   # a short lead, for a short example
    >>> detector.flags(article + pasted).tolist()
    [False, False, False, False, False, True, True, True]
"""

from __future__ import annotations

import functools
import json
import math
import re
import sys
from collections.abc import Iterable, Iterator
from importlib import resources
from pathlib import Path
from typing import NamedTuple

import mmh3
import numpy as np

from . import native
from .errors import ConfigError, DedupeError, InputError
from .indexing import GrowableArray
from .normalising import Lines, character_map, code_points, fold_each, fold_lines, lowered_ascii_map
from .reading import chunked
from .tokentable import TokenTable, spans, token_bounds

DEFAULT_BACKGROUND = "default"
_SPARSE = 8  # features per batch below n_features / _SPARSE: touched one by one, not all at once
BACKGROUND_FILE = "background-idf-v1.json"
BACKGROUND_FORMAT = "dedupe-background-idf/1"
# Words of 2+ letters or digits; apostrophes (straight or curly) end a word, so "Russia’s" and
# "Russia's" both give "russia".
TOKEN_PATTERN = r"(?u)\b\w\w+\b"
# Runs are scored on an (m+1) x (m+1) grid; longer documents are not articles, and are left alone.
MAX_BLOCKS = 2000


def _analyzer_settings() -> dict:
    return dict(lowercase=True, token_pattern=TOKEN_PATTERN, stop_words=sorted(ENGLISH_STOP_WORDS),
                alternate_sign=False, norm=None, dtype=np.float64)


# TOKEN_PATTERN's terms are the runs of word characters of length >= 2. Every ASCII character
# that is not a word character separates runs, so the UTF-8 bytes of a chunk are cut at them with
# one bytes.translate and split; a piece holding non-ASCII bytes (a curly apostrophe, an accented
# letter) is cut by the regex itself, once per distinct piece.
_ASCII_SEPARATORS = bytes(c for c in range(128) if not re.match(r"\w", chr(c)) and c != 0x0A)
_SEPARATE = bytes.maketrans(_ASCII_SEPARATORS, b" " * len(_ASCII_SEPARATORS))
_ASCII_LOWERED = lowered_ascii_map(_SEPARATE)
_WORD_RUNS = re.compile(r"\w+")


def _lowered_bytes(text: str) -> bytes:
    return text.lower().encode("utf-8", "surrogatepass").translate(_SEPARATE)


@functools.lru_cache(maxsize=None)
def lowered_map() -> np.ndarray:
    """What ``str.lower()`` makes of each character below U+20000 (the cased letters beyond the
    Basic Multilingual Plane are there), as :func:`~dedupe.normalising.character_map` gives it."""
    folded, odd = fold_each(code_points(0x20000), str.lower)
    python = np.zeros(len(folded), bool)
    python[odd] = True
    python[0x03A3] = True  # str.lower() lowers a capital sigma by what follows it
    return character_map(folded, python)


# Piece codes below 0: no term, or several terms: the terms of the k-th such piece of
# TermCounts' own list (_FIRST_SEVERAL - k)
_NOT_A_TERM, _FIRST_SEVERAL = -1, -2

# scikit-learn's English stop words (``sklearn.feature_extraction.text.ENGLISH_STOP_WORDS``),
# spelled out so that cleaning does not import scikit-learn (a second at every start); a test
# holds the two equal.
ENGLISH_STOP_WORDS = frozenset("""
a about above across after afterwards again against all almost alone along already also although
always am among amongst amoungst amount an and another any anyhow anyone anything anyway
anywhere are around as at back be became because become becomes becoming been before beforehand
behind being below beside besides between beyond bill both bottom but by call can cannot cant co
con could couldnt cry de describe detail do done down due during each eg eight either eleven
else elsewhere empty enough etc even ever every everyone everything everywhere except few
fifteen fifty fill find fire first five for former formerly forty found four from front full
further get give go had has hasnt have he hence her here hereafter hereby herein hereupon hers
herself him himself his how however hundred i ie if in inc indeed interest into is it its itself
keep last latter latterly least less ltd made many may me meanwhile might mill mine more
moreover most mostly move much must my myself name namely neither never nevertheless next nine
no nobody none noone nor not nothing now nowhere of off often on once one only onto or other
others otherwise our ours ourselves out over own part per perhaps please put rather re same see
seem seemed seeming seems serious several she should show side since sincere six sixty so some
somehow someone something sometime sometimes somewhere still such system take ten than that the
their them themselves then thence there thereafter thereby therefore therein thereupon these
they thick thin third this those though three through throughout thru thus to together too top
toward towards twelve twenty two un under until up upon us very via was we well were what
whatever when whence whenever where whereafter whereas whereby wherein whereupon wherever
whether which while whither who whoever whole whom whose why will with within without would yet
you your yours yourself yourselves
""".split())


class TermMatrix(NamedTuple):
    """Rows of hashed term counts (or weights) in compressed sparse row layout: row ``i`` holds
    ``data[indptr[i]:indptr[i + 1]]`` at the columns ``indices[indptr[i]:indptr[i + 1]]``. The
    arrays of a scipy ``csr_matrix`` without importing scipy (a fifth of the cleaner's
    start-up); :meth:`to_scipy` gives the matrix itself.
    """

    data: np.ndarray
    indices: np.ndarray
    indptr: np.ndarray
    n_features: int

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.indptr) - 1, self.n_features

    @property
    def nnz(self) -> int:
        return len(self.data)

    def rows(self, selection: np.ndarray) -> "TermMatrix":
        """The rows at the (ascending) positions ``selection``."""
        lengths = np.diff(self.indptr)[selection]
        take = spans(self.indptr[:-1][selection], lengths)
        return TermMatrix(self.data[take], self.indices[take], np.concatenate(([0], np.cumsum(lengths))),
                          self.n_features)

    def to_scipy(self):
        import scipy.sparse as sp

        return sp.csr_matrix((self.data, self.indices, self.indptr), shape=self.shape)


class TermCounts:
    """Hashed term counts of blocks: the matrix ``HashingVectorizer(**_analyzer_settings())``
    gives, value for value and in the same canonical (sorted, summed) layout.

    It does per chunk what the vectorizer does per block: one ``lower``, one ``translate`` and
    one split over the joined blocks, and a :class:`~dedupe.tokentable.TokenTable` from piece to
    feature (negative codes for stop words, one-letter runs and pieces that hold several terms),
    so known pieces cost a few array passes and no Python call. A new term is hashed as scikit-learn's hasher does (signed MurmurHash3 of
    its UTF-8 bytes, seed 0, ``|h| mod n_features``); a test holds the two equal.

    >>> counts = TermCounts(2**10).transform(["Iran drones", "the drones, the drones"])
    >>> counts.toarray().sum(axis=1).tolist()   # "the" is a stop word
    [2.0, 2.0]
    """

    def __init__(self, n_features: int, cache_limit: int = 1 << 20):
        self.n_features = n_features
        self.cache_limit = cache_limit
        self._codes = TokenTable(self._code, np.int64, limit=cache_limit, on_clear=self._forget_several)

    def _forget_several(self) -> None:
        # the features of the pieces that hold several terms ("well-known", "u.s."), piece
        # after piece: those of piece k at _several_starts[k]:_several_starts[k + 1]; their
        # codes in the token table number them, so the list goes whenever the table is emptied
        self._several_features = GrowableArray(np.int64)
        self._several_starts = GrowableArray(np.int64)
        self._several_starts.extend([0])

    def __getstate__(self):  # workers rebuild the cache rather than receive it
        return {"n_features": self.n_features, "cache_limit": self.cache_limit}

    def __setstate__(self, state):
        self.__init__(**state)

    def transform(self, blocks: list[str]):
        """The counts as a scipy ``csr_matrix`` (what the vectorizer returns)."""
        return self.count(blocks).to_scipy()

    def count(self, blocks: list[str]) -> TermMatrix:
        """The counts, as the arrays of :meth:`transform`'s matrix."""
        n = len(blocks)
        if n == 0:
            return TermMatrix(np.zeros(0), np.zeros(0, np.int32), np.zeros(1, np.int64), self.n_features)
        data, newlines = fold_lines(blocks, _lowered_bytes, _ASCII_LOWERED, lowered_map)
        if newlines != n - 1:  # a block held a newline, which separates runs like a space
            return self.count([b.replace("\n", " ") for b in blocks])
        raw = np.frombuffer(data, np.uint8)
        # The pieces of data.split(). After the translation the only whitespace bytes left are
        # spaces and the newlines between blocks: a piece's row is its line. A character of a
        # script written without spaces is a piece of its own.
        starts, ends, row = token_bounds(raw, lines=True, unspaced=True)
        if self._several_starts.size > self.cache_limit:
            self._codes.clear()  # bounded memory (the list goes with the table)
        codes = self._codes.lookup_spans(data, starts, ends)
        several = np.flatnonzero(codes <= _FIRST_SEVERAL)
        if several.size:  # a few percent of the pieces: their terms, gathered in one pass
            which = _FIRST_SEVERAL - codes[several]
            bounds = self._several_starts.view()
            sizes = bounds[which + 1] - bounds[which]
            features = self._several_features.view()[spans(bounds[which], sizes)]
            codes = np.concatenate((codes, features))
            row = np.concatenate((row, np.repeat(row[several], sizes)))
        kernels = native.load()
        if kernels is not None:
            return TermMatrix(*kernels.row_counts(row, codes, n), self.n_features)
        keep = codes >= 0
        key, count = np.unique(row[keep] * self.n_features + codes[keep], return_counts=True)
        indptr = np.searchsorted(key, np.arange(n + 1) * self.n_features)
        return TermMatrix(count.astype(np.float64), (key % self.n_features).astype(np.int32), indptr, self.n_features)

    def feature(self, term: str) -> int:
        """The hashed feature of one term (``FeatureHasher``'s index, int32 minimum included)."""
        h = mmh3.hash(term.encode("utf-8", "surrogatepass"), 0)  # = sklearn's murmurhash3_32(term, seed=0)
        if h == -2147483648:
            return (2147483647 - (self.n_features - 1)) % self.n_features
        return abs(h) % self.n_features

    def _code(self, piece: bytes) -> int:
        """A piece's feature (lower-cased UTF-8 bytes between ASCII separators), or a negative
        code: no term in it, or several (their features join the list of such pieces)."""
        text = piece.decode("utf-8", "surrogatepass")
        terms = _terms(text)
        if not terms:
            return _NOT_A_TERM
        if len(terms) == 1 and terms[0] == text:
            return self.feature(text)
        self._several_features.extend(list(map(self.feature, terms)))
        self._several_starts.extend([self._several_features.size])
        return _FIRST_SEVERAL - (self._several_starts.size - 2)


def _terms(text: str) -> list[str]:
    """The terms of a lower-cased piece, as ``TOKEN_PATTERN`` and the stop words give them."""
    return [t for t in _WORD_RUNS.findall(text) if len(t) > 1 and t not in ENGLISH_STOP_WORDS]


class _Search(NamedTuple):
    """One document's run search: its blocks' Gram matrix and per-block arrays; ``score`` and
    ``flagged`` are filled in place."""

    gram: np.ndarray
    words: np.ndarray
    substantive: np.ndarray
    lead: np.ndarray
    candidate: np.ndarray
    score: np.ndarray
    flagged: np.ndarray


class OffTopicDetector:
    """Flags runs of blocks that are unrelated to the document's title, lead and article body.

    Parameters (all validated in :meth:`_validate`):
        threshold: run score at or above which a run is flagged (0 < t <= 1).
        window: fewest substantive blocks a flagged run holds: evidence is pooled over at least
            this many blocks, so a lone odd paragraph is never flagged.
        lead_words: the topic is the first blocks up to this many content words (the block that
            crosses the limit is included); the lead is never flagged.
        n_features: hashing space size (a power of two).
        full_sim: cosine a long on-topic run reaches with the rest of its article.
        half_words: run size, in content words, at which that expected cosine is halved.
        lead_weight: how many times the lead counts in the rest-of-article vector.
        short_words: blocks with fewer content words carry no evidence and take their
            neighbours' score.
        max_runs: most runs flagged in one document (further runs keep their score, unflagged).
        background: "default" (the shipped table), a path to such a JSON table, or None.
        background_weight: how many pseudo-blocks the background table counts for.
    """

    def __init__(
        self,
        threshold: float = 0.5,
        window: int = 2,
        lead_words: int = 60,
        n_features: int = 2**18,
        *,
        full_sim: float = 0.34,
        half_words: float = 60.0,
        lead_weight: float = 2.0,
        short_words: int = 5,
        max_runs: int = 8,
        background: str | Path | None = DEFAULT_BACKGROUND,
        background_weight: float = 2000.0,
    ):
        self.threshold = threshold
        self.window = window
        self.lead_words = lead_words
        self.n_features = n_features
        self.full_sim = full_sim
        self.half_words = half_words
        self.lead_weight = lead_weight
        self.short_words = short_words
        self.max_runs = max_runs
        self.background = background
        self.background_weight = background_weight
        self._validate()

        self._vectorizer = TermCounts(n_features)
        self._df = np.zeros(n_features, dtype=np.int64)  # blocks of the fitted dump holding a feature
        self._n_blocks = 0
        self._bg_df, self._bg_n = self._load_background()
        self._idf: np.ndarray | None = None  # cached; reset by partial_fit

    # ------------------------------------------------------------------ configuration
    def _validate(self) -> None:
        def number(name, value, low, high, low_open=False):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
                raise ConfigError(f"off-topic {name} must be a number, got {value!r}")
            if value < low or value > high or (low_open and value == low):
                side = "(" if low_open else "["
                raise ConfigError(f"off-topic {name} must be in {side}{low}, {high}], got {value!r}")

        def integer(name, value, low, high):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise ConfigError(f"off-topic {name} must be an integer, got {value!r}")
            if not low <= value <= high:
                raise ConfigError(f"off-topic {name} must be between {low} and {high}, got {value}")

        number("threshold", self.threshold, 0.0, 1.0, low_open=True)
        integer("window", self.window, 1, MAX_BLOCKS)
        integer("lead_words", self.lead_words, 1, 100_000)
        integer("n_features", self.n_features, 2**10, 2**26)
        number("full_sim", self.full_sim, 0.0, 1.0, low_open=True)
        number("half_words", self.half_words, 0.0, 1e6)
        number("lead_weight", self.lead_weight, 0.0, 1e3)
        integer("short_words", self.short_words, 1, 1000)
        integer("max_runs", self.max_runs, 0, MAX_BLOCKS)
        number("background_weight", self.background_weight, 0.0, 1e12)
        if self.n_features & (self.n_features - 1):
            raise ConfigError(f"off-topic n_features must be a power of two, got {self.n_features}")
        if self.background is not None and not isinstance(self.background, (str, Path)):
            raise ConfigError("off-topic background must be 'default', a path to a JSON table, or None")

    def _load_background(self) -> tuple[np.ndarray, float]:
        if self.background is None:
            return np.zeros(self.n_features), 0.0
        if str(self.background) == DEFAULT_BACKGROUND:
            source = resources.files("dedupe").joinpath("models", BACKGROUND_FILE)
            where = f"shipped {BACKGROUND_FILE}"
        else:
            source = Path(self.background)
            where = str(source)
        try:
            table = json.loads(source.read_text(encoding="utf-8"))
            if table.get("format") != BACKGROUND_FORMAT:
                raise ValueError(f"format is not {BACKGROUND_FORMAT!r}")
            n_blocks = float(table["n_blocks"])
            terms = [str(term) for term in table["df"]]
            counts = np.array([float(c) for c in table["df"].values()])
            if n_blocks <= 0 or (counts < 0).any() or (counts > n_blocks).any():
                raise ValueError("counts must lie between 0 and n_blocks")
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ConfigError(f"cannot read the off-topic background IDF table {where}: {exc}; "
                              "rebuild it with `python -m dedupe.offtopic`") from None
        # Hash the stored terms into this detector's feature space; colliding terms add up,
        # exactly as they do in the fitted counts.
        index = np.array([self._vectorizer.feature(term) for term in terms], dtype=np.int64)
        return np.bincount(index, weights=counts, minlength=self.n_features), n_blocks

    # ------------------------------------------------------------------ fitting
    def partial_fit(self, documents: Iterable[list[str]]) -> "OffTopicDetector":
        """Adds the block frequencies of ``documents`` (each a list of block texts) to the IDF."""
        for batch in chunked(documents, 256):
            self.add_frequencies(*self.block_frequencies(batch))
        return self

    def term_counts(self, documents: list[list[str]], lines: Lines | None = None) -> TermMatrix:
        """Hashed term counts of every block of ``documents`` (one row per block, in order):
        what :meth:`block_frequencies` and :meth:`analyse_many` start from. Depends only on the
        settings, so it can be computed once and handed to both (the cleaner keeps its first
        pass's counts for the second). ``lines``: every block of the documents as one
        :class:`~dedupe.normalising.Lines`, when the caller has it (so is its UTF-8)."""
        if lines is None:
            lines = [block for document in documents for block in _checked(document)]
        return self._vectorizer.count(lines)

    def block_frequencies(self, documents: list[list[str]], counts: TermMatrix | None = None
                          ) -> tuple[np.ndarray, int]:
        """The hashed features present in each block of ``documents`` (one entry per block and
        feature, concatenated) and the number of blocks: what :meth:`add_frequencies` needs.
        Depends only on the settings, so worker processes can compute it. ``counts``: the
        documents' :meth:`term_counts`, when already known."""
        if counts is None:
            counts = self.term_counts(documents)
        # The hasher's output is canonical (one entry per block and feature), so its stored
        # column indices count blocks per feature.
        return counts.indices, counts.shape[0]

    def add_frequencies(self, features: np.ndarray, n_blocks: int) -> "OffTopicDetector":
        """Adds block frequencies computed by :meth:`block_frequencies`."""
        if n_blocks:
            if len(features) * _SPARSE < self.n_features:  # a small batch: not a pass over every feature
                np.add.at(self._df, features, 1)
            else:
                self._df += np.bincount(features, minlength=self.n_features)
            self._n_blocks += n_blocks
            self._idf = None
        return self

    def fit(self, documents: Iterable[list[str]]) -> "OffTopicDetector":
        """Forgets earlier fits and learns the block frequencies of ``documents``."""
        return self.forget().partial_fit(documents)

    def forget(self) -> "OffTopicDetector":
        """Forgets the block frequencies fitted so far, as a new detector of the same settings
        would have none; keeps what depends on the settings alone (the background table, the
        features of the words seen), which a new one would build again."""
        self._df[:] = 0
        self._n_blocks = 0
        self._idf = None
        return self

    @property
    def idf(self) -> np.ndarray:
        """Blended smooth IDF, one value per hashed feature."""
        if self._idf is None:
            self._idf = self._blended_idf(slice(None))
        return self._idf

    def _idf_of(self, features: np.ndarray) -> np.ndarray:
        """``idf[features]``, worked out for those features alone while the IDF of every
        feature is not known and they are few: a batch of ten news articles holds some 10k of
        the 2^18, and the whole IDF was a quarter of cleaning it."""
        if self._idf is None and len(features) * _SPARSE < self.n_features:
            return self._blended_idf(features)
        return self.idf[features]

    def _blended_idf(self, features) -> np.ndarray:
        # elementwise: the IDF of some features is the very numbers of theirs in the whole
        k = self.background_weight if self._bg_n > 0 else 0.0
        df = self._df[features] + self._bg_df[features] * (k / self._bg_n if k else 0.0)
        return np.log((1.0 + self._n_blocks + k) / (1.0 + df)) + 1.0

    # ------------------------------------------------------------------ scoring
    def score(self, blocks: list[str]) -> np.ndarray:
        """Per-block off-topic score in [0, 1] (1 = unrelated to the article)."""
        return self.analyse(blocks)[0]

    def flags(self, blocks: list[str]) -> np.ndarray:
        """Per-block bool: the block lies in a flagged run (its score is >= threshold)."""
        return self.analyse(blocks)[1]

    def analyse(self, blocks: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """``(score, flags)`` in one pass, for callers that need both."""
        return self.analyse_many([blocks])[0]

    def analyse_many(self, documents: list[list[str]], counts: TermMatrix | None = None
                     ) -> list[tuple[np.ndarray, np.ndarray]]:
        """``(score, flags)`` of each document (a list of block texts), exactly as :meth:`analyse`
        gives them, for a chunk of documents at once (64-256 is a good size): every block is
        vectorised in one pass, the no-title and too-few-blocks exits are taken for the whole
        chunk together, and only the documents left get a Gram matrix and a run search.
        ``counts``: the documents' :meth:`term_counts`, when already known."""
        documents = [_checked(document) for document in documents]
        sizes = np.array([len(document) for document in documents], dtype=np.int64)
        if not sizes.sum():
            return [(np.zeros(n), np.zeros(n, dtype=bool)) for n in sizes]
        if counts is None:
            counts = self.term_counts(documents)
        elif counts.shape[0] != sizes.sum():
            raise InputError(f"counts has {counts.shape[0]} rows for {sizes.sum()} blocks")
        x, words = self._vectors(counts)
        starts = np.concatenate(([0], np.cumsum(sizes)))
        doc_of = np.repeat(np.arange(len(documents)), sizes)
        substantive = words >= self.short_words
        before = np.cumsum(words) - words          # words are whole numbers: the sums are exact
        lead = before - before[starts[doc_of]] < self.lead_words   # blocks that start before the limit
        candidate = substantive & ~lead
        n_docs = len(documents)
        n_lead = np.bincount(doc_of, weights=lead, minlength=n_docs)
        n_lead_sub = np.bincount(doc_of, weights=lead & substantive, minlength=n_docs)
        n_candidates = np.bincount(doc_of, weights=candidate, minlength=n_docs)
        first_substantive = np.zeros(n_docs, dtype=bool)
        first_substantive[sizes > 0] = substantive[starts[:-1][sizes > 0]]
        # No title, no topic; and fewer candidates than a run needs: nothing can be flagged and
        # every score stays 0, so these documents skip the Gram matrix and the run search.
        titled = first_substantive & (2 * n_lead_sub >= n_lead)
        searched = np.flatnonzero(titled & (n_candidates >= self.window) & (n_candidates <= MAX_BLOCKS))
        # The search reads the substantive blocks alone (a short one weighs 0 and is never a
        # candidate, and takes its neighbours' score after): their rows alone make the Gram
        # matrices, so a page of 60k table cells and 100 paragraphs is searched as the 100, not
        # on a 60k x 60k grid (29 GB: one such page stopped a whole run, out of memory).
        # Adding a zero to a sum changes nothing, so every number is the one the full matrix gives.
        rows = np.flatnonzero(np.repeat(np.isin(np.arange(n_docs), searched), sizes) & substantive)
        held = np.bincount(doc_of[rows], minlength=n_docs)[searched]
        first = np.concatenate(([0], np.cumsum(held)))
        score, flagged = np.zeros(len(words)), np.zeros(len(words), bool)
        x_held, all_substantive = x.rows(rows), np.ones(len(rows), bool)
        words_held, lead_held, candidate_held = words[rows], lead[rows], candidate[rows]
        kernels = native.load()
        for group in _under_budget(held, _GRAM_BUDGET):
            if kernels is not None:  # the whole search in one call: the same numbers, no Python per round
                got, got_flags = kernels.search_runs(x_held, first[group], held[group], words_held, all_substantive,
                                                     lead_held, candidate_held, self.lead_weight, self.window,
                                                     self.threshold, self.full_sim, self.half_words ** 2,
                                                     self.max_runs)
            else:
                got, got_flags = np.zeros(len(rows)), np.zeros(len(rows), bool)
                grams = _block_grams(x_held, first, group)
                self._search_many([_Search(gram, words_held[a:b], all_substantive[a:b], lead_held[a:b],
                                           candidate_held[a:b], got[a:b], got_flags[a:b])
                                   for gram, a, b in zip(grams, first[group].tolist(), first[group + 1].tolist())])
            span = spans(first[group], held[group])
            score[rows[span]], flagged[rows[span]] = got[span], got_flags[span]
        _spread_to_short_blocks_many(score, flagged, substantive, doc_of, rows)
        return [(score[a:b], flagged[a:b]) for a, b in zip(starts[:-1].tolist(), starts[1:].tolist())]

    def _search_many(self, documents: list["_Search"]) -> None:
        """Flags runs of each document, largest first, and fills its ``score``, in place. Each
        round searches every document still going at once (:meth:`_best_runs`); a document's
        own rounds are exactly those of searching it alone. The numpy search: with the compiled
        kernels, ``dd_search_runs`` does all of it in one call per group of documents (a test
        holds the two equal). Short blocks take their scores after, from
        :func:`_spread_to_short_blocks_many`."""
        weights = [np.where(doc.lead, self.lead_weight, 1.0) * doc.substantive for doc in documents]
        runs = [0] * len(documents)
        going = list(range(len(documents)))
        while going:
            active = [documents[d].candidate & ~documents[d].flagged for d in going]
            problems = [(documents[d].gram, weights[d], documents[d].words, a) for d, a in zip(going, active)]
            still = []
            for d, chosen, (run, run_score, block_best) in zip(going, active, self._best_runs(problems)):
                doc = documents[d]
                doc.score[chosen] = block_best
                if run is None or runs[d] == self.max_runs:
                    continue
                doc.flagged[run] = True
                doc.score[run] = run_score
                weights[d][run] = 0.0  # a flagged run no longer vouches for the rest
                runs[d] += 1
                still.append(d)
            going = still

    def _vectors(self, counts: TermMatrix) -> tuple[TermMatrix, np.ndarray]:
        """Row-normalised TF-IDF matrix of blocks given by their term counts, and each block's
        content-word count. Every step works row by row, so stacking documents changes no value.

        The numbers are bit for bit scipy's: ``x.sum(axis=1)`` and ``x.multiply(x).sum(axis=1)``
        reduce each row with ``np.add.reduceat`` in stored order, and ``diags(scale) @ x`` stores
        one product per entry, each row's entries in reverse order (its sparse product's linked
        list); the Gram matrices add their products in that order (a test compares them)."""
        data, indices, indptr = counts.data, counts.indices, counts.indptr
        n = counts.shape[0]
        lengths = np.diff(indptr)
        row = np.repeat(np.arange(n), lengths)
        filled = np.flatnonzero(lengths)
        weights = (1.0 + np.log(data)) * self._idf_of(indices)
        words, squares = np.zeros(n), np.zeros(n)
        if filled.size:
            words[filled] = np.add.reduceat(data, indptr[filled])
            squares[filled] = np.add.reduceat(weights * weights, indptr[filled])
        norms = np.sqrt(squares)
        scale = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
        reverse = indptr[1:][row] - 1 - (np.arange(len(data)) - indptr[:-1][row])
        return TermMatrix(scale[row] * weights[reverse], indices[reverse], indptr, counts.n_features), words

    def _best_runs(self, problems: list[tuple]) -> list[tuple]:
        """For each ``(gram, weight, words, active)``: the run to flag (block indices) or None,
        its score, and every active block's score (see the module docstring).

        Documents are searched in batches of like size, on arrays padded to a common size M:
        every number is the one a document's own (m+1) x (m+1) grid gives, as each step is
        elementwise, a cumulative sum or maximum along the document's own axes, or a product
        taken document by document; cells beyond m are masked out of every result."""
        results: list = [None] * len(problems)
        by_size: dict[int, list] = {}
        for k, (_, _, _, active) in enumerate(problems):
            idx = np.flatnonzero(active)
            if idx.size < self.window:
                results[k] = (None, 0.0, np.zeros(idx.size))
                continue
            padded = -(-idx.size // 8) * 8  # the next multiple of 8
            by_size.setdefault(padded, []).append((k, idx))
        for padded, members in by_size.items():
            per_batch = max(1, _BATCH_CELLS // (padded + 1) ** 2)
            for lo in range(0, len(members), per_batch):
                batch = members[lo:lo + per_batch]
                size = padded if len(batch) > 1 else batch[0][1].size  # alone: no padding
                found = self._best_runs_padded(size, [(problems[k], idx) for k, idx in batch])
                for (k, _), result in zip(batch, found):
                    results[k] = result
        return results

    def _best_runs_padded(self, size: int, batch: list[tuple]) -> list[tuple]:
        """:meth:`_best_runs` for documents of at most ``size`` active blocks, on (D, M+1, M+1)
        grids (M = ``size``): runs a..b-1 for 0 <= a < b <= m."""
        n_docs, top = len(batch), size + 1
        g = np.zeros((n_docs, size, size))
        to_total = np.zeros((n_docs, top))
        cw = np.zeros((n_docs, top))
        total2, words_on = np.zeros(n_docs), np.zeros(n_docs)
        m = np.zeros(n_docs, np.int64)
        for d, ((gram, weight, words, _), idx) in enumerate(batch):
            k = m[d] = idx.size
            g[d, :k, :k], to_total[d, 1:k + 1], total2[d], cw[d, 1:k + 1], words_on[d] = _run_sums(gram, weight, words, idx)
        p = np.zeros((n_docs, top, top))
        p[:, 1:, 1:] = g.cumsum(1).cumsum(2)
        grid = np.arange(top)
        p_diag = p[:, grid, grid]
        a = grid[None, :, None]
        b = grid[None, None, :]
        rr = np.maximum(p_diag[:, None, :] - p - p.transpose(0, 2, 1) + p_diag[:, :, None], 0.0)   # R.R
        rt = to_total[:, None, :] - to_total[:, :, None]                                         # R.T
        qq = np.maximum(total2[:, None, None] - 2 * rt + rr, 0.0)                                 # Q.Q, Q = T - R
        denom = np.sqrt(rr * qq)
        cos = np.divide(rt - rr, denom, out=np.zeros_like(denom), where=denom > 1e-12)
        w = cw[:, None, :] - cw[:, :, None]
        w_rest = np.maximum(words_on[:, None, None] - w, 0.0)
        w_eff = np.divide(w * w_rest, w + w_rest, out=np.zeros_like(w), where=w + w_rest > 0)
        expected = self.full_sim * w_eff**2 / (w_eff**2 + self.half_words**2 + 1e-12)
        ratio = np.divide(cos, expected, out=np.ones_like(cos), where=expected > 0)
        valid = ((b - a >= self.window) & (b <= m[:, None, None]) & (denom > 1e-12)
                 & _edges_belong(g, rr, qq, to_total))
        run_score = np.where(valid, 1.0 - np.clip(ratio, 0.0, 1.0), -1.0)
        # A block's score is the best score of any run holding it: max over a <= i < b.
        best_to_end = np.maximum.accumulate(run_score[:, :, ::-1], axis=2)[:, :, ::-1]
        block_best = np.clip(np.maximum.accumulate(best_to_end[:, :size, 1:], axis=1)[:, grid[:-1], grid[:-1]], 0, 1)
        # The largest qualifying run goes, so a pasted story is flagged whole, not piecemeal;
        # the first in row-major order on ties (padding cells are -1, never the first maximum).
        largest = np.where(run_score >= self.threshold, w + 1e-6 * run_score, -1.0).reshape(n_docs, -1)
        pick = largest.argmax(axis=1)
        out = []
        for d, (_, idx) in enumerate(batch):
            start, end = divmod(int(pick[d]), top)
            best = block_best[d, :m[d]].copy()
            if largest[d, pick[d]] < 0:
                out.append((None, 0.0, best))
            else:
                out.append((idx[start:end], float(run_score[d, start, end]), best))
        return out


def _run_sums(gram: np.ndarray, weight: np.ndarray, words: np.ndarray, idx: np.ndarray) -> tuple:
    """What the run search of a document needs of its active blocks ``idx``: their Gram matrix,
    the running sums of their products with the article vector T and of their words, T.T, and
    the article's words.

    Every sum is taken in order (``cumsum``), never by a matrix product: BLAS adds in an order of
    its own, which differs between processors, and the compiled search (``dd_search_runs``)
    must give the same numbers: ``t = gram @ weight`` row by row, ``T.T = t . weight``."""
    t = np.cumsum(gram * weight, axis=1)[:, -1]
    return (gram[np.ix_(idx, idx)], np.cumsum(t[idx]), np.cumsum(t * weight)[-1], np.cumsum(words[idx]),
            words @ (weight > 0))  # whole numbers: exact in any order


def _edges_belong(g, rr, qq, to_total) -> np.ndarray:
    """(D, M+1, M+1) mask: both edge blocks of run a..b-1 are closer to the rest of the run than
    to the article (cosines), so the run has not swallowed article text at its edges."""
    n_docs, size = g.shape[0], g.shape[1]
    row_cum = np.zeros((n_docs, size, size + 1))
    row_cum[:, :, 1:] = g.cumsum(2)
    diag = g[:, np.arange(size), np.arange(size)]
    to_t = to_total[:, 1:] - to_total[:, :-1]                           # x_i . T
    first = np.broadcast_to(np.arange(size)[:, None], (size, size + 1))  # a
    ends = np.broadcast_to(np.arange(size + 1)[None, :], (size, size + 1))  # b
    last = np.clip(ends - 1, 0, size - 1)                               # b - 1
    ok = np.zeros((n_docs, size + 1, size + 1), dtype=bool)
    ok[:, :size] = True
    for e in (first, last):
        to_run = row_cum[:, e, ends] - row_cum[:, e, first]             # x_e . R
        own = diag[:, e]
        cos_run = (to_run - own) / np.sqrt(np.maximum(rr[:, :size] - 2 * to_run + own, 1e-12))
        cos_rest = (to_t[:, e] - to_run) / np.sqrt(np.maximum(qq[:, :size], 1e-12))
        ok[:, :size] &= cos_run >= cos_rest
    return ok


# cells of the (D, M+1, M+1) grids searched at once (about 1 MB an array)
_BATCH_CELLS = 1 << 17
_GRAM_BUDGET = 1 << 22  # cells of the Gram matrices built at once (32 MB), and the grids of the search


def _block_grams(x: TermMatrix, starts: np.ndarray, docs: np.ndarray) -> list[np.ndarray]:
    """Dense Gram matrix ``x_d @ x_d.T`` of each document ``d`` in ``docs`` (rows
    ``starts[d]:starts[d+1]`` of ``x``), bit for bit what scipy's sparse product gives: the entry
    (i, j) adds the products x_if * x_jf one by one, from 0, in the stored order of row i."""
    if docs.size == 0:
        return []
    kernels = native.load()
    if kernels is not None:
        return kernels.doc_grams(x.data, x.indices, x.indptr, starts[docs], starts[docs + 1] - starts[docs])
    n = starts[docs + 1] - starts[docs]
    lo, hi = x.indptr[starts[docs]], x.indptr[starts[docs + 1]]
    # The stored entries of the chosen documents, in stored order.
    counts = hi - lo
    entry = spans(lo, counts)
    doc = np.repeat(np.arange(docs.size), counts)
    row = np.searchsorted(x.indptr, entry, side="right") - 1 - np.repeat(starts[docs], counts)
    feature = x.indices[entry].astype(np.int64)
    value = x.data[entry]
    # Entries sharing a document and a feature form a group; every pair in a group is a product.
    order = np.argsort(doc * x.shape[1] + feature, kind="stable")
    key = (doc * x.shape[1] + feature)[order]
    new_group = np.concatenate(([True], key[1:] != key[:-1]))
    group_start = np.flatnonzero(new_group)
    group_size = np.diff(np.concatenate((group_start, [key.size])))
    group = np.empty(key.size, dtype=np.int64)
    group[order] = np.cumsum(new_group) - 1
    size = group_size[group]
    i = np.repeat(np.arange(key.size), size)              # entry (i, f), in stored order
    offset = np.arange(size.sum()) - np.repeat(np.cumsum(size) - size, size)
    j = order[np.repeat(group_start[group], size) + offset]  # entry (j, f), same document
    cells = n * n
    base = np.concatenate(([0], np.cumsum(cells)))
    flat = np.bincount(base[doc[i]] + row[i] * n[doc[i]] + row[j], weights=value[i] * value[j],
                       minlength=base[-1])
    return [flat[base[k]:base[k + 1]].reshape(n[k], n[k]).copy() for k in range(docs.size)]


def _under_budget(sizes: np.ndarray, budget: int) -> Iterator[np.ndarray]:
    """Consecutive groups of the documents (positions into ``sizes``) whose Gram matrices
    (``size ** 2`` cells each) hold at most ``budget`` cells together; a larger one alone."""
    cells = sizes.astype(np.int64) ** 2
    lo = 0
    while lo < len(sizes):
        hi = lo + max(1, int(np.searchsorted(np.cumsum(cells[lo:]), budget, side="right")))
        yield np.arange(lo, hi)
        lo = hi


def _spread_to_short_blocks_many(score: np.ndarray, flagged: np.ndarray, substantive: np.ndarray,
                                 doc_of: np.ndarray, searched: np.ndarray) -> None:
    """Short blocks take the lower score of their nearest substantive neighbours, in place, and
    are flagged only between (or beyond) flagged blocks, in every document whose substantive
    blocks are the (ascending) positions ``searched`` of the stacked blocks (``doc_of`` their
    documents)."""
    if not searched.size:
        return
    docs = np.unique(doc_of[searched])
    short = np.flatnonzero(np.isin(doc_of, docs) & ~substantive)
    if not short.size:
        return
    pos = np.searchsorted(searched, short)
    before = searched[np.clip(pos - 1, 0, searched.size - 1)]
    after = searched[np.clip(pos, 0, searched.size - 1)]
    has_before = (pos > 0) & (doc_of[before] == doc_of[short])
    has_after = (pos < searched.size) & (doc_of[after] == doc_of[short])
    before = np.where(has_before, before, after)  # (a searched document holds substantive blocks)
    after = np.where(has_after, after, before)
    score[short] = np.minimum(score[before], score[after])
    flagged[short] = flagged[before] & flagged[after]


def _checked(blocks) -> list[str]:
    if isinstance(blocks, str) or not isinstance(blocks, (list, tuple)):
        raise InputError(f"a document must be a list of block strings, got {type(blocks).__name__}")
    # the set of types first: no Python call per block (subclasses of str take the long way)
    if not set(map(type, blocks)) <= {str} and not all(isinstance(b, str) for b in blocks):
        raise InputError("every block of a document must be a string")
    return list(blocks)


# ---------------------------------------------------------------------- background table
def build_background(documents: Iterable[list[str]], path: str | Path, *, min_df: int = 2,
                     source: str = "") -> dict:
    """Counts, for every term, the blocks of ``documents`` that hold it, and writes the table.

    Terms are stored as text (not hashed), so the table serves any ``n_features``. Terms in fewer
    than ``min_df`` blocks are left out to keep the file small; ``n_blocks`` still counts every
    block, so a missing term simply reads as rare. Returns the table.

        >>> import tempfile, os
        >>> out = os.path.join(tempfile.mkdtemp(), "bg.json")
        >>> build_background([["Iran drones", "Iran sanctions"]], out)["df"]
        {'iran': 2}
        >>> import shutil; shutil.rmtree(os.path.dirname(out))
    """
    if isinstance(min_df, bool) or not isinstance(min_df, int) or min_df < 1:
        raise ConfigError(f"min_df must be a positive integer, got {min_df!r}")
    from sklearn.feature_extraction.text import HashingVectorizer  # offline tool: import it here

    analyze = HashingVectorizer(**_analyzer_settings()).build_analyzer()
    df: dict[str, int] = {}
    n_blocks = 0
    for document in documents:
        for block in _checked(document):
            n_blocks += 1
            for term in set(analyze(block)):
                df[term] = df.get(term, 0) + 1
    kept = {t: c for t, c in sorted(df.items(), key=lambda tc: (-tc[1], tc[0])) if c >= min_df}
    table = {"format": BACKGROUND_FORMAT, "source": source, "n_blocks": n_blocks,
             "min_df": min_df, "df": kept}
    try:
        Path(path).write_text(json.dumps(table, ensure_ascii=False, separators=(",", ":")) + "\n",
                              encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write the background table to {path}: {exc}") from None
    return table


def _background_documents(eval_jsonl: Path, seeds_dir: Path) -> Iterator[list[str]]:
    """The content paragraphs of each labelled page, then the non-empty lines of each seed."""
    with open(eval_jsonl, encoding="utf-8") as handle:
        for line in handle:
            page = json.loads(line)
            yield [p["text"] for p in page["paragraphs"] if p["label"] == "content"]
    for seed in sorted(seeds_dir.glob("*.txt")):
        yield [ln for ln in seed.read_text(encoding="utf-8").splitlines() if ln.strip()]


def main(argv: list[str]) -> int:
    """``python -m dedupe.offtopic EVAL_JSONL SEEDS_DIR [OUT_JSON]`` rebuilds the shipped table."""
    if len(argv) not in (2, 3):
        print("usage: python -m dedupe.offtopic EVAL_JSONL SEEDS_DIR [OUT_JSON]", file=sys.stderr)
        return 2
    out = Path(argv[2]) if len(argv) == 3 else Path(__file__).parent / "models" / BACKGROUND_FILE
    try:
        built = build_background(_background_documents(Path(argv[0]), Path(argv[1])), out,
                                 source="aeb.dev.jsonl content paragraphs + seeds/*.txt lines")
    except (OSError, ValueError, KeyError, TypeError, DedupeError) as exc:
        print(f"cannot build the background table: {exc}", file=sys.stderr)
        return 2
    print(f"{out}: {len(built['df'])} terms over {built['n_blocks']} blocks")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
