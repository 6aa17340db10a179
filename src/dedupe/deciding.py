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
   stripped, only flagged, or ignored.
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

from dataclasses import dataclass
from typing import NamedTuple, Optional, Sequence

import numpy as np

from .config import CleanerConfig
from .indexing import Match


class Sketch(NamedTuple):
    """A document's blocks as the copy finder sees them: word counts, shingle counts, 64-bit
    hashes of the normalised texts, and MinHash signatures (one row per block)."""

    words: np.ndarray
    sizes: np.ndarray
    exact: np.ndarray
    signatures: np.ndarray


@dataclass
class Verdict:
    """What happened to one block. ``local`` is the index of the in-document block it copies,
    ``entry`` the index entry of an earlier document's block it copies (at most one is set);
    ``stays`` marks a copy that is kept all the same (a short block outside a repeated run): it
    belongs to the group of its original but is not indexed again."""

    reason: Optional[str] = None
    score: Optional[float] = None
    local: Optional[int] = None
    entry: Optional[int] = None
    stays: bool = False

    @property
    def is_copy(self) -> bool:
        return self.local is not None or self.entry is not None


def similarity_matrix(signatures: np.ndarray, chunk: int = 64) -> np.ndarray:
    """Estimated Jaccard similarity of every pair of rows (k x k, float32)."""
    k = len(signatures)
    sims = np.empty((k, k), dtype=np.float32)
    for lo in range(0, k, chunk):
        sims[lo:lo + chunk] = (signatures[lo:lo + chunk, None, :] == signatures[None, :, :]).mean(axis=-1)
    return sims


def find_copies(sketch: Sketch, cross: Sequence[Optional[Match]], config: CleanerConfig) -> list[Verdict]:
    """Rules 1-4 of the module docstring for one document's blocks."""
    signatures = sketch.signatures
    k = len(signatures)
    verdicts = [Verdict() for _ in range(k)]
    if k == 0:
        return verdicts
    short = sketch.words < config.shingle_size
    sizes = sketch.sizes.astype(np.float64)
    sims = similarity_matrix(signatures)
    use_cross = config.cross_doc != "keep"

    first_seen: dict[int, int] = {}
    exact_of = [first_seen.setdefault(h, i) for i, h in enumerate(sketch.exact.tolist())]
    scores = _in_document_scores(sims, sizes, short, config)
    best_j = scores.argmax(axis=1)
    best_score = scores[np.arange(k), best_j]
    for i in range(k):
        best: tuple | None = None  # (exact, score, earlier block)
        if exact_of[i] != i:
            best = (True, 1.0, exact_of[i])
        elif best_score[i] > 0:
            best = (False, float(best_score[i]), int(best_j[i]))
        match = cross[i] if use_cross else None
        if match is not None and (not short[i] or match.exact):
            if best is None or (match.exact, match.score) > (best[0], best[1]):
                verdicts[i] = Verdict("duplicate" if match.exact else "near-duplicate", match.score, entry=match.entry)
                continue
        if best is not None:
            exact, score, j = best
            verdicts[i] = Verdict("duplicate" if exact else "near-duplicate", score, local=j)

    _extend_runs(verdicts, sims, short, config)
    _keep_lone_short_blocks(verdicts, short)
    return verdicts


def _in_document_scores(sims: np.ndarray, sizes: np.ndarray, short: np.ndarray,
                        config: CleanerConfig) -> np.ndarray:
    """scores[i, j]: how much block ``i`` copies the earlier block ``j`` (0 where it does not,
    and for j >= i)."""
    later, earlier = sizes[:, None], sizes[None, :]
    scores = np.where(sims >= config.doc_threshold, sims, 0.0)
    contained = sims * (later + earlier) / ((1.0 + sims) * earlier)
    addition = later - earlier
    short_addition = (addition > 0) & (addition <= np.maximum(4.0, 0.6 * earlier))
    by_containment = short_addition & (contained >= config.containment)
    scores = np.where(by_containment, np.maximum(scores, np.minimum(contained, 1.0)), scores)
    scores[short, :] = 0.0
    scores[:, short] = 0.0
    return np.tril(scores, k=-1)


def _extend_runs(verdicts: list[Verdict], sims: np.ndarray, short: np.ndarray, config: CleanerConfig) -> None:
    k = len(verdicts)
    changed = True
    while changed:
        changed = False
        for i, v in enumerate(verdicts):
            if v.local is None:
                continue
            for step in (1, -1):
                a, t = i + step, v.local + step
                # `a` must lie after the original block, and `t` before `a`
                if t < 0 or a >= k or a <= v.local or t >= a:
                    continue
                if verdicts[a].is_copy or verdicts[t].is_copy or short[a] != short[t]:
                    continue
                if sims[a, t] >= config.run_threshold:
                    verdicts[a] = Verdict("near-duplicate", float(sims[a, t]), local=t)
                    changed = True


def _keep_lone_short_blocks(verdicts: list[Verdict], short: np.ndarray) -> None:
    """Short copies stay unless a neighbour is a copy too (iterated, for runs of short blocks)."""
    pending = [i for i, v in enumerate(verdicts) if short[i] and v.is_copy]
    confirmed: set[int] = set()
    grew = True
    while grew:
        grew = False
        for i in pending:
            if i in confirmed:
                continue
            for n in (i - 1, i + 1):
                if 0 <= n < len(verdicts) and verdicts[n].is_copy and (not short[n] or n in confirmed):
                    confirmed.add(i)
                    grew = True
                    break
    for i in pending:
        if i not in confirmed:
            verdicts[i].stays = True


class Copy(NamedTuple):
    """A block's copy finding after the index has registered the kept blocks: ``of`` is the
    index entry of the kept copy (-1 for a first occurrence), ``cluster`` the entry of the group
    of copies it belongs to, ``cross`` whether the kept copy is in another document."""

    reason: Optional[str]
    score: Optional[float]
    of: int
    cluster: int
    cross: bool


@dataclass
class Findings:
    """Everything known about one document's blocks; any detector may be absent (None)."""

    copies: Sequence[Copy]
    template: Optional[np.ndarray] = None       # share of the source's documents holding the block, 0 = none
    boilerplate: Optional[np.ndarray] = None    # P(boilerplate)
    offtopic: Optional[np.ndarray] = None       # off-topic run score
    offtopic_flags: Optional[np.ndarray] = None


def combine(findings: Findings, config: CleanerConfig, boilerplate_threshold: float) -> list[tuple]:
    """``(action, reason, score)`` per block.

    Findings are ranked template > duplicate > near-duplicate > boilerplate > off-topic: a
    template goes everywhere, first copy included; a copy names the kept block; a promo line
    inside a pasted run is reported as the boilerplate it is. The first block of a document (its
    headline) is boilerplate only from ``config.title_threshold``. The first finding whose reason is in ``config.strip`` strips the
    block; otherwise the first finding is reported on a kept block (flagged).
    """
    detect, strip = config.detect, config.strip
    out = []
    for i, copy in enumerate(findings.copies):
        found: list[tuple[str, float, bool]] = []  # (reason, score, may strip)
        if "template" in detect and findings.template is not None and findings.template[i] > 0:
            found.append(("template", float(findings.template[i]), True))
        if copy.reason is not None and copy.reason in detect:
            found.append((copy.reason, copy.score, not copy.cross or config.cross_doc == "strip"))
        if "boilerplate" in detect and findings.boilerplate is not None and \
                findings.boilerplate[i] >= (config.title_threshold if i == 0 else boilerplate_threshold):
            found.append(("boilerplate", float(findings.boilerplate[i]), True))
        if "off-topic" in detect and findings.offtopic_flags is not None and findings.offtopic_flags[i]:
            found.append(("off-topic", float(findings.offtopic[i]), True))
        acting = [f for f in found if f[2] and f[0] in strip]
        if acting:
            out.append(("strip", acting[0][0], acting[0][1]))
        elif found:
            out.append(("keep", found[0][0], found[0][1]))
        else:
            out.append(("keep", None, None))
    return out
