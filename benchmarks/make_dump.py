"""Generate a large, reproducible JSONL news dump with a recorded truth of injected duplicates.

    python benchmarks/make_dump.py --docs 10000 --out benchmarks/data/d10k [--seed 0]
    python benchmarks/make_dump.py --measure-similarity 20000      # base-paragraph check only

writes

- ``DIR/dump.jsonl``: one document a line, ``{"id": "doc-000000042", "source": "site-07.example",
  "text": "..."}``, the text being the document's lines joined by "\\n" (no empty lines, so line i is
  block i);
- ``DIR/truth.jsonl``: one line per injected copy (see ``benchmarks/truth.py`` for the format and
  for scoring a method against it);
- ``DIR/meta.json``: parameters, corpus digest, counts per kind, paragraph and block counts and
  the word-count distribution of base paragraphs.

Same arguments give byte-identical files (nothing time- or path-dependent is written).

How the text is made
--------------------
Base paragraphs are *new* text: an order-2 word Markov chain trained on the content paragraphs of
``aeb.dev.jsonl`` and the lines of the seed articles (English pages only: ~2k paragraphs, ~68k
words).  That corpus is small, so an order-2 chain alone would mostly replay it verbatim and two
generated paragraphs would share long runs.  Three cheap devices keep base paragraphs pairwise
dissimilar:

- back-off: at each word, with probability ``backoff`` the next word is drawn from the order-1
  distribution (any successor of the last word), which branches widely after common words;
- run limit: after ``max_run`` words in a row each chosen with probability > 1/3 (the chain is
  replaying a rare stretch of the corpus: names, lists, credits), jump to a sentence start;
- substitution: with probability ``substitute`` an emitted content word (4+ letters, 59% of
  words) is replaced by a uniformly drawn vocabulary word of the same shape (script,
  capitalisation, trailing punctuation); the chain state is kept, so grammar degrades only
  locally.

If two paragraphs follow the same source run, a 5-gram survives in both only when none of its
five words was substituted in either: (1 - 0.59 * 0.12)^10 = 0.48, which caps their Jaccard
near 0.48 / (2 - 0.48) = 0.32 even before back-off and the run limit break the runs.  The text
is word salad with news vocabulary; it is meant for dedupe, not for reading.  Non-English pages
and URL-like tokens are left out of training (see :func:`load_corpus`, :func:`_plain`).
Measured with ``--measure-similarity`` (MinHashLSH candidates, exact Jaccard): no pair of base
paragraphs at 0.3 or above among 20k or 60k (1.8e9 pairs; max 0.22 and 0.29).

Everything is vectorised: a batch of paragraphs (sorted by length, so that the still-growing rows
are a prefix) advances one word per numpy step through CSR transition tables; word ids become
text through an object-array gather and one str.join per paragraph.  Python touches each
paragraph a few times, never each word (1M documents, ~20M paragraphs: about 5 minutes).

Injected copies (rates per body paragraph / document)
-----------------------------------------------------
- exact (``--exact-rate``): a base paragraph of an earlier document (uniform over the dump so far,
  through a reservoir sample of ``pool_paragraphs``) or an earlier block of the same document;
- near (``--near-rate``): the same, lightly edited (see :class:`NearEditor`), normalised word
  5-gram Jaccard >= 0.8 guaranteed and recorded;
- syndicated (``--syndicated-rate``): the whole body of an earlier document (reservoir of
  ``pool_docs``) under a new id and another site, one paragraph near-edited half of the time;
- template: each of 50 sites has a few prefix/suffix site lines built from ``PREFIX_LINES`` /
  ``SUFFIX_LINES``; every occurrence of a line after its first in the dump is a truth line.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import math
import os
import random
import re
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from truth import normalise_for_truth, shingles  # noqa: E402

from dedupe.errors import ConfigError, DedupeError, InputError, OutputError

_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_EVAL = _ROOT.parent / "shared" / "eval" / "aeb.dev.jsonl"  # shared/ beside the checkout
DEFAULT_SEEDS = _ROOT / "seeds"
FORMAT_VERSION = 1

# ----------------------------------------------------------------------------------------------
# Source corpus

_STOPWORDS = frozenset("the a an and of to in is are was were that for on it with as by at from "
                       "this be has have had he she they said but not".split())


def _english(paragraphs: list[str]) -> bool:
    """Whether a page reads as English (stop words >= 15% of its words).

    Non-English pages are left out: each is a small island of the chain with few repeated
    words, so generated text would replay it nearly verbatim and paragraphs would look alike.
    """
    words = [w.lower().strip(".,;:!?\"'()") for p in paragraphs for w in p.split()]
    return bool(words) and sum(w in _STOPWORDS for w in words) >= 0.15 * len(words)


def _latin(paragraph: str) -> bool:
    """At least 90% of the letters are ASCII (drops stray non-Latin lines on English pages)."""
    letters = [c for c in paragraph if c.isalpha()]
    return sum(c.isascii() for c in letters) >= 0.9 * len(letters)


def load_corpus(eval_path: Path, seeds_dir: Path) -> list[str]:
    """Distinct source paragraphs: aeb "content" paragraphs, then the seeds' non-empty lines.

    Whitespace is collapsed to single spaces (tokens are whitespace-free, so no generated line can
    contain a line break of any kind).
    """
    paragraphs: list[str] = []
    try:
        with open(eval_path, encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    page = json.loads(line)
                    content = [p["text"] for p in page["paragraphs"]
                               if p.get("label") == "content"]
                except (ValueError, KeyError, TypeError) as exc:
                    raise InputError(f"not an aeb page ({exc!r}); pass --eval with the "
                                     "labelled aeb JSONL", f"{eval_path}:{n}") from None
                if _english(content):
                    paragraphs += content
    except OSError as exc:
        raise InputError(f"cannot read the labelled corpus ({exc.strerror}); pass --eval PATH",
                         str(eval_path)) from None
    except UnicodeDecodeError:
        raise InputError("the labelled corpus is not UTF-8; pass --eval with the aeb JSONL",
                         str(eval_path)) from None
    seed_files = sorted(Path(seeds_dir).glob("*.txt")) if Path(seeds_dir).is_dir() else []
    if not seed_files:
        raise InputError("no seed articles (*.txt) found; pass --seeds DIR", str(seeds_dir))
    for path in seed_files:
        try:
            paragraphs += path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot read seed article ({exc})", str(path)) from None
    cleaned = (" ".join(p.encode("utf-8", "replace").decode("utf-8").split()) for p in paragraphs)
    distinct = list(dict.fromkeys(p for p in cleaned if p and _latin(p)))
    if sum(len(p.split()) for p in distinct) < 1000:
        raise InputError("the source corpus has fewer than 1000 words; too little to train on",
                         str(eval_path))
    return distinct


# ----------------------------------------------------------------------------------------------
# Markov text

_SENTENCE_END = re.compile(r"[.!?][\"'\u201d\u2019)\]]*$")
_ABBREVIATION = re.compile(r"^(?:[A-Z][a-z]{0,3}\.|(?:[A-Za-z]\.){2,})$")  # Mr. Jan. U.S.
_TRAILING = re.compile(r"[^\w]*$")


def _shape(token: str) -> tuple | None:
    """Substitution class of a token, or None when it must not be substituted (short/odd)."""
    trail = _TRAILING.search(token).group()
    core = token[:len(token) - len(trail)]
    if len(core) < 4 or not core.isalpha():
        return None
    return (core.isascii(), core[0].isupper(), trail)


def _plain(token: str) -> bool:
    """Not a URL, e-mail, handle or long compound: one such token becomes many normalised words
    (``https://www.x.com/a-b-c`` -> 8), so a shared one would weigh like a shared sentence."""
    return ("http" not in token and "www." not in token and "@" not in token
            and (token.isalnum() or len(normalise_for_truth(token)) <= 3))


class MarkovText:
    """Order-2 word Markov chain with order-1 back-off and shape-preserving substitution.

    The training paragraphs are concatenated into one circular token stream S.  A state is a
    bigram (S[i], S[i+1]); its successors are the states at i+1 for every i where it occurs
    (frequency-weighted by repetition), and its back-off successors are the states starting at
    every occurrence of its last word.  All tables are CSR arrays:
    ``succ2[start2[s] : start2[s] + count2[s]]``.  Paragraphs start at a state whose first word
    ends a sentence and whose second is capitalised, so they open like sentences.

    >>> m = MarkovText(["One fish two fish. Red fish blue fish. Old fish new fish."] * 3)
    >>> texts, words = m.generate(np.random.default_rng(0), 2, lengths=np.array([8, 8]))
    >>> [len(t.split()) for t in texts] == list(words)
    True
    """

    def __init__(self, paragraphs: list[str], backoff: float = 0.45, substitute: float = 0.12,
                 max_run: int = 6, min_words: int = 20, max_words: int = 150):
        self.backoff, self.substitute, self.max_run = backoff, substitute, max_run
        self.min_words, self.max_words = min_words, max_words
        vocab: dict[str, int] = {}
        stream: list[int] = []
        lengths = []
        for p in paragraphs:
            toks = [t for t in p.split() if _plain(t)]
            stream += [vocab.setdefault(t, len(vocab)) for t in toks]
            lengths.append(len(toks))
        words = list(vocab)
        self.words = words
        V, S = len(words), np.asarray(stream, dtype=np.int64)
        N = len(S)
        nxt = np.roll(S, -1)
        keys, state_of = np.unique(S * V + nxt, return_inverse=True)
        state_of = state_of.astype(np.int32)
        self.emit = (keys % V).astype(np.int32)            # the word a state emits (its 2nd)
        order2 = np.argsort(state_of, kind="stable")
        self.succ2 = state_of[(order2 + 1) % N]
        self.count2 = np.bincount(state_of, minlength=len(keys))
        self.start2 = np.cumsum(self.count2) - self.count2
        order1 = np.argsort(S, kind="stable")
        self.succ1 = state_of[order1]
        self.count1 = np.bincount(S, minlength=V)
        self.start1 = np.cumsum(self.count1) - self.count1

        self.is_end = np.array([bool(_SENTENCE_END.search(w)) and not _ABBREVIATION.match(w)
                                for w in words])
        opens = np.array([w[0].isupper() or w[0] in "\"'\u201c\u2018" for w in words])
        starts = state_of[self.is_end[S] & opens[nxt]]
        self.starts = starts if len(starts) else state_of

        shapes = [_shape(w) for w in words]
        classes: dict[tuple, list[int]] = {}
        for i, sh in enumerate(shapes):
            if sh is not None:
                classes.setdefault(sh, []).append(i)
        self.sub_class = np.full(V, -1, dtype=np.int32)
        members, cstart, ccount = [], [], []
        for c, ids in enumerate(classes.values()):
            self.sub_class[ids] = c
            cstart.append(len(members))
            ccount.append(len(ids))
            members += ids
        self.class_members = np.asarray(members, dtype=np.int32)
        self.class_start = np.asarray(cstart, dtype=np.int64)
        self.class_count = np.asarray(ccount, dtype=np.int64)

        # One gather per step: the table holds, per state, (start, count) of its order-2
        # successors then (start, count) of its back-off successors, both into ``succ``.
        start1_of_state = self.start1[self.emit] + len(self.succ2)
        self.table = np.stack([self.start2, self.count2, start1_of_state,
                               self.count1[self.emit]], axis=1).astype(np.int64).ravel()
        self.succ = np.concatenate([self.succ2, self.succ1]).astype(np.int32)
        # How often each entry's successor occurs in its own list: the chosen successor had
        # probability share[i] / count, which tells a real choice from a replay.
        segment = np.repeat(np.arange(len(keys) + V), np.concatenate([self.count2, self.count1]))
        pair = segment.astype(np.int64) * (len(keys) + 1) + self.succ
        _, inverse, multiplicity = np.unique(pair, return_inverse=True, return_counts=True)
        self.share = multiplicity[inverse].astype(np.int64)
        self.end_state = self.is_end[self.emit]
        self.word_obj = np.array(words, dtype=object)

        lens = np.asarray(lengths)
        self.lengths = lens[(lens >= min_words) & (lens <= max_words)]
        if len(self.lengths) == 0:
            self.lengths = np.arange(min_words, max_words + 1)
        self.n_tokens, self.n_states = N, len(keys)

    def generate(self, rng: np.random.Generator, n: int, lengths: np.ndarray | None = None
                 ) -> tuple[list[str], np.ndarray]:
        """``n`` new paragraphs and their word counts.

        Target lengths are drawn from the corpus's paragraph lengths in [min_words, max_words]
        (or given); a paragraph is grown to target + 12 words (capped at max_words) and cut after
        its last sentence end in [0.7 * target, target + 12], else at the target (mid-sentence).

        Each step draws one 64-bit word per growing paragraph: the low 32 bits decide back-off
        (``< backoff * 2^32``), the high 32 bits pick the successor as ``(hi * count) >> 32``,
        an exact uniform choice up to 2^-32 bias.
        """
        target = rng.choice(self.lengths, size=n) if lengths is None else np.asarray(lengths)
        grow = np.minimum(target + 12, max(self.max_words, int(target.max())))
        order = np.argsort(-grow, kind="stable")
        g_sorted, t_sorted = grow[order], target[order]
        width = int(g_sorted[0])
        ascending = g_sorted[::-1]
        lo = (np.maximum(np.ceil(0.7 * t_sorted), min(self.min_words, t_sorted.min())) - 1)
        last_end = np.full(n, -1, dtype=np.int64)
        run = np.zeros(n, dtype=np.int64)    # likely (p > 1/3) choices in a row
        toks = np.empty((width, n), dtype=np.int32)   # row t = word t of every paragraph
        state = self.starts[rng.integers(len(self.starts), size=n)].astype(np.int64)
        toks[0] = self.emit[state]
        bits = rng.bit_generator
        threshold = np.uint64(int(self.backoff * 2**32))
        low, shift = np.uint64(0xFFFFFFFF), np.uint64(32)
        table, succ, share, end_state = self.table, self.succ, self.share, self.end_state
        for t in range(1, width):
            m = n - int(np.searchsorted(ascending, t, side="right"))  # rows still growing
            r = bits.random_raw(m)
            row = state[:m] * 4 + ((r & low) < threshold) * 2
            count = table[row + 1]
            pick = ((r >> shift) * count.view(np.uint64)) >> shift
            entry = table[row] + pick.view(np.int64)
            new = succ[entry]
            # A run of likely (p > 1/3) choices replays the corpus; past max_run words of it,
            # jump to a sentence start instead.
            run_m = np.where(share[entry] * 3 <= count, 0, run[:m] + 1)
            jump = run_m > self.max_run
            if jump.any():
                new[jump] = self.starts[rng.integers(len(self.starts), size=int(jump.sum()))]
                run_m[jump] = 0
            run[:m] = run_m
            state[:m] = new
            toks[t, :m] = self.emit[new]
            ended = end_state[new] & (lo[:m] <= t)
            last_end[:m][ended] = t
        final = np.where(last_end >= 0, last_end + 1, np.minimum(t_sorted, g_sorted))
        first = np.cumsum(final) - final
        total = int(final.sum())
        # word k of sorted paragraph r lives at toks[k, r] = flat[k * n + r]
        pos = np.arange(total, dtype=np.int64) - np.repeat(first, final)
        ids = toks.ravel()[pos * n + np.repeat(np.arange(n, dtype=np.int64), final)]
        if self.substitute > 0:
            cls = self.sub_class[ids]
            swap = (cls >= 0) & (rng.random(total) < self.substitute)
            c = cls[swap]
            pick = (rng.random(len(c)) * self.class_count[c]).astype(np.int64)
            ids[swap] = self.class_members[self.class_start[c] + pick]
        words = self.word_obj[ids].tolist()
        rows = [" ".join(words[a:b]) for a, b in zip(first.tolist(), (first + final).tolist())]
        # rows are sorted by length; hand them back in draw order (an iid order)
        texts: list = [None] * n
        for r_, i in enumerate(order.tolist()):
            texts[i] = rows[r_]
        counts = np.empty(n, dtype=np.int64)
        counts[order] = final
        return texts, counts


class ParagraphStream:
    """Hands out generated base paragraphs one at a time, generating ``batch`` at once."""

    def __init__(self, markov: MarkovText, rng: np.random.Generator, batch: int = 20000):
        self.markov, self.rng, self.batch = markov, rng, batch
        self._texts: list[str] = []
        self._words: list[int] = []
        self._i = 0

    def take(self) -> tuple[str, int]:
        if self._i == len(self._texts):
            texts, words = self.markov.generate(self.rng, self.batch)
            self._texts, self._words, self._i = texts, words.tolist(), 0
        self._i += 1
        return self._texts[self._i - 1], self._words[self._i - 1]


# ----------------------------------------------------------------------------------------------
# Near-duplicate edits

_OUR = ("colour favour labour honour neighbour behaviour humour rumour vigour harbour flavour "
        "endeavour savour armour parlour valour").split()
_ISE = ("organi recogni reali critici apologi priorit authori mobili stabili minimi maximi "
        "characteri summari privati moderni normali legali finali utili categori capitali "
        "centrali civili hospitali jeopardi memori optimi sympathi symboli speciali subsidi "
        "standardi visuali emphasi penali neutrali globali industriali").split()
_SPELLINGS: dict[str, str] = {}   # lower-case word -> its other spelling, both directions
for _stem in _ISE:
    for _suffix in ("e", "es", "ed", "ing", "ation", "ations", "er", "ers"):
        _SPELLINGS[_stem + "s" + _suffix] = _stem + "z" + _suffix
for _word in _OUR:
    for _suffix in ("", "s", "ed", "ing", "ful", "less", "able", "ite", "ites", "ers"):
        _SPELLINGS[_word + _suffix] = _word[:-3] + "or" + _suffix
_SPELLINGS.update({v: k for k, v in list(_SPELLINGS.items())})
_EDGE_PUNCT = "\"'()[]{}.,;:!?\u2018\u2019\u201c\u201d\u2014\u2013-"
_INSERTS = "also now still reportedly however already just even recently officially".split()
_TO_STRAIGHT = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'})
_DASH_CHARS = "-\u2013\u2014"


class NearEditor:
    """Light edits that keep the normalised word 5-gram Jaccard with the original >= ``floor``.

    Cosmetic edits (1-2 of: straight<->curly quotes, dash variants, punctuation changes, case
    changes) leave :func:`normalise_for_truth` tokens unchanged.  Word edits (substitution,
    insertion, deletion, British<->American spelling) are drawn 1-3 for paragraphs of
    ``word_edit_min`` (40) words or more, else at most a spelling variant; if the result falls
    below ``floor`` the last word edit is dropped and the check repeated, so the bound holds by
    construction.  A change of one word in the middle of an n-word text replaces 5 of its n-4
    shingles: J = (n-9)/(n+1), 0.8 needs n >= 49, so short paragraphs mostly keep 0-1 word edits.

    >>> ed = NearEditor(["alpha", "beta"])
    >>> text = " ".join(f"w{i}" for i in range(60)) + "."
    >>> new, j = ed.edit(text, random.Random(1))
    >>> new != text and j >= 0.8
    True
    """

    def __init__(self, words: list[str], floor: float = 0.8, word_edit_min: int = 40):
        self.words = words
        self.floor, self.word_edit_min = floor, word_edit_min
        self._cache: dict[str, list[str]] = {}

    def edit(self, text: str, rnd: random.Random) -> tuple[str, float]:
        """Edited copy of ``text`` and its true normalised 5-gram Jaccard with ``text``."""
        tokens = text.split(" ")
        ops = []
        if len(tokens) >= self.word_edit_min:
            for _ in range(rnd.randint(1, 3)):
                ops.append((rnd.choice(("sub", "sub", "ins", "del", "spell")), rnd.random(),
                            rnd.choice(self.words) if rnd.random() < 0.7 else
                            rnd.choice(_INSERTS)))
        elif rnd.random() < 0.5:
            ops.append(("spell", rnd.random(), ""))
        cosmetic = rnd.sample(("quotes", "dashes", "punct", "case"), rnd.randint(1, 2))
        cos_seed = rnd.random()
        # Fall back from all word edits to none; before dropping an edit, try it at an edge of
        # the paragraph, where it touches one or two shingles instead of five.
        attempts = []
        for k in range(len(ops), 0, -1):
            attempts.append(ops[:k])
            op, where, word = ops[k - 1]
            attempts.append(ops[:k - 1] + [(op, 0.0 if where < 0.5 else 0.9999, word)])
        attempts.append([])
        original = shingles(normalise_for_truth(text))
        quick_original = None

        def similarity(candidate: str) -> float:
            s = shingles(normalise_for_truth(candidate))
            return len(original & s) / len(original | s)

        for attempt in attempts:
            toks = self._word_edits(list(tokens), attempt)
            # Cosmetic edits leave the normalised words alone, so the word edits are checked
            # first, on cached per-token normalisation (equal to the whole-text one but for
            # exotic NFKC cases; the recorded value below is always the exact one).
            if attempt:
                if quick_original is None:
                    quick_original = shingles(self._words(tokens))
                quick = shingles(self._words(toks))
                if len(quick & quick_original) < self.floor * len(quick | quick_original):
                    continue
            new = self._cosmetic(toks, cosmetic, random.Random(cos_seed))
            if new == text:   # e.g. a case change on "2018": a punctuation edit always shows
                new = self._cosmetic(toks, ["punct"], random.Random(cos_seed))
            j = similarity(new)
            if j >= self.floor or not attempt:
                return new, j
        raise AssertionError("unreachable: the last attempt has no word edit")

    def _words(self, toks: list[str]) -> list[str]:
        """normalise_for_truth(" ".join(toks)), token by token through a cache."""
        cache = self._cache
        if len(cache) > 500_000:
            cache.clear()
        out: list[str] = []
        for t in toks:
            w = cache.get(t)
            if w is None:
                w = cache[t] = normalise_for_truth(t)
            out += w
        return out

    @staticmethod
    def _word_edits(toks: list[str], ops: list[tuple]) -> list[str]:
        for op, where, word in ops:
            i = min(int(where * len(toks)), len(toks) - 1)
            if op == "sub":
                trail = _TRAILING.search(toks[i]).group()
                toks[i] = word + trail
            elif op == "ins":
                toks.insert(i, word)
            elif op == "del" and len(toks) > 1:
                del toks[i]
            elif op == "spell":
                NearEditor._spell(toks, i)
        return toks

    @staticmethod
    def _spell(toks: list[str], start: int) -> None:
        """Swap British/American spelling (-ise/-ize, -our/-or) of the first eligible word at or
        after ``start``, wrapping round; nothing if no word is in ``_SPELLINGS``."""
        n = len(toks)
        for k in range(n):
            i = (start + k) % n
            t = toks[i]
            core = t.strip(_EDGE_PUNCT)
            other = _SPELLINGS.get(core.lower())
            if other:
                if core.isupper():
                    other = other.upper()
                elif core[0].isupper():
                    other = other[0].upper() + other[1:]
                lead = len(t) - len(t.lstrip(_EDGE_PUNCT))
                toks[i] = t[:lead] + other + t[lead + len(core):]
                return

    @staticmethod
    def _cosmetic(toks: list[str], kinds, rnd: random.Random) -> str:
        toks = list(toks)
        for kind in kinds:
            if kind == "quotes":
                text = " ".join(toks)
                if any(q in text for q in "\u2018\u2019\u201c\u201d"):
                    toks = text.translate(_TO_STRAIGHT).split(" ")
                elif '"' in text or "'" in text:
                    parts = text.replace("'", "\u2019").split('"')
                    quotes = (["\u201c", "\u201d"] * len(parts))[:len(parts) - 1] + [""]
                    toks = "".join(p + q for p, q in zip(parts, quotes)).split(" ")
                else:
                    kind = "punct"
            if kind == "dashes":
                idx = [i for i, t in enumerate(toks) if any(d in t for d in _DASH_CHARS)]
                if idx:
                    i = rnd.choice(idx)
                    for d in _DASH_CHARS:
                        if d in toks[i]:
                            toks[i] = toks[i].replace(d, rnd.choice(
                                [x for x in _DASH_CHARS if x != d]))
                            break
                else:
                    commas = [i for i, t in enumerate(toks) if t.endswith(",")]
                    if commas:
                        i = rnd.choice(commas)
                        toks[i] = toks[i][:-1] + " \u2014"
                    else:
                        kind = "punct"
            if kind == "punct":
                i = rnd.randrange(len(toks))
                t = toks[i]
                if t.endswith(","):
                    toks[i] = t[:-1] + rnd.choice(("", ";"))
                elif t.endswith("."):
                    toks[i] = t[:-1] + rnd.choice(("", "!", ";"))
                else:
                    toks[i] = t + rnd.choice((",", ".", ":"))
            if kind == "case":
                cased = [i for i, t in enumerate(toks) if t[:1].isalpha()] or [0]
                i = rnd.choice(cased)
                t = toks[i]
                if t[:1].isupper():
                    toks[i] = t.upper() if rnd.random() < 0.3 else t[:1].lower() + t[1:]
                else:
                    toks[i] = t[:1].upper() + t[1:]
        return " ".join(toks)


# ----------------------------------------------------------------------------------------------
# Sites and their template lines

BRANDS = ("Harbor Meridian Summit Beacon Pioneer Lantern Compass Horizon Frontier Granite "
          "Riverside Keystone Lakeside Crescent Ironwood Redwood Bluebell Northfield Southgate "
          "Westbrook Eastwood Highland Lowland Clearwater Stonebridge Silverline Goldcrest "
          "Oakridge Pinecrest Maplewood Cedar Willow Falcon Osprey Heron Kestrel Sparrow "
          "Cardinal Monarch Sentinel Vanguard Tribune Courier Gazette Chronicle Observer "
          "Herald Ledger Dispatch Bulletin").split()
AGENCIES = ("Reuters", "AP", "AFP", "PTI", "Getty Images", "Bloomberg", "ANI", "dpa")
PREFIX_LINES = (
    "Image credits: {agency}",
    "Listen to this article",
    "Advertisement",
    "Skip to main content",
    "Subscribe to {brand} News for unlimited access",
    "By {brand} News Desk",
    "Photo: {agency}",
    "{brand} News | {tagline}",
)
SUFFIX_LINES = (
    "Join our WhatsApp channel for daily updates",
    "Read more: {headline}",
    "Catch all the latest news on {brand} News",
    "Follow {brand} News on X, Facebook and Instagram",
    "Sign up for the {brand} morning newsletter",
    "\u00a9 {year} {brand} News. All rights reserved.",
    "Have a news tip? Email us at tips@{domain}",
    "Download the {brand} News app for breaking news alerts",
    "Also read: {headline}",
    "Image credits: {agency}",
    "(With inputs from {agency})",
)
TAGLINES = ("Breaking news as it happens", "Independent journalism since 1998",
            "Your city, your news", "News you can trust", "Latest headlines and analysis")


@dataclasses.dataclass
class Site:
    """A source: its ``source`` host and the site lines it puts before/after an article body.

    Each line carries the probability that a given document of the site shows it.
    """

    domain: str
    brand: str
    prefix: list[tuple[str, float]]
    suffix: list[tuple[str, float]]


def make_sites(n: int, rng: np.random.Generator, markov: MarkovText) -> list[Site]:
    brands = [BRANDS[i] for i in rng.permutation(len(BRANDS))[:n]]
    heads, _ = markov.generate(rng, 2 * n, lengths=np.full(2 * n, 10))
    sites = []
    for i, brand in enumerate(brands):
        domain = f"site-{i:02d}.example"
        words = heads[2 * i].split()[: int(rng.integers(6, 11))]
        headline = " ".join(words).rstrip(".,;:!?\u2014-")
        fields = dict(brand=brand, domain=domain, headline=headline[:1].upper() + headline[1:],
                      agency=AGENCIES[int(rng.integers(len(AGENCIES)))],
                      tagline=TAGLINES[int(rng.integers(len(TAGLINES)))],
                      year=2015 + int(rng.integers(11)))

        def pick(patterns, lo, hi):
            k = int(rng.integers(lo, hi + 1))
            chosen = sorted(rng.choice(len(patterns), size=k, replace=False).tolist())
            return [(patterns[j].format(**fields), round(float(rng.uniform(0.5, 1.0)), 3))
                    for j in chosen]

        sites.append(Site(domain, brand, pick(PREFIX_LINES, 0, 2), pick(SUFFIX_LINES, 1, 4)))
    return sites


# ----------------------------------------------------------------------------------------------
# The dump


@dataclasses.dataclass(frozen=True)
class DumpConfig:
    """Parameters of a dump; :meth:`validate` is the one place they are checked."""

    docs: int
    seed: int = 0
    exact_rate: float = 0.05        # share of body paragraphs that are exact copies
    near_rate: float = 0.03         # ... near copies
    syndicated_rate: float = 0.02   # share of documents that republish an earlier one
    same_doc_share: float = 0.2     # share of exact/near copies taken from the same document
    syndicated_edit_rate: float = 0.5
    min_paragraphs: int = 5
    max_paragraphs: int = 40
    sites: int = 50
    backoff: float = 0.45           # text generator: see MarkovText
    substitute: float = 0.12
    max_run: int = 6
    pool_paragraphs: int = 100_000  # reservoir of earlier base paragraphs to copy from
    pool_docs: int = 2_000          # reservoir of earlier documents to syndicate

    def validate(self) -> "DumpConfig":
        def need(ok: bool, msg: str):
            if not ok:
                raise ConfigError(msg)
        need(isinstance(self.docs, int) and 1 <= self.docs <= 10**9 - 1,
             f"--docs must be between 1 and 999999999, not {self.docs}")
        need(0 <= self.seed < 2**63, f"--seed must be a non-negative integer, not {self.seed}")
        for name in ("exact_rate", "near_rate", "syndicated_rate", "same_doc_share",
                     "syndicated_edit_rate", "backoff", "substitute"):
            v = getattr(self, name)
            flag = f"--{name.replace('_', '-')}" if name.endswith("_rate") else name
            need(0.0 <= v <= 1.0, f"{flag} must be in [0, 1], not {v}")
        need(self.exact_rate + self.near_rate <= 0.9,
             "--exact-rate + --near-rate must be at most 0.9 (base text must dominate)")
        need(self.backoff < 1.0, "backoff must be below 1")
        need(self.max_run >= 1, "max_run must be at least 1")
        need(1 <= self.min_paragraphs <= self.max_paragraphs,
             "paragraphs per document: need 1 <= min <= max")
        need(2 <= self.sites <= len(BRANDS), f"sites must be in [2, {len(BRANDS)}]")
        need(self.pool_paragraphs >= 1 and self.pool_docs >= 1, "pools must hold 1+ items")
        return self


class _Reservoir:
    """Uniform sample of everything offered so far (Algorithm R), bounded by ``size``."""

    def __init__(self, size: int):
        self.size, self.items, self.seen = size, [], 0

    def offer(self, item, u: float):
        self.seen += 1
        if len(self.items) < self.size:
            self.items.append(item)
        else:
            j = int(u * self.seen)
            if j < self.size:
                self.items[j] = item


class DumpWriter:
    """Writes dump.jsonl / truth.jsonl / meta.json for a :class:`DumpConfig`, chunk by chunk.

    Memory is bounded by the chunk (``chunk_docs`` documents), the text batch and the two
    reservoirs, whatever ``docs`` is.
    """

    chunk_docs = 1000

    def __init__(self, config: DumpConfig, corpus: list[str]):
        self.cfg = config.validate()
        self.corpus = corpus
        text_seq, layout_seq = np.random.SeedSequence(config.seed).spawn(2)
        self.markov = MarkovText(corpus, config.backoff, config.substitute, config.max_run)
        self.stream = ParagraphStream(self.markov, np.random.default_rng(text_seq))
        self.rng = np.random.default_rng(layout_seq)
        self.sites = make_sites(config.sites, self.rng, self.markov)
        edit_words = [w for w in self.markov.words if w.isalpha() and w.islower() and len(w) > 3]
        self.editor = NearEditor(edit_words or ["news"])
        self.para_pool = _Reservoir(config.pool_paragraphs)   # (text, doc_id, block)
        self.doc_pool = _Reservoir(config.pool_docs)          # (doc_id, site, body_start, body)
        self.first_line: dict[str, tuple[str, int]] = {}       # template text -> first place
        self.counts = dict.fromkeys(("exact", "near", "syndicated", "template"), 0)
        self.base_hist = np.zeros(self.markov.max_words + 1, dtype=np.int64)
        self.stats = dict(documents=0, syndicated_documents=0, blocks=0, body_paragraphs=0,
                          base_paragraphs=0, template_lines=0, dump_bytes=0)

    def write(self, out_dir: Path, progress: bool = False) -> dict:
        out_dir = Path(out_dir)
        if out_dir.exists() and not out_dir.is_dir():
            raise OutputError(f"{out_dir} exists and is not a directory; pass another --out")
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
            dump_tmp, truth_tmp = out_dir / "dump.jsonl.partial", out_dir / "truth.jsonl.partial"
            t0 = time.monotonic()
            with open(dump_tmp, "wb") as dump, open(truth_tmp, "wb") as truth:
                for d0 in range(0, self.cfg.docs, self.chunk_docs):
                    docs, truths = self._chunk(d0, min(d0 + self.chunk_docs, self.cfg.docs))
                    blob = "".join(docs).encode("utf-8")
                    self.stats["dump_bytes"] += len(blob)
                    dump.write(blob)
                    truth.write("".join(truths).encode("utf-8"))
                    if progress:
                        done = min(d0 + self.chunk_docs, self.cfg.docs)
                        rate = done / max(time.monotonic() - t0, 1e-9)
                        print(f"\r{done:,}/{self.cfg.docs:,} documents  {rate:,.0f} docs/s  "
                              f"ETA {(self.cfg.docs - done) / rate:,.0f} s ", end="",
                              file=sys.stderr, flush=True)
            if progress:
                print(file=sys.stderr)
            os.replace(dump_tmp, out_dir / "dump.jsonl")
            os.replace(truth_tmp, out_dir / "truth.jsonl")
            meta = self.meta()
            (out_dir / "meta.json").write_text(json.dumps(meta, indent=2) + "\n",
                                               encoding="utf-8")
        except OSError as exc:
            raise OutputError(f"cannot write the dump under {out_dir} ({exc.strerror}); "
                              "pass a writable --out directory") from None
        return meta

    # One chunk: every random choice for the chunk is drawn up front as arrays; the Python loop
    # then only reads them, so per-paragraph work is a few list operations.
    def _chunk(self, d0: int, d1: int) -> tuple[list[str], list[str]]:
        cfg, rng = self.cfg, self.rng
        nd = d1 - d0
        site_of = rng.integers(cfg.sites, size=nd)
        npar = np.clip(np.rint(rng.lognormal(math.log(18), 0.5, size=nd)),
                       cfg.min_paragraphs, cfg.max_paragraphs).astype(np.int64)
        u_doc = rng.random((nd, 6))
        u_tmpl = rng.random((nd, 8))
        slot0 = np.concatenate([[0], np.cumsum(npar)]).tolist()
        u_slot = rng.random((int(slot0[-1]), 4))
        edit_rnd = random.Random(int(rng.integers(2**63)))
        npar, site_of = npar.tolist(), site_of.tolist()
        u_doc, u_tmpl, u_slot = u_doc.tolist(), u_tmpl.tolist(), u_slot.tolist()
        copy_rate = cfg.exact_rate + cfg.near_rate
        docs, truths = [], []
        sites, counts, stats = self.sites, self.counts, self.stats
        para_pool, doc_pool = self.para_pool, self.doc_pool
        for i in range(nd):
            doc_id = f"doc-{d0 + i:09d}"
            ud = u_doc[i]
            syndicate = ud[0] < cfg.syndicated_rate and doc_pool.items
            if syndicate:
                orig_id, orig_site, orig_start, orig_body = \
                    doc_pool.items[int(ud[1] * len(doc_pool.items))]
                s = site_of[i]
                if s == orig_site:   # republished elsewhere: any other site, uniformly
                    s = (s + 1 + int(ud[2] * (cfg.sites - 1))) % cfg.sites
            else:
                s = site_of[i]
            site = sites[s]
            lines: list[str] = []
            ut = u_tmpl[i]
            for j, (text, prob) in enumerate(site.prefix):
                if ut[j] < prob:
                    self._template(text, doc_id, len(lines), truths)
                    lines.append(text)
            body_start = len(lines)
            if syndicate:
                stats["syndicated_documents"] += 1
                edit_at = int(ud[4] * len(orig_body)) if ud[3] < cfg.syndicated_edit_rate else -1
                for k, text in enumerate(orig_body):
                    j = 1.0
                    if k == edit_at:
                        text, j = self.editor.edit(text, edit_rnd)
                    truths.append(_truth(doc_id, len(lines), "syndicated", orig_id,
                                         orig_start + k, j))
                    lines.append(text)
                counts["syndicated"] += len(orig_body)
            else:
                base_here = []
                for k in range(npar[i]):
                    us = u_slot[slot0[i] + k]
                    block = len(lines)
                    if us[0] < copy_rate and (k > 0 or para_pool.items):
                        if k > 0 and (us[1] < cfg.same_doc_share or not para_pool.items):
                            src = body_start + int(us[2] * k)
                            src_text, src_doc = lines[src], doc_id
                        else:
                            src_text, src_doc, src = \
                                para_pool.items[int(us[2] * len(para_pool.items))]
                        if us[0] < cfg.exact_rate:
                            kind, text, j = "exact", src_text, 1.0
                        else:
                            kind = "near"
                            text, j = self.editor.edit(src_text, edit_rnd)
                        counts[kind] += 1
                        truths.append(_truth(doc_id, block, kind, src_doc, src, j))
                    else:
                        text, nwords = self.stream.take()
                        self.base_hist[min(nwords, len(self.base_hist) - 1)] += 1
                        base_here.append((text, doc_id, block))
                    lines.append(text)
                # offered after the document: cross-document copies come from earlier documents
                for item, u in zip(base_here, u_slot[slot0[i]:slot0[i] + len(base_here)]):
                    para_pool.offer(item, u[3])
                stats["base_paragraphs"] += len(base_here)
                doc_pool.offer((doc_id, s, body_start, tuple(lines[body_start:])), ud[5])
            stats["body_paragraphs"] += len(lines) - body_start
            for j, (text, prob) in enumerate(site.suffix):
                if ut[len(site.prefix) + j] < prob:
                    self._template(text, doc_id, len(lines), truths)
                    lines.append(text)
            stats["blocks"] += len(lines)
            docs.append(json.dumps({"id": doc_id, "source": site.domain,
                                    "text": "\n".join(lines)}, ensure_ascii=False) + "\n")
        stats["documents"] += nd
        return docs, truths

    def _template(self, text: str, doc_id: str, block: int, truths: list[str]):
        self.stats["template_lines"] += 1
        first = self.first_line.setdefault(text, (doc_id, block))
        if first != (doc_id, block):
            self.counts["template"] += 1
            truths.append(_truth(doc_id, block, "template", first[0], first[1], 1.0))

    def meta(self) -> dict:
        hist = self.base_hist
        n = int(hist.sum())
        cum = np.cumsum(hist)
        pct = {f"p{q}": int(np.searchsorted(cum, q / 100 * n)) for q in (1, 5, 25, 50, 75, 95, 99)}
        nz = np.nonzero(hist)[0]
        bins = {f"{lo}-{lo + 9}": int(hist[lo:lo + 10].sum())
                for lo in range(0, len(hist), 10) if hist[lo:lo + 10].any()}
        corpus_hash = hashlib.sha256("\n".join(self.corpus).encode("utf-8")).hexdigest()
        return {
            "format_version": FORMAT_VERSION,
            "generator": "benchmarks/make_dump.py",
            "parameters": dataclasses.asdict(self.cfg),
            "corpus": {"paragraphs": len(self.corpus), "tokens": self.markov.n_tokens,
                       "vocabulary": len(self.markov.words), "chain_states": self.markov.n_states,
                       "sha256": corpus_hash},
            **self.stats,
            "truth_lines": dict(self.counts),
            "base_word_count": {
                "paragraphs": n,
                "min": int(nz[0]) if n else 0, "max": int(nz[-1]) if n else 0,
                "mean": round(float((hist * np.arange(len(hist))).sum() / max(n, 1)), 2),
                **pct, "histogram": bins},
            "sites": [{"source": s.domain, "brand": s.brand,
                       "prefix": [t for t, _ in s.prefix], "suffix": [t for t, _ in s.suffix]}
                      for s in self.sites],
        }


def _truth(doc_id: str, block: int, kind: str, of_doc: str, of_block: int, j: float) -> str:
    # ids are generated ASCII, so formatting is safe and several times faster than json.dumps
    return (f'{{"doc_id": "{doc_id}", "block": {block}, "kind": "{kind}", "of": {{"doc_id": '
            f'"{of_doc}", "block": {of_block}}}, "jaccard": {round(j, 4)!r}}}\n')


# ----------------------------------------------------------------------------------------------
# Base-paragraph similarity check


def measure_similarity(corpus: list[str], n: int, seed: int = 0, threshold: float = 0.2,
                       cfg: DumpConfig | None = None) -> dict:
    """Pairwise similarity of ``n`` base paragraphs (and against the source corpus).

    Candidate pairs come from datasketch ``MinHashLSH(threshold)`` over word 5-gram MinHashes
    (128 permutations) of the :func:`normalise_for_truth` tokens; each candidate's exact 5-gram
    Jaccard is then computed.  Pairs under the LSH threshold are mostly not seen, which is fine:
    the question is whether any pair comes near 0.5.
    """
    from datasketch import MinHash, MinHashLSH

    cfg = cfg or DumpConfig(docs=1)
    text_seq, _ = np.random.SeedSequence(seed).spawn(2)
    markov = MarkovText(corpus, cfg.backoff, cfg.substitute, cfg.max_run)
    gen, _ = markov.generate(np.random.default_rng(text_seq), n)
    texts = gen + corpus
    sh = [{" ".join(g).encode() for g in shingles(normalise_for_truth(t))} for t in texts]
    lsh = MinHashLSH(threshold=threshold, num_perm=128)
    hashes = []
    for i, s in enumerate(sh):
        m = MinHash(num_perm=128, seed=1)
        m.update_batch(list(s))
        hashes.append(m)
        lsh.insert(i, m)
    gen_gen, gen_src = [], []
    for i in range(n):
        for c in lsh.query(hashes[i]):
            if c == i or (c < n and c < i):
                continue
            j = len(sh[i] & sh[c]) / len(sh[i] | sh[c])
            (gen_gen if c < n else gen_src).append(j)
    exact_dupes = n - len({frozenset(s) for s in sh[:n]})

    def summary(js):
        js = np.asarray(js)
        return {"candidate_pairs": int(len(js)),
                "max_jaccard": round(float(js.max()), 4) if len(js) else 0.0,
                **{f"pairs_ge_{t}": int((js >= t).sum()) for t in (0.2, 0.3, 0.5, 0.8)}}

    rnd = np.random.default_rng(1)
    a, b = rnd.integers(n, size=(2, 2000))
    rand_j = [len(sh[x] & sh[y]) / len(sh[x] | sh[y]) for x, y in zip(a, b) if x != y]
    return {"paragraphs": n, "lsh_threshold": threshold,
            "generated_vs_generated": summary(gen_gen),
            "generated_vs_source": summary(gen_src),
            "random_pairs_mean_jaccard": round(float(np.mean(rand_j)), 6),
            "identical_normalised_paragraphs": exact_dupes}


# ----------------------------------------------------------------------------------------------
# CLI


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description="Write a reproducible benchmark dump (dump.jsonl, truth.jsonl, meta.json).")
    ap.add_argument("--docs", type=int, help="number of documents to write")
    ap.add_argument("--out", type=Path, help="output directory (created if missing)")
    ap.add_argument("--seed", type=int, default=0)
    d = DumpConfig(docs=1)
    ap.add_argument("--exact-rate", type=float, default=d.exact_rate,
                    help="share of body paragraphs copied verbatim (default %(default)s)")
    ap.add_argument("--near-rate", type=float, default=d.near_rate,
                    help="share of body paragraphs copied with light edits (default %(default)s)")
    ap.add_argument("--syndicated-rate", type=float, default=d.syndicated_rate,
                    help="share of documents republishing an earlier one (default %(default)s)")
    ap.add_argument("--eval", type=Path, default=DEFAULT_EVAL, help="aeb labelled JSONL")
    ap.add_argument("--seeds", type=Path, default=DEFAULT_SEEDS, help="seed articles directory")
    ap.add_argument("--measure-similarity", type=int, metavar="N",
                    help="instead of a dump, print the base-paragraph similarity of N paragraphs")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        # parameters are checked before the (slow) corpus is read
        if args.measure_similarity is not None:
            if args.measure_similarity < 2:
                raise ConfigError("--measure-similarity needs at least 2 paragraphs")
            corpus = load_corpus(args.eval, args.seeds)
            print(json.dumps(measure_similarity(corpus, args.measure_similarity, args.seed),
                             indent=2))
            return 0
        if args.docs is None or args.out is None:
            raise ConfigError("pass --docs N and --out DIR (or --measure-similarity N)")
        cfg = DumpConfig(docs=args.docs, seed=args.seed, exact_rate=args.exact_rate,
                         near_rate=args.near_rate, syndicated_rate=args.syndicated_rate)
        cfg.validate()
        corpus = load_corpus(args.eval, args.seeds)
        t0 = time.monotonic()
        meta = DumpWriter(cfg, corpus).write(args.out, progress=sys.stderr.isatty())
        print(f"wrote {meta['documents']:,} documents, {meta['blocks']:,} blocks, "
              f"{meta['dump_bytes'] / 1e6:,.1f} MB, truth {meta['truth_lines']} "
              f"to {args.out} in {time.monotonic() - t0:.1f} s")
        return 0
    except DedupeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
