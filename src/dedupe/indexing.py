"""The index of kept blocks: what every new block is checked against.

:class:`BlockIndex` is the small interface the cleaner needs from an index; the in-memory one
here is built on :class:`dedupe.lsh.MinHashLSHIndex`, and a persistent store (SQLite, Redis) can
implement the same methods:

- ``lookup(signatures, exact)``: for each new block, the best *verified* earlier kept block:
  an identical one (same normalised text) first, otherwise the most similar one whose estimated
  Jaccard similarity reaches the threshold;
- ``add(signatures, exact, doc_id, blocks)``: register kept blocks, returning their entry
  numbers (entry numbers are cluster ids);
- ``chunk(signatures, exact)``: the same lookups for a whole chunk of documents in one batch
  (:class:`ChunkLookup`), which is how the cleaner calls it;
- ``flush()``: make the blocks added so far part of the main tables (the cleaner calls it after
  each chunk of documents; a persistent store would commit there);
- ``ref(entry)``: the ``(doc_id, block)`` an entry points back to (and, optionally,
  ``refs(entries)`` for many at once).

Entries are every block's first occurrence, including those a detector then strips (the
cleaner learns which in the second pass, ``pipeline._Survivors``, and decides copies of them
on their own findings). That knowledge lives for one run: an index kept for a later run reads
all its entries as kept, so a store that outlives a run should record it per entry.

LSH only proposes candidates (blocks sharing a band); a candidate counts when its stored b-bit
signature agrees enough with the new block's signature, so the false positives of banding never
reach a decision.

Example
-------
>>> import numpy as np
>>> index = BlockIndex(num_perm=16, threshold=0.8)
>>> sig = np.arange(32, dtype=np.uint32).reshape(2, 16)
>>> index.add(sig, np.array([7, 8], dtype=np.uint64), "doc-a", [0, 1]).tolist()
[0, 1]
>>> match = index.lookup(sig[1:], np.array([8], dtype=np.uint64))[0]
>>> (match.entry, match.score, match.exact, index.ref(match.entry))
(1, 1.0, True, BlockRef(doc_id='doc-a', block=1))
"""

from __future__ import annotations

from typing import NamedTuple, Optional, Protocol

import numpy as np

from .lsh import MinHashLSHIndex, optimal_bands, sorted_pairs

# Missing a copy costs a stripped duplicate; a false candidate costs one signature check. The
# banding is therefore chosen with false negatives weighted four times false positives: for
# threshold 0.7 and 128 permutations that is 18 bands of 7 rows, which proposes a pair at
# Jaccard 0.8 with probability 0.986 (0.867 with equal weights).
FALSE_POSITIVE_WEIGHT, FALSE_NEGATIVE_WEIGHT = 0.2, 0.8


class BlockRef(NamedTuple):
    doc_id: str
    block: int


class Match(NamedTuple):
    """A verified earlier copy: its entry, the similarity, and whether the text is identical."""

    entry: int
    score: float
    exact: bool


class Index(Protocol):
    def lookup(self, signatures: np.ndarray, exact: np.ndarray) -> list[Optional[Match]]: ...
    def chunk(self, signatures: np.ndarray, exact: np.ndarray) -> "ChunkLookup": ...
    def add(self, signatures: np.ndarray, exact: np.ndarray, doc_id: str, blocks: list[int]) -> np.ndarray: ...
    def flush(self) -> None: ...
    def ref(self, entry: int) -> BlockRef: ...


class GrowableArray:
    """A growable 1-d numpy array (amortised appends, 1.25x head-room)."""

    def __init__(self, dtype):
        self.data = np.empty(1024, dtype=dtype)
        self.size = 0

    def extend(self, values) -> None:
        values = np.asarray(values, dtype=self.data.dtype)
        need = self.size + len(values)
        if need > len(self.data):
            grown = np.empty(max(need, int(len(self.data) * 1.25) + 1024), dtype=self.data.dtype)
            grown[: self.size] = self.data[: self.size]
            self.data = grown
        self.data[self.size:need] = values
        self.size = need

    def view(self) -> np.ndarray:
        return self.data[: self.size]


def _matches(entry: np.ndarray, score: np.ndarray, identical: np.ndarray) -> list[Optional[Match]]:
    """Per row, the :class:`Match` of arrays as :meth:`BlockIndex._best` gives them."""
    return [None if e < 0 else Match(e, s, x) for e, s, x in zip(entry.tolist(), score.tolist(), identical.tolist())]


def _better(a: Optional[Match], b: Optional[Match]) -> Optional[Match]:
    """The match one lookup over both candidate sets would pick: identical text first, then the
    highest score, then the earliest entry."""
    if a is None or b is None:
        return a or b
    return min((a, b), key=lambda m: (not m.exact, -m.score, m.entry))


class BlockIndex:
    """In-memory index of kept blocks (see the module docstring).

    Parameters
    ----------
    num_perm, threshold, bands, rows : LSH design (``bands``/``rows`` default to the optimum for
        ``threshold``).
    """

    def __init__(self, num_perm: int = 128, threshold: float = 0.8, bands: int | None = None,
                 rows: int | None = None):
        self.threshold = threshold
        if bands is None and rows is None:
            bands, rows = optimal_bands(threshold, num_perm, FALSE_POSITIVE_WEIGHT, FALSE_NEGATIVE_WEIGHT)
        # 4-bit stored signatures and 32-bit band keys: about 270 bytes an indexed block
        self._lsh = MinHashLSHIndex(num_perm=num_perm, threshold=threshold, bands=bands, rows=rows,
                                    signature_bits=4, key_bits=32)
        self._doc_ids: list[str] = []
        self._doc_of = GrowableArray(np.int32)
        self._block_of = GrowableArray(np.int32)
        self._exact = GrowableArray(np.uint64)
        # blocks added since the last flush (entries, signatures), inserted in one batch
        self._pending_entries: list[np.ndarray] = []
        self._pending_sigs: list[np.ndarray] = []
        self._pending_keys: list[Optional[np.ndarray]] = []  # their band keys, where known
        self._lsh_size = 0

    def __len__(self) -> int:
        return self._exact.size

    @property
    def nbytes(self) -> int:
        arrays = self._lsh.nbytes + self._doc_of.data.nbytes + self._block_of.data.nbytes + self._exact.data.nbytes
        return arrays + sum(len(d) + 49 for d in self._doc_ids) + 8 * len(self._doc_ids)

    @property
    def bands(self) -> int:
        return self._lsh.bands

    @property
    def rows(self) -> int:
        return self._lsh.rows

    @property
    def signature_bits(self) -> int:
        return self._lsh.signature_bits

    def lookup(self, signatures: np.ndarray, exact: np.ndarray) -> list[Optional[Match]]:
        """The best verified earlier block for each row, among every block added so far."""
        self.flush()
        return self._lookup_flushed(signatures, exact)

    def chunk(self, signatures: np.ndarray, exact: np.ndarray) -> "ChunkLookup":
        """Lookups for the blocks of a chunk of documents, searched in one batch; see
        :class:`ChunkLookup`."""
        self.flush()
        keys = self._lsh.band_keys(signatures)  # one computation for both searches
        return ChunkLookup(self, signatures, exact, self._best_flushed(signatures, exact, keys), keys)

    def _lookup_flushed(self, signatures: np.ndarray, exact: np.ndarray) -> list[Optional[Match]]:
        return _matches(*self._best_flushed(signatures, exact))

    def _best_flushed(self, signatures: np.ndarray, exact: np.ndarray, band_keys: np.ndarray | None = None
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The match of each row among the blocks in the tables, as arrays (see :meth:`_best`)."""
        if self._lsh_size == 0:
            n = len(signatures)
            return np.full(n, -1, np.int64), np.zeros(n), np.zeros(n, bool)
        rows, entries = self._lsh.query_pairs(signatures, band_keys)
        return self._best(len(signatures), rows, entries, self._exact.view()[entries] == exact[rows],
                          lambda keep: self._lsh.similarity_pairs(signatures, rows[keep], entries[keep]))

    def _best(self, n: int, rows: np.ndarray, entries: np.ndarray, same: np.ndarray, scores
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The one match a lookup returns for each of ``n`` rows among its candidates, given as
        ``(row, entry)`` pairs in row then entry order: the first with identical text (``same``),
        else the most similar (the earliest on ties) if it reaches the threshold. Returned as
        ``(entry, score, identical)`` per row, entry -1 for no match. ``scores(keep)`` gives the
        similarity of the pairs selected by the mask ``keep``; it is only asked for rows without
        an identical candidate."""
        entry_of, score_of, identical = np.full(n, -1, np.int64), np.zeros(n), np.zeros(n, bool)
        identical_rows, first = np.unique(rows[same], return_index=True)
        entry_of[identical_rows], score_of[identical_rows] = entries[same][first], 1.0
        identical[identical_rows] = True
        keep = ~np.isin(rows, identical_rows)
        if not keep.any():
            return entry_of, score_of, identical
        rows, entries, similarity = rows[keep], entries[keep], scores(keep)
        order = np.lexsort((entries, -similarity, rows))
        best_rows, best = np.unique(rows[order], return_index=True)
        best = order[best]
        good = similarity[best] >= self.threshold
        entry_of[best_rows[good]], score_of[best_rows[good]] = entries[best[good]], similarity[best[good]]
        return entry_of, score_of, identical

    def _pick_one(self, entries: list[int], same: list[bool], scores) -> Optional[Match]:
        """:meth:`_best` for one row whose candidate ``entries`` ascend, in plain Python (the
        in-chunk lookups are thousands of single rows a chunk)."""
        for entry, identical in zip(entries, same):
            if identical:
                return Match(entry, 1.0, True)
        if not entries:
            return None
        similarity = scores(np.ones(len(entries), bool)).tolist()
        best = max(range(len(entries)), key=lambda k: (similarity[k], -entries[k]))
        return Match(entries[best], similarity[best], False) if similarity[best] >= self.threshold else None

    def add(self, signatures: np.ndarray, exact: np.ndarray, doc_id: str, blocks: list[int]) -> np.ndarray:
        """Register kept blocks. They go into the LSH tables in one batch at the next
        :meth:`flush` (much cheaper than many small inserts); :meth:`lookup` flushes first, and a
        :class:`ChunkLookup` finds the blocks added during its chunk by itself."""
        return self.add_rows(signatures, exact, [doc_id], np.zeros(len(blocks), np.int64), np.asarray(blocks, np.int64))

    def flush(self) -> None:
        """Move the pending blocks into the LSH tables."""
        if self._pending_entries:
            entries = np.concatenate(self._pending_entries)
            known = None if any(k is None for k in self._pending_keys) else np.concatenate(self._pending_keys)
            self._lsh.add(np.concatenate(self._pending_sigs), entries, known)
            self._lsh_size += len(entries)
        self._pending_entries.clear()
        self._pending_sigs.clear()
        self._pending_keys.clear()

    def add_rows(self, signatures: np.ndarray, exact: np.ndarray, doc_ids: list[str], owner: np.ndarray,
                 blocks: np.ndarray, band_keys: np.ndarray | None = None) -> np.ndarray:
        """:meth:`add` for the kept blocks of several documents at once, in order: block
        ``blocks[r]`` of document ``doc_ids[owner[r]]`` (``owner`` ascending); ``band_keys``:
        the signatures' band keys, when the caller has them (a :class:`ChunkLookup` does)."""
        if len(blocks) == 0:
            return np.empty(0, dtype=np.int64)
        entries = np.arange(len(self), len(self) + len(blocks), dtype=np.int64)
        holders, counts = np.unique(owner, return_counts=True)
        numbers = []
        for holder in holders.tolist():
            if not self._doc_ids or self._doc_ids[-1] != doc_ids[holder]:
                self._doc_ids.append(doc_ids[holder])
            numbers.append(len(self._doc_ids) - 1)
        self._doc_of.extend(np.repeat(np.array(numbers, np.int64), counts))
        self._block_of.extend(blocks)
        self._exact.extend(exact)
        self._pending_entries.append(entries)
        self._pending_sigs.append(signatures)
        self._pending_keys.append(band_keys)
        return entries

    def ref(self, entry: int) -> BlockRef:
        return BlockRef(self._doc_ids[self._doc_of.data[entry]], int(self._block_of.data[entry]))

    def refs(self, entries: np.ndarray) -> list[BlockRef]:
        """:meth:`ref` of each of ``entries``, gathered at once."""
        doc_ids = map(self._doc_ids.__getitem__, self._doc_of.data[entries].tolist())
        return list(map(BlockRef, doc_ids, self._block_of.data[entries].tolist()))


class ChunkLookup:
    """Index lookups for the blocks of one chunk of documents, done as one batch.

    The chunk's blocks (rows of ``signatures``, in input order) are looked up in the LSH tables
    at once, and the band keys that several chunk blocks hold are found at once by sorting
    them. :meth:`lookup` then answers for a document's rows exactly what a lookup right before
    that document would have: the best of the tables' match and of the chunk blocks already
    :meth:`added` that share a band key with the row (same candidates, same stored bits, same
    estimate, same tie-breaks). The blocks added under each shared key are kept as they come, so
    a chunk of many alike blocks costs what they are, not the pairs among them (30,000 repeats of
    seven lines made a billion pairs).
    """

    def __init__(self, index: BlockIndex, signatures: np.ndarray, exact: np.ndarray,
                 flushed: tuple[np.ndarray, np.ndarray, np.ndarray], band_keys: np.ndarray | None = None):
        self.index, self.signatures, self.exact = index, signatures, exact
        self.best = flushed  # the tables' match per row: (entry, score, identical), entry -1 for none
        self._flushed: Optional[list[Optional[Match]]] = None
        self._entry_of: dict[int, int] = {}
        self._added_under: dict[int, list[int]] = {}  # shared key -> the rows added under it so far
        self.band_keys = index._lsh.band_keys(signatures) if band_keys is None else band_keys  # (n, bands)
        n = len(signatures)
        # the keys each row holds that other rows of the chunk hold too: row r's lie at
        # shared_pointers[r]:shared_pointers[r + 1] of shared_keys (and, numbered, shared_key_ids)
        self.shared_pointers = np.zeros(n + 1, np.int64)
        self.shared_keys, self.shared_key_ids, self.n_shared_keys = np.zeros(0, np.uint64), np.zeros(0, np.int64), 0
        if n < 2:
            return
        keys = self.band_keys.ravel()
        # within a run of equal keys, rows ascend
        keys, rows = sorted_pairs(keys, np.repeat(np.arange(n), index.bands))
        new_key = np.r_[True, keys[1:] != keys[:-1]]
        new_row = new_key | np.r_[True, rows[1:] != rows[:-1]]  # first of a (key, row): a row's two bands alike
        key_number = np.cumsum(new_key) - 1
        holders = np.bincount(key_number, weights=new_row)  # rows holding each key
        chosen = new_row & (holders[key_number] > 1)
        shared_rows = rows[chosen]
        # stable, by row; a chunk's row numbers fit 16 bits, which numpy sorts by radix (7x faster)
        by_row = np.argsort(shared_rows.astype(np.uint16) if n <= 1 << 16 else shared_rows, kind="stable")
        self.shared_keys = keys[chosen][by_row]
        # the shared keys numbered in key order (the pairs' order), as np.unique would number them
        numbers = key_number[chosen]
        dense = np.cumsum(np.r_[True, numbers[1:] != numbers[:-1]][:len(numbers)]) - 1
        self.shared_key_ids = dense[by_row]
        self.n_shared_keys = int(dense[-1]) + 1 if len(dense) else 0
        np.cumsum(np.bincount(shared_rows, minlength=n), out=self.shared_pointers[1:])

    @property
    def flushed(self) -> list[Optional[Match]]:
        """The tables' match per row, as :meth:`BlockIndex.lookup` would give it."""
        if self._flushed is None:
            self._flushed = _matches(*self.best)
        return self._flushed

    def added(self, rows: list[int], entries: np.ndarray) -> None:
        """Rows of the chunk that were registered in the index, with their entries."""
        self._entry_of.update(zip(rows, entries.tolist()))
        pointers = self.shared_pointers
        for row in rows:
            a, b = pointers[row], pointers[row + 1]
            if b > a:
                for key in self.shared_keys[a:b].tolist():
                    self._added_under.setdefault(key, []).append(row)

    def lookup(self, rows: range) -> list[Optional[Match]]:
        out = self.flushed[rows.start:rows.stop]
        # only rows that share a band key with rows of the chunk can do better (few do); the rows
        # added so far all lie in earlier documents
        pointers = self.shared_pointers
        for row in (rows.start + np.flatnonzero(np.diff(pointers[rows.start:rows.stop + 1]))).tolist():
            a, b = pointers[row], pointers[row + 1]
            earlier = {e for key in self.shared_keys[a:b].tolist() for e in self._added_under.get(key, ())}
            if earlier:
                earlier = sorted(earlier, key=self._entry_of.__getitem__)
                entries = np.array([self._entry_of[a] for a in earlier], dtype=np.int64)
                others = self.signatures[earlier]
                found = self.index._pick_one(
                    entries.tolist(), (self.exact[earlier] == self.exact[row]).tolist(),
                    lambda keep: self.index._lsh.similarity_to(self.signatures[row], others[keep]))
                out[row - rows.start] = _better(out[row - rows.start], found)
        return out
