"""Word n-gram shingles, hashed to 32-bit integers in numpy.

A block's shingles are its word n-grams (``n`` = ``shingle_size``, 5 by default) after
:func:`dedupe.normalising.normalise`. A block of fewer than ``n`` words has a single shingle made
of all its words, so a short heading only matches the same heading.

Hashing is done once per distinct word, never per shingle in Python: each word gets a CRC-32
(remembered per :class:`Shingler` in a :class:`~dedupe.tokentable.TokenTable`), and the words
of an n-gram are folded together in numpy with a 64-bit FNV-1a style step,
``h = (h XOR w) * 0x100000001B3 mod 2**64``, starting from the offset basis
``0xCBF29CE484222325``. The 32-bit shingle hash is ``(h >> 32) XOR (h mod 2**32)``.

:func:`shingle_hash` computes the same value from the shingle's bytes (the words joined by a
single space), so it can be handed to ``datasketch.MinHash(hashfunc=shingle_hash)`` to get
exactly the signatures :class:`dedupe.minhash.MinHasher` computes.

Example
-------
>>> sh = Shingler(shingle_size=2)
>>> batch = sh.shingle(["The cat sat", "A dog"])
>>> batch.offsets.tolist()          # block i owns hashes[offsets[i]:offsets[i + 1]]
[0, 2, 3]
>>> int(batch.hashes[0]) == shingle_hash(b"the cat")
True
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from typing import Optional

import numpy as np

from . import native
from .normalising import fold_spelling, normalised_tokens
from .tokentable import TokenTable, spans

FNV_OFFSET = np.uint64(0xCBF29CE484222325)
FNV_PRIME = np.uint64(0x100000001B3)
_MASK32 = np.uint64(0xFFFFFFFF)
_SHIFT32 = np.uint64(32)


def _fold(word_hashes: np.ndarray) -> np.ndarray:
    """Fold rows of word hashes (shape (m, k), uint64) into one 32-bit hash per row."""
    h = np.full(word_hashes.shape[0], FNV_OFFSET, dtype=np.uint64)
    for i in range(word_hashes.shape[1]):
        h = (h ^ word_hashes[:, i]) * FNV_PRIME
    return ((h >> _SHIFT32) ^ (h & _MASK32)).astype(np.uint32)


def shingle_hash(shingle: bytes) -> int:
    """The 32-bit hash of one shingle given as UTF-8 bytes, words separated by one space.

    A reference implementation: slow, for interoperability (``datasketch.MinHash(hashfunc=...)``)
    and tests. :class:`Shingler` computes the same values in bulk.
    """
    words = np.array([zlib.crc32(w) for w in shingle.split(b" ")], dtype=np.uint64)
    return int(_fold(words[None, :])[0])


@dataclass
class ShingleBatch:
    """The shingles of a batch of blocks, flattened.

    ``hashes[offsets[i]:offsets[i + 1]]`` are block ``i``'s shingle hashes (uint32, at least one
    per block); ``exact[i]`` is a 64-bit hash of block ``i``'s whole normalised text (equal
    values mean the blocks are identical after normalising); ``words[i]`` its word count;
    ``numbers[i]`` the numbers it states, as a 64-bit set (a bit per number's hash: a number
    one block holds and another lacks sets a bit of the one the other's lacks, nearly always).
    """

    hashes: np.ndarray
    offsets: np.ndarray
    exact: np.ndarray
    words: np.ndarray
    numbers: Optional[np.ndarray] = None

    @property
    def sizes(self) -> np.ndarray:
        return np.diff(self.offsets)


def word_hash(word: bytes) -> int:
    """CRC-32 of the spelling-folded form of one normalised word (UTF-8)."""
    return zlib.crc32(fold_spelling(word.decode("utf-8", "surrogatepass")).encode("utf-8", "surrogatepass"))


class Shingler:
    """Turns block texts into hashed word n-gram shingles.

    Parameters
    ----------
    shingle_size : int, default 5
        Words per shingle.
    cache_size : int, default 2_000_000
        Distinct words whose hashes are remembered; the cache is emptied when it grows past
        this, which bounds memory on endless streams.
    """

    def __init__(self, shingle_size: int = 5, cache_size: int = 2_000_000):
        self.shingle_size = shingle_size
        self.cache_size = cache_size
        self._hashes = TokenTable(word_hash, np.uint64, limit=cache_size)

    def _word_hashes(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The hashes of all words of the texts, flattened, how many each text has (at least
        one: a symbol-only block such as "•" is represented by its raw text) and the set of
        numbers of each (see :class:`ShingleBatch`)."""
        data, starts, ends, counts = normalised_tokens(texts)
        hashes = self._hashes.lookup_spans(data, starts, ends)
        numbers = _number_sets(np.frombuffer(data, np.uint8), starts, hashes, counts)
        empty = np.flatnonzero(counts == 0)
        if len(empty):
            at = np.cumsum(counts)[empty] - counts[empty]   # where the block's words would begin
            stand_ins = [word_hash(texts[i].strip().encode("utf-8", "surrogatepass") or b"_") for i in empty.tolist()]
            hashes = np.insert(hashes, at, np.array(stand_ins, np.uint64))
            counts[empty] = 1
        return hashes, counts, numbers

    def shingle(self, texts: list[str]) -> ShingleBatch:
        """Shingle a batch of block texts."""
        n = self.shingle_size
        word_hashes, counts, numbers = self._word_hashes(texts)
        starts = np.zeros(len(texts) + 1, dtype=np.int64)
        np.cumsum(counts, out=starts[1:])

        n_shingles = np.where(counts >= n, counts - n + 1, 1)
        offsets = np.zeros(len(texts) + 1, dtype=np.int64)
        np.cumsum(n_shingles, out=offsets[1:])
        kernels = native.load()
        if kernels is not None:
            hashes = kernels.fold_shingles(word_hashes, starts, offsets, n)
        else:
            hashes = _fold_shingles(word_hashes, starts, offsets, n)
        return ShingleBatch(hashes=hashes, offsets=offsets, exact=sequence_hashes(word_hashes, starts), words=counts,
                            numbers=numbers)


def _number_sets(data: np.ndarray, starts: np.ndarray, hashes: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Per text (with ``counts`` words each, in order), the 64-bit set of its words that begin
    with a digit ("12", "2024", "20c"), a bit per word, chosen by its hash.

    >>> data = np.frombuffer(b"won 3 1 at home in 2024", np.uint8)
    >>> starts = np.array([0, 4, 6, 8, 11, 16, 19])
    >>> sets = _number_sets(data, starts, np.arange(7, dtype=np.uint64), np.array([4, 0, 3]))
    >>> [bin(int(s)) for s in sets]
    ['0b110', '0b0', '0b1000000']
    """
    numbers = np.zeros(len(counts), np.uint64)
    at = np.flatnonzero(data[starts] - np.uint8(48) < 10) if len(starts) else starts
    if not len(at):
        return numbers
    text_of = np.searchsorted(np.cumsum(counts), at, side="right")
    bits = np.left_shift(np.uint64(1), hashes[at] & np.uint64(63))
    first = np.flatnonzero(np.r_[True, text_of[1:] != text_of[:-1]])
    numbers[text_of[first]] = np.bitwise_or.reduceat(bits, first)
    return numbers


def _fold_shingles(word_hashes: np.ndarray, starts: np.ndarray, offsets: np.ndarray, n: int) -> np.ndarray:
    """Block b's shingle hashes at ``offsets[b]:offsets[b + 1]``, from its word hashes at
    ``starts[b]:starts[b + 1]`` (at least one)."""
    counts = np.diff(starts)
    n_shingles = np.diff(offsets)
    hashes = np.empty(offsets[-1], dtype=np.uint32)
    # Long blocks: every window of n words that stays inside its block.
    long_blocks = np.flatnonzero(counts >= n)
    if long_blocks.size:
        dest = spans(offsets[long_blocks], n_shingles[long_blocks])
        first = np.repeat(starts[long_blocks] - offsets[long_blocks], n_shingles[long_blocks])
        hashes[dest] = _fold(word_hashes[(dest + first)[:, None] + np.arange(n)])
    # Short blocks: one shingle of all their words.
    for b in np.flatnonzero(counts < n):
        hashes[offsets[b]] = _fold(word_hashes[None, starts[b]:starts[b + 1]])[0]
    return hashes


def sequence_hashes(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """64-bit hash of each sequence ``values[starts[i]:starts[i + 1]]`` (uint64 values): sum of
    value x K^position (mod 2^64), mixed, and the length, so equal hashes mean equal sequences
    (up to 2^-64 collisions). An empty sequence hashes to 0."""
    kernels = native.load()
    if kernels is not None:
        return kernels.sequence_hashes(values, starts)
    starts = np.asarray(starts, np.int64)
    lengths = np.diff(starts)
    out = np.zeros(len(lengths), dtype=np.uint64)
    some = lengths > 0
    if len(values):
        position = np.arange(len(values)) - np.repeat(starts[:-1], lengths)
        mixed = (values + np.uint64(0x9E3779B97F4A7C15)) * _POWERS[np.minimum(position, len(_POWERS) - 1)]
        mixed ^= mixed >> np.uint64(29)
        # a non-empty sequence's sum runs to the next non-empty one's start, i.e. its own end
        out[some] = np.add.reduceat(mixed, starts[:-1][some])
    return out ^ (lengths.astype(np.uint64) * np.uint64(0xD6E8FEB86659FD93))


# K^0, K^1, ... (mod 2^64; array arithmetic wraps silently)
_POWERS = np.concatenate((np.ones(1, dtype=np.uint64),
                          np.multiply.accumulate(np.full((1 << 16) - 1, 0x100000001B3, dtype=np.uint64))))
