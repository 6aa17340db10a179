"""Deciding which blocks of a document are copies, as a pure function of its blocks and the index.

Inputs for one document: its blocks' shingle summary (word counts, exact-text hashes, shingle
counts), their MinHash signatures, and for each block the best verified match among earlier
documents (:meth:`dedupe.indexing.BlockIndex.lookup`). Nothing else: no global state, so the same
function serves a local run, a persistent index and a cluster.

The rules, in order:

1. **Copies inside the document.** Block ``i`` is compared with every earlier block ``j`` of the
   same document by estimated Jaccard similarity ``J`` of their signatures. It is a
   ``duplicate`` of ``j`` when their normalised texts are identical (score 1), a
   ``near-duplicate`` when ``J >= doc_threshold``, or when it *contains* ``j`` (containment
   ``|i ∩ j| / |j| >= containment``, estimated as ``J (|i| + |j|) / ((1 + J) |j|)``) and adds only
   a short addition (at most ``max(4, 0.6 |j|)`` shingles): a title repeated with
   "[Image Credits: Reuters]". The first occurrence is kept; copies point at it.
2. **Copies of earlier documents.** The index match, if any, competes with the in-document one;
   the higher score wins (identical text first). ``cross_doc`` decides whether such copies are
   stripped, only flagged, or ignored. (A copy of a first occurrence that went for another
   reason is decided on its own findings: see ``pipeline._Survivors``.)
3. **Repeated passages.** When block ``i`` repeats block ``t``, block ``i + 1`` is compared with
   ``t + 1`` (and ``i - 1`` with ``t - 1``) at the lower ``run_threshold``: a passage pasted twice
   goes whole even where the second copy was re-worded.
4. **Short blocks.** A block of fewer words than a shingle (a heading, a bullet) only matches an
   identical block, and is stripped only when a neighbouring block is stripped as a copy too,
   i.e. when it belongs to a repeated run (the second "Other powerful images"). A heading that
   recurs on its own stays; site furniture that recurs across documents is the template
   detector's business.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Iterator, NamedTuple, Optional, Sequence

import numpy as np

from . import native
from .config import CleanerConfig
from .indexing import Match


class Sketch(NamedTuple):
    """A document's blocks as the copy finder sees them: word counts, shingle counts, 64-bit
    hashes of the normalised texts, MinHash signatures (one row per block) and, per block, the
    earlier block of the same document it copies (rule 1; -1 for none) with its score."""

    words: np.ndarray
    sizes: np.ndarray
    exact: np.ndarray
    signatures: np.ndarray
    earlier: Optional[np.ndarray] = None
    earlier_score: Optional[np.ndarray] = None
    numbers: Optional[np.ndarray] = None  # the numbers each block states (ShingleBatch.numbers), for rule 1


@dataclass
class Verdicts:
    """What happened to each block of a document, one array entry per block: ``reason`` (a code
    into :data:`COPY_REASONS`, 0 for none) and ``score`` (NaN for none); ``local`` the earlier
    block of the same document it copies and ``entry`` the index entry of an earlier document's
    block it copies (-1 for none; at most one is set); ``stays`` marks a copy that is kept all
    the same (a short block outside a repeated run): it belongs to the group of its original but
    is not indexed again."""

    reason: np.ndarray
    score: np.ndarray
    local: np.ndarray
    entry: np.ndarray
    stays: np.ndarray

    @classmethod
    def none(cls, k: int) -> "Verdicts":
        return cls(np.zeros(k, np.int8), np.full(k, np.nan), np.full(k, -1, np.int64),
                   np.full(k, -1, np.int64), np.zeros(k, bool))

    @property
    def is_copy(self) -> np.ndarray:
        return (self.local >= 0) | (self.entry >= 0)


def similarity(signatures: np.ndarray, a, b) -> np.ndarray:
    """Estimated Jaccard similarity of rows ``a`` and ``b`` (pairwise, float32)."""
    kernels = native.load()
    if kernels is not None and signatures.dtype == np.uint32 and np.ndim(a) == 1 and np.ndim(b) == 1:
        agree = kernels.agreements(signatures, a, b)
    else:
        agree = np.count_nonzero(signatures[a] == signatures[b], axis=-1)
    return (agree / signatures.shape[-1]).astype(np.float32)  # = the mean of the matches, exactly


def local_copies(sketches: Sequence[Sketch], config: CleanerConfig, max_pairs: int = 1 << 15,
                 max_agreements: int = 1 << 20, agreements_per_pair: float = 16.0) -> list[Sketch]:
    """Rule 1 for the blocks of several documents at once: each sketch comes back with
    ``earlier`` and ``earlier_score`` filled in.

    Every pair (later block ``i``, earlier block ``j``) of a document is scored as in the module
    docstring; ``i`` copies the first identical block if there is one (score 1), else its
    best-scoring ``j`` (the earliest on ties) when the score is above 0. A pure function of the
    sketches, so worker processes compute it; pairs are scored ``max_pairs`` at a time (a batch
    holds two gathered signature rows per pair: 32k pairs are about 34 MB).

    A document of more than ``max_pairs`` pairs (some 260 blocks) is not scored pair by pair:
    only the pairs that agree in at least one signature position can score above 0, and
    :func:`_agreeing_pairs` finds them, with their similarity, by sorting each signature column
    (time ~ k log k plus the agreements instead of k^2), gathering about ``max_agreements``
    pair-position agreements at a time (all those of a later block in one batch). Where the
    agreements are more than ``agreements_per_pair`` times the document's pairs (nearly every
    block alike), scoring every pair costs less, and every pair is scored after all: the same
    decisions either way.
    """
    sizes_per_doc = np.array([len(s.signatures) for s in sketches], dtype=np.int64)
    n = int(sizes_per_doc.sum())
    earlier = np.full(n, -1, dtype=np.int64)
    score = np.zeros(n)
    if n:
        sig = np.concatenate([s.signatures for s in sketches])
        low = None if native.load() is not None else sig.astype(np.uint8)  # the low bytes (see _score_pairs)
        exact = np.concatenate([s.exact for s in sketches])
        sizes = np.concatenate([s.sizes for s in sketches]).astype(np.float64)
        short = np.concatenate([s.words for s in sketches]) < config.shingle_size
        numbers = None if any(s.numbers is None for s in sketches) else np.concatenate([s.numbers for s in sketches])
        first = np.concatenate(([0], np.cumsum(sizes_per_doc)[:-1]))
        # identical normalised text: the first identical block of the document
        doc = np.repeat(np.arange(len(sketches)), sizes_per_doc)
        order = np.lexsort((np.arange(n), exact, doc))
        run_start = np.r_[True, (exact[order][1:] != exact[order][:-1]) | (doc[order][1:] != doc[order][:-1])]
        first_same = np.empty(n, dtype=np.int64)
        first_same[order] = order[np.flatnonzero(run_start)[np.cumsum(run_start) - 1]]
        # pairs (i, j), j < i, document by document, in row-major order of i then j; those of
        # the usual (small) documents are made for many documents at once
        batch: list[tuple[np.ndarray, np.ndarray]] = []
        small: list[tuple[int, int]] = []
        pending = 0
        for lo, k in zip(first.tolist(), sizes_per_doc.tolist()):
            if k * (k - 1) // 2 <= max_pairs:
                if k > 1:
                    small.append((lo, k))
                    pending += k * (k - 1) // 2
                    if pending >= max_pairs:
                        batch.append(_pairs_of_documents(small))
                        _score_pairs(batch, sig, low, sizes, short, numbers, config, earlier, score)
                        batch, small, pending = [], [], 0
                continue
            if small:
                batch.append(_pairs_of_documents(small))
                small = []
            # Only blocks that are their text's first occurrence and not short can score: a
            # repeat's similarity search is overruled by its identical copy, and the earliest of
            # identical candidates wins every tie.
            rows = lo + np.flatnonzero((first_same[lo:lo + k] == np.arange(lo, lo + k)) & ~short[lo:lo + k])
            agreeing = _agreeing_pairs(sig[rows], max_agreements, agreements_per_pair * (k * (k - 1) // 2))
            if agreeing is not None:
                for i, j, sims in agreeing:  # each later block's pairs in one batch
                    _score_pairs([(rows[i], rows[j])], sig, low, sizes, short, numbers, config, earlier, score, sims)
                continue
            for i, j in _document_pairs(k, max_pairs):
                batch.append((i + lo, j + lo))
                pending += len(i)
                if pending >= max_pairs:
                    _score_pairs(batch, sig, low, sizes, short, numbers, config, earlier, score)
                    batch, pending = [], 0
        if small:
            batch.append(_pairs_of_documents(small))
        _score_pairs(batch, sig, low, sizes, short, numbers, config, earlier, score)
        # identical normalised text beats any similarity: the first identical block is copied
        repeated = np.flatnonzero(first_same != np.arange(n))
        earlier[repeated] = first_same[repeated]
        score[repeated] = 1.0
    # pointers into each document's own blocks, for all documents at once
    earlier = np.where(earlier >= 0, earlier - np.repeat(first, sizes_per_doc), -1) if n else earlier
    out, lo = [], 0
    for s, k in zip(sketches, sizes_per_doc.tolist()):
        out.append(s._replace(earlier=earlier[lo:lo + k], earlier_score=score[lo:lo + k]))
        lo += k
    return out


def _agreeing_pairs(signatures: np.ndarray, batch: int, most: float = np.inf
                    ) -> Optional[Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]]:
    """The pairs ``(i, j)``, ``j < i``, of rows that hold the same value in at least one column,
    with their similarity (the share of columns where they agree, as :func:`similarity` gives
    it), as batches ``(i, j, sims)`` of about ``batch`` (pair, column) agreements each (a row of
    more comes alone); all the pairs of a later row ``i`` come in one batch, in which pairs are
    ordered by ``i``, then ``j``. None when there are more than ``most`` agreements in all.

    Each column is sorted (stably: rows with equal values keep their order); rows with equal
    values form runs, and every pair inside a run agrees in that column. Counting a pair's runs
    over all columns counts its agreeing columns. A row's agreements with earlier rows are the
    members of its runs that precede it, so the batches are cut by later row before any pair is
    made: time ~ k log k plus the agreements, and memory ~ k plus one batch, however many blocks
    are alike.

    >>> sig = np.array([[1, 2, 3, 4], [1, 2, 9, 9], [7, 8, 3, 4], [5, 6, 7, 8]])
    >>> [(int(a), int(b), float(s)) for i, j, sims in _agreeing_pairs(sig, 100)
    ...  for a, b, s in zip(i, j, sims)]
    [(1, 0, 0.5), (2, 0, 0.5)]
    """
    m, columns = signatures.shape
    if m < 2:
        return iter(())
    index = np.int32 if m * columns < 2**31 else np.int64
    # column after column, order[c * m + p]: the row at position p of column c sorted; before[c *
    # m + p]: how many members of its run precede it there (the earlier rows that agree with it
    # in that column); where[r * columns + c]: the position of row r in column c
    order, before = np.empty((columns, m), index), np.empty((columns, m), index)
    where = np.empty((m, columns), index)
    per_row = np.zeros(m, np.int64)  # agreements with earlier rows
    position = np.arange(m, dtype=index)
    new_run = np.ones(m, bool)
    for c in range(columns):
        column = signatures[:, c]
        at = np.argsort(column, kind="stable")
        values = column[at]
        np.not_equal(values[1:], values[:-1], out=new_run[1:])
        before[c] = position - np.maximum.accumulate(np.where(new_run, position, 0))
        order[c] = at
        where[at, c] = position + c * m
        per_row[at] += before[c]
    if per_row.sum() > most:
        return None
    order, before, where = order.ravel(), before.ravel(), where.ravel()
    return _agreeing_batches(order, before, where, np.cumsum(per_row + columns), batch, m, columns)


def _agreeing_batches(order, before, where, cost, batch, m, columns):
    """The batches of :func:`_agreeing_pairs`: rows ``lo .. hi - 1`` whose ``cost`` (agreements
    plus columns, cumulated) adds up to at most ``batch`` (one row at least)."""
    lo = 0
    while lo < m:
        spent = cost[lo - 1] if lo else 0
        hi = max(lo + 1, int(np.searchsorted(cost, spent + batch, side="right")))
        at = where[lo * columns:hi * columns]  # the rows' positions, row after row
        count = before[at]
        at, count = at[count > 0].astype(np.int64), count[count > 0].astype(np.int64)
        total = int(count.sum())
        if not total:
            lo = hi
            continue
        # the members of each run before the row (positions at - count .. at - 1), numbered on
        # from the batch's first agreement
        skip = at - count - (np.cumsum(count) - count)
        partner = order[np.arange(total) + np.repeat(skip, count)]
        later = order[at]  # ascending, a row's columns together
        first = np.r_[True, later[1:] != later[:-1]]
        rows = later[first].astype(np.int64)
        key = np.repeat((np.cumsum(first) - 1) * m, count) + partner  # (i's rank in rows) m + j
        del partner
        if len(rows) * m <= 2 * total:  # dense (many agreements per later row): counted in place
            agree = np.bincount(key, minlength=len(rows) * m)
            key = np.flatnonzero(agree)
            agree = agree[key]
        else:  # a row's pairs follow one another, in ascending runs (one per column): merged
            key = np.sort(key, kind="stable")
            new = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
            agree = np.diff(np.r_[new, len(key)])
            key = key[new]
        yield rows[key // m], key % m, (agree / columns).astype(np.float32)
        lo = hi


def _pairs_of_documents(documents: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """Every pair ``(i, j)``, ``lo <= j < i < lo + k``, of the documents ``(lo, k)``, document by
    document in row-major order."""
    lo, k = np.array(documents, np.int64).T
    kernels = native.load()
    if kernels is not None:
        return kernels.document_pairs(lo, k)
    pairs = [np.tril_indices(size, -1) for size in k.tolist()]
    shift = np.repeat(lo, k * (k - 1) // 2)
    return (np.concatenate([i for i, _ in pairs]) + shift, np.concatenate([j for _, j in pairs]) + shift)


def _document_pairs(k: int, max_pairs: int):
    """The pairs ``(i, j)``, ``j < i < k``, in row-major order, as arrays of whole rows of at
    most ``max_pairs`` pairs (a row longer than that comes alone): memory stays bounded on a
    document of many thousand blocks."""
    if k * (k - 1) // 2 <= max_pairs:  # the usual document: all pairs at once
        if k > 1:
            yield np.tril_indices(k, -1)
        return
    row = 1
    while row < k:
        end, total = row, 0
        while end < k and (end == row or total + end <= max_pairs):
            total += end  # row `end` pairs with blocks 0 .. end - 1
            end += 1
        rows = np.arange(row, end)
        i = np.repeat(rows, rows)
        j = np.arange(total) - np.repeat(np.cumsum(rows) - rows, rows)
        yield i, j
        row = end


def _pair_scores(sims: np.ndarray, later: np.ndarray, before: np.ndarray, either_short: np.ndarray,
                 config: CleanerConfig, other_facts: Optional[np.ndarray] = None) -> np.ndarray:
    """Rule 1's score of pairs (later block, earlier block) of similarity ``sims`` and shingle
    counts ``later`` and ``before``: 0 where the pair is no copy. Pairs that state
    ``other_facts`` (each block a number the other lacks) are copies only from
    ``config.threshold``, as across documents. Never falls as ``sims`` grows."""
    s = np.where(sims >= config.doc_threshold, sims, 0.0)
    contained = sims * (later + before) / ((1.0 + sims) * before)
    addition = later - before
    short_addition = (addition > 0) & (addition <= np.maximum(4.0, 0.6 * before))
    by_containment = short_addition & (contained >= config.containment)
    s = np.where(by_containment, np.maximum(s, np.minimum(contained, 1.0)), s)
    s[either_short] = 0.0
    if other_facts is not None:
        s[other_facts & (sims < config.threshold)] = 0.0
    return s


def _other_facts(numbers: Optional[np.ndarray], i: np.ndarray, j: np.ndarray) -> Optional[np.ndarray]:
    """Per pair, whether each block states a number the other does not: the items of a list
    built on one template ("Cardiff: sunny, high of 20C", "London: cloudy, high of 17C"; a
    police blotter, phone prices, match results) read 0.4-0.5 alike, and were stripped as
    copies of one another (95 items of 2,520 in an exploring helper's lists, each with facts
    of its own)."""
    if numbers is None:
        return None
    a, b = numbers[i], numbers[j]
    return ((a & ~b) != 0) & ((b & ~a) != 0)


def _score_pairs(batch, sig, low, sizes, short, numbers, config, earlier, score, sims=None) -> None:
    """Scores a batch of pairs (see :func:`local_copies`) and keeps each later block's best; a
    later block's pairs all come in one batch. ``low``: the low bytes of the signatures ``sig``
    (None: compare in full); ``numbers``: the blocks' :attr:`Sketch.numbers` (None: not
    known); ``sims``: the pairs' similarities, when known."""
    if not batch:
        return
    i = np.concatenate([b[0] for b in batch])
    j = np.concatenate([b[1] for b in batch])
    later, before, either_short = sizes[i], sizes[j], short[i] | short[j]
    other_facts = _other_facts(numbers, i, j)
    if sims is None:
        # The low bytes of two values agree wherever the values do, so their share of agreeing
        # low bytes bounds the similarity from above; a score never falls as the similarity
        # grows, so a pair whose bound scores 0 scores 0. Unrelated blocks agree in about one
        # low byte of 128: only the few pairs left are compared in full (a quarter of the bytes
        # gathered for the rest).
        if low is None:  # compiled, the full comparison costs what the bound does
            sims = similarity(sig, i, j)
        else:
            sims = similarity(low, i, j)
            maybe = np.flatnonzero(_pair_scores(sims, later, before, either_short, config) > 0)
            sims[maybe] = similarity(sig, i[maybe], j[maybe])
    s = _pair_scores(sims, later, before, either_short, config, other_facts)
    hit = s > 0
    if not hit.any():
        return
    i, j, s = i[hit], j[hit], s[hit]
    order = np.lexsort((j, -s, i))  # per later block: highest score, then earliest block
    rows, best = np.unique(i[order], return_index=True)
    earlier[rows] = j[order][best]
    score[rows] = s[order][best]


def find_copies(sketch: Sketch, cross: Sequence[Optional[Match]], config: CleanerConfig) -> Verdicts:
    """Rules 1-4 of the module docstring for one document's blocks."""
    if sketch.earlier is None:
        sketch = local_copies([sketch], config)[0]
    signatures = sketch.signatures
    k = len(signatures)
    v = Verdicts.none(k)
    if k == 0:
        return v
    short = sketch.words < config.shingle_size
    use_cross = config.cross_doc != "keep"
    earlier, earlier_score, exact = sketch.earlier, sketch.earlier_score, sketch.exact
    candidates = set(np.flatnonzero(earlier >= 0).tolist())
    if use_cross:
        candidates.update(i for i, m in enumerate(cross) if m is not None)
    for i in sorted(candidates):
        match = cross[i] if use_cross else None
        j = int(earlier[i])
        best: tuple | None = None  # (exact, score, earlier block)
        if j >= 0:
            best = (bool(exact[j] == exact[i]), float(earlier_score[i]), j)
        if match is not None and (not short[i] or match.exact):
            if best is None or (match.exact, match.score) > (best[0], best[1]):
                v.reason[i] = _DUPLICATE if match.exact else _NEAR_DUPLICATE
                v.score[i], v.entry[i] = match.score, match.entry
                continue
        if best is not None:
            same, score, j = best
            v.reason[i] = _DUPLICATE if same else _NEAR_DUPLICATE
            v.score[i], v.local[i] = score, j

    if (v.local >= 0).any():
        _extend_runs(v, signatures, short, config)
    _keep_lone_short_blocks(v, short)
    return v


def _extend_runs(v: Verdicts, signatures: np.ndarray, short: np.ndarray, config: CleanerConfig) -> None:
    """Rule 3: when block ``i`` copies ``t``, block ``a = i + 1`` copies ``t + 1`` (and ``i - 1``
    copies ``t - 1``) at the run threshold, where neither is a copy yet; a block so found extends
    the run in turn.

    What was once a pass over every block until one changed nothing (as many passes as the run
    is long), visiting blocks in order and trying the step forward before the step back. A
    block's try of a step fails for good once it fails (its copy and its neighbours' similarity
    stay; its neighbours only ever become copies), so each block needs trying once, when that
    pass would first have reached it: a block found by the step forward from ``i`` later in the
    same pass (right after ``i``, which no other block can be), one found by the step back in
    the next pass, which reaches them in the order they were found. The queue below holds that
    order: the same copies, each found by the same block, in linear time."""
    k = len(v.local)
    local = v.local
    queue = deque(np.flatnonzero(local >= 0).tolist())  # the blocks to try, in the passes' order
    while queue:
        i = queue.popleft()
        while i >= 0:  # i, then the block its step forward found (tried next)
            original, forward = int(local[i]), -1
            for step in (1, -1):
                a, t = i + step, original + step
                # `a` must lie after the original block, and `t` before `a`
                if t < 0 or a >= k or a <= original or t >= a:
                    continue
                if local[a] >= 0 or v.entry[a] >= 0 or local[t] >= 0 or v.entry[t] >= 0 or short[a] != short[t]:
                    continue
                sim = similarity(signatures, a, t)
                if sim >= config.run_threshold:
                    v.reason[a], v.score[a], local[a] = _NEAR_DUPLICATE, float(sim), t
                    if step == 1:
                        forward = a
                    else:
                        queue.append(a)
            i = forward


def _keep_lone_short_blocks(v: Verdicts, short: np.ndarray) -> None:
    """Short copies stay unless a neighbour is a copy too that is not short or goes itself: a
    short copy goes when the stretch of consecutive copies that holds it holds a copy that is
    not short (the fixed point of confirming, pass after pass, the short copies beside a copy
    that is not short or confirmed)."""
    is_copy = v.is_copy
    pending = short & is_copy
    if not pending.any():
        return
    stretch = np.cumsum(~is_copy)  # one number per stretch of consecutive copies
    anchored = np.zeros(int(stretch[-1]) + 1, bool)
    anchored[stretch[is_copy & ~short]] = True
    v.stays[pending & ~anchored[stretch]] = True


COPY_REASONS = (None, "duplicate", "near-duplicate")  # reason codes of Verdicts and Copies
_DUPLICATE, _NEAR_DUPLICATE = COPY_REASONS.index("duplicate"), COPY_REASONS.index("near-duplicate")


@dataclass
class Copies:
    """The copy findings of a document's blocks after the index registered the kept ones, one
    array entry per block: ``reason`` (a code into :data:`COPY_REASONS`), ``score`` (NaN when
    none), ``of`` the index entry of the kept copy (-1 for a first occurrence), ``cluster`` the
    entry of the group of copies it belongs to, ``cross`` whether the kept copy is in another
    document."""

    reason: np.ndarray
    score: np.ndarray
    of: np.ndarray
    cluster: np.ndarray
    cross: np.ndarray

    @classmethod
    def fresh(cls, clusters: np.ndarray) -> "Copies":
        """Blocks that copy nothing, each the first of its own group."""
        n = len(clusters)
        return cls(np.zeros(n, np.int8), np.full(n, np.nan), np.full(n, -1, np.int64),
                   np.asarray(clusters, np.int64), np.zeros(n, bool))

    @classmethod
    def concatenate(cls, parts: Sequence["Copies"]) -> "Copies":
        if not parts:
            return cls.fresh(np.empty(0, np.int64))
        return cls(*(np.concatenate(field) for field in zip(*((c.reason, c.score, c.of, c.cluster, c.cross)
                                                               for c in parts))))

    def __len__(self) -> int:
        return len(self.reason)


@dataclass
class Findings:
    """Everything known about one document's blocks; any detector may be absent (None)."""

    copies: Copies
    template: Optional[np.ndarray] = None       # share of the source's documents holding the block, 0 = none
    boilerplate: Optional[np.ndarray] = None    # P(boilerplate)
    words: Optional[np.ndarray] = None          # words of each block (len(text.split())), with boilerplate
    offtopic: Optional[np.ndarray] = None       # off-topic run score
    offtopic_flags: Optional[np.ndarray] = None


def _copy_finding(copies: Copies, config: CleanerConfig) -> tuple[np.ndarray, np.ndarray]:
    """Per block: whether its copy finding is reported (its reason is detected), and whether it
    may strip the block (its reason is stripped, and a copy of another document only with
    ``cross_doc="strip"``)."""
    detected = np.zeros(len(copies), bool)
    stripped = np.zeros(len(copies), bool)
    for code, reason in enumerate(COPY_REASONS[1:], start=1):
        is_reason = copies.reason == code
        detected |= is_reason & (reason in config.detect)
        stripped |= is_reason & (reason in config.strip)
    return detected, stripped & (~copies.cross | (config.cross_doc == "strip"))


# Reason codes of combine's output, in the order findings rank.
REASONS = (None, "template", "duplicate", "near-duplicate", "boilerplate", "off-topic")
# a copy reason code -> its code in REASONS
_COPY_TO_REASON = np.array([REASONS.index(reason) for reason in COPY_REASONS])
# the codes in REASONS of findings that name a kept copy
COPY_REASON_CODES = _COPY_TO_REASON[1:]


def in_body(kept: np.ndarray, long: np.ndarray, first: np.ndarray) -> np.ndarray:
    """The blocks that lie strictly between the first and the last block of their document
    that is both ``kept`` (by the classifier) and ``long``: the article's body. Documents
    follow one another; ``first`` marks the first block of each.

    >>> kept = np.array([0, 1, 1, 0, 1, 0, 1, 1], bool)
    >>> long = np.array([1, 1, 0, 1, 1, 1, 1, 0], bool)
    >>> first = np.array([1, 0, 0, 0, 0, 1, 0, 0], bool)
    >>> in_body(kept, long, first).astype(int).tolist()
    [0, 0, 1, 1, 0, 0, 0, 0]
    """
    n = len(first)
    doc = np.cumsum(first) - 1
    anchor = np.flatnonzero(kept & long)
    top = int(doc[-1]) + 1 if n else 0
    lo, hi = np.full(top, n), np.full(top, -1)
    # anchors come in order: each document's first is the one its run of anchors starts with
    docs, at = np.unique(doc[anchor], return_index=True)
    lo[docs] = anchor[at]
    docs, at = np.unique(doc[anchor[::-1]], return_index=True)
    hi[docs] = anchor[::-1][at]
    position = np.arange(n)
    return (position > lo[doc]) & (position < hi[doc]) if n else np.zeros(0, bool)


def combine(findings: Findings, config: CleanerConfig, boilerplate_threshold: float,
            first: Optional[np.ndarray] = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(strip, reason, score)`` per block: whether it goes, a code into :data:`REASONS` (0:
    nothing found) and the finding's score (NaN when none).

    Findings are ranked template > duplicate > near-duplicate > boilerplate > off-topic: a
    template goes everywhere, first copy included; a copy names the kept block; a promo line
    inside a pasted run is reported as the boilerplate it is. The first block of a document (its
    headline) is boilerplate only from ``config.title_threshold``, and a block inside the
    article's body (see :func:`in_body`; ``findings.words`` given) only from
    ``config.body_threshold``. The first finding whose
    reason is in ``config.strip`` strips the block; otherwise the first finding is reported on
    a kept block (flagged).

    The blocks may be those of several documents, one after the other: ``first`` marks the
    first block of each (default: the findings are one document's).
    """
    detect, strip_reasons = config.detect, config.strip
    copies = findings.copies
    n = len(copies)
    no = np.zeros(n, bool)
    found = []  # (reason code per block, present, score, may strip), in rank order
    if "template" in detect and findings.template is not None:
        found.append((1, findings.template > 0, findings.template, "template" in strip_reasons))
    detected, may_strip = _copy_finding(copies, config)
    found.append((_COPY_TO_REASON[copies.reason], detected, copies.score, may_strip))
    if "boilerplate" in detect and findings.boilerplate is not None:
        if first is None:
            first = np.arange(n) == 0
        limit = np.where(first, config.title_threshold, boilerplate_threshold)
        if findings.words is not None:
            body = in_body(findings.boilerplate < boilerplate_threshold, findings.words >= config.body_words, first)
            limit = np.where(body, np.maximum(limit, config.body_threshold), limit)
        found.append((4, findings.boilerplate >= limit, findings.boilerplate, "boilerplate" in strip_reasons))
    if "off-topic" in detect and findings.offtopic_flags is not None:
        found.append((5, np.asarray(findings.offtopic_flags, bool), findings.offtopic, "off-topic" in strip_reasons))
    strip, reason, score = no.copy(), np.zeros(n, np.int64), np.full(n, np.nan)
    acted, reported = no.copy(), no.copy()
    for code, present, value, may_strip in found:
        acts = present & may_strip & ~acted
        first = present & ~reported
        take = acts | (first & ~acted)
        reason = np.where(take, code, reason)
        score = np.where(take, value, score)
        strip |= acts
        acted |= acts
        reported |= present
    return strip, reason, score
