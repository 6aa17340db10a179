"""MinHash signatures for a batch of blocks at once, identical to ``datasketch.MinHash``.

For a set of shingle hashes :math:`S` and permutations :math:`(a_k, b_k)`, datasketch's default
scheme (``"affine32"``, datasketch >= 2.0) computes

.. math::

    \\mathrm{sig}_k(S) = \\min_{x \\in S} \\big(a_k \\cdot \\mathrm{fmix32}(x) + b_k\\big) \\bmod 2^{32}

where fmix32 is the MurmurHash3 finalizer and :math:`a_k` is odd. Two sets agree on coordinate
:math:`k` with probability equal to their Jaccard similarity :math:`J = |A \\cap B| / |A \\cup B|`,
so the share of agreeing coordinates estimates :math:`J` with standard error
:math:`\\sqrt{J(1-J)/\\text{num\\_perm}}` (0.035 at J = 0.8 with 128 permutations).

:class:`MinHasher` applies all permutations to all shingles of a batch in one numpy expression and
takes per-block minima with ``np.minimum.reduceat``: no Python call per shingle. The permutations
are drawn as ``datasketch.MinHash(num_perm, seed)`` draws them (:func:`affine32_permutations`;
a test holds the two equal), so for the same ``num_perm``, ``seed`` and hash function the
hashvalues are the same.

Example
-------
>>> import numpy as np
>>> from datasketch import MinHash
>>> from dedupe.shingling import Shingler, shingle_hash
>>> batch = Shingler(shingle_size=2).shingle(["the cat sat on the mat"])
>>> sig = MinHasher(num_perm=16).signatures(batch.hashes, batch.offsets)
>>> m = MinHash(num_perm=16, hashfunc=shingle_hash)
>>> for s in [b"the cat", b"cat sat", b"sat on", b"on the", b"the mat"]:
...     m.update(s)
>>> bool((m.hashvalues == sig[0]).all())
True
"""

from __future__ import annotations

import numpy as np

from . import native

_MAX32 = np.uint32(0xFFFFFFFF)


def affine32_permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``(a, b)`` of ``datasketch.MinHash(num_perm, seed=seed, scheme="affine32")``: odd
    ``a`` (so ``x -> a x + b mod 2**32`` is a bijection) and any ``b``, from ``RandomState(seed)``.
    Drawn here rather than taken from datasketch, whose import costs half a second a run."""
    gen = np.random.RandomState(seed)
    a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    return a, b


def fmix32(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finalizer, element-wise (a bijection that spreads weak hashes)."""
    h = h.astype(np.uint32, copy=True)
    h ^= h >> np.uint32(16)
    h *= np.uint32(0x85EBCA6B)
    h ^= h >> np.uint32(13)
    h *= np.uint32(0xC2B2AE35)
    h ^= h >> np.uint32(16)
    return h


def fmix64(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finalizer, element-wise (a bijection that spreads every input bit);
    returns a new array."""
    h = h.astype(np.uint64, copy=True)
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xFF51AFD7ED558CCD)
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xC4CEB9FE1A85EC53)
    h ^= h >> np.uint64(33)
    return h


class MinHasher:
    """Batch MinHash with datasketch's "affine32" permutations.

    Parameters
    ----------
    num_perm : int, default 128
        Permutations (signature length).
    seed : int, default 1
        Seed of the permutations (datasketch's default is 1).
    chunk_rows : int, default 8192
        Shingles permuted per numpy step; bounds the temporary (num_perm x chunk_rows x 4
        bytes, 4 MiB by default: it stays in cache).
    """

    def __init__(self, num_perm: int = 128, seed: int = 1, chunk_rows: int = 8192):
        self.num_perm = num_perm
        self.seed = seed
        self.chunk_rows = chunk_rows
        a, b = affine32_permutations(num_perm, seed)
        self._a, self._b = a[:, None], b[:, None]

    def signatures(self, hashes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """Signatures of blocks whose shingle hashes are ``hashes[offsets[i]:offsets[i+1]]``.

        Returns an array of shape (len(offsets) - 1, num_perm), dtype uint32. Every block must
        have at least one shingle.
        """
        kernels = native.load()
        if kernels is not None:
            return kernels.minhash(hashes, offsets, self._a[:, 0], self._b[:, 0])
        n_blocks = len(offsets) - 1
        # Permutations along the rows, shingles along the columns: the per-block minima are
        # then a reduceat over contiguous memory, an order of magnitude faster than down columns.
        sig = np.full((self.num_perm, n_blocks), _MAX32, dtype=np.uint32)
        if n_blocks == 0:
            return sig.T
        owner = np.repeat(np.arange(n_blocks), np.diff(offsets))
        mixed = fmix32(hashes)
        buffer = np.empty((self.num_perm, min(self.chunk_rows, len(mixed))), dtype=np.uint32)
        for lo in range(0, len(mixed), self.chunk_rows):
            hi = min(lo + self.chunk_rows, len(mixed))
            permuted = buffer[:, : hi - lo]
            np.multiply(self._a, mixed[None, lo:hi], out=permuted)
            np.add(permuted, self._b, out=permuted)
            rows = owner[lo:hi]
            cuts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
            blocks = rows[cuts]
            sig[:, blocks] = np.minimum(sig[:, blocks], np.minimum.reduceat(permuted, cuts, axis=1))
        return np.ascontiguousarray(sig.T)
