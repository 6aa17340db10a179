"""A compact MinHash-LSH index: band keys in sorted numpy runs, b-bit signatures for verification.

Banding. A signature of ``num_perm`` MinHash values is cut into ``bands`` bands of ``rows``
values (the first ``bands * rows`` values, as datasketch does). Two sets with Jaccard similarity
:math:`s` agree on a whole band with probability :math:`s^r`, so they share at least one band
-- and become candidates -- with probability

.. math::

    P(s) = 1 - (1 - s^r)^b

an S-curve whose steepest point sits near the threshold. :func:`optimal_bands` picks
:math:`(b, r)` minimising the weighted areas of false positives :math:`\\int_0^t P(s)\\,ds` and
false negatives :math:`\\int_t^1 (1 - P(s))\\,ds`, exactly as ``datasketch.MinHashLSH`` does.

Band keys. The ``rows`` uint32 values of band :math:`j` are folded into one uint64
:math:`k = \\sum_i v_i c_{j,i} \\bmod 2^{64}` (one matmul) with fixed odd 64-bit constants
:math:`c_{j,i}` that differ per band, so all bands share one table. Bands differing in a single
value never collide (:math:`d \\cdot c \\not\\equiv 0` for odd :math:`c` and :math:`0 < |d| < 2^{32}`);
other pairs of MinHash bands collide with probability about :math:`2^{-64}`, so at 20 million
paragraphs x 9 bands the index expects no spurious candidate in its lifetime: candidates are
those of an exact-bytes table such as datasketch's. The top bits of such a multiplicative sum
are well spread, which is all the bucket directory below needs.

Table layout. The (band key -> entry position) multimap is a leveled log-structured merge of
sorted runs: level :math:`i` holds one run of at most ``base * ratio**i`` pairs and overflows
into level :math:`i+1`, so ``add`` costs amortised :math:`O(\\text{ratio} \\cdot \\log n)` element
copies and a query visits :math:`O(\\log n)` runs. Each run carries a directory of bucket starts
indexed by the top bits of the key (about 4-8 keys per bucket), so a lookup costs a couple of
cache misses rather than the ~25 of a binary search over a 100-million-entry array.
(Measured: 180 band keys against a 9-million-pair run take ~200 us with ``np.searchsorted``,
~10 us through the directory.)

Verification. Only the low ``signature_bits`` of each hashvalue are stored. Two sets agree on a
coordinate with probability :math:`J`; when they do not, their low :math:`b` bits still agree with
probability :math:`2^{-b}`, so :math:`P_{match} = J + (1 - J)2^{-b}` and
:math:`\\hat J = (P_{match} - 2^{-b}) / (1 - 2^{-b})`.

Memory per indexed entry, with the defaults (128 permutations, 9 bands of 13 rows, 8 bits):
9 x (8-byte key + 4-byte position + 1-2 bytes of directory) + 128 bytes of signature + 8 bytes
of caller key, about 260 bytes.

Example
-------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> sigs = rng.integers(0, 2**32, size=(3, 128), dtype=np.uint32)
>>> index = MinHashLSHIndex(num_perm=128, threshold=0.8)
>>> (index.bands, index.rows)
(9, 13)
>>> index.add(sigs, np.array([10, 11, 12]))
>>> near = sigs[1].copy(); near[:13] += 1          # band 0 differs, bands 1-8 agree
>>> [c.tolist() for c in index.query(np.stack([near, sigs[2]]))]
[[11], [12]]
>>> index.similarity(sigs[1], np.array([11, 12])).round(2).tolist()
[1.0, 0.0]
"""

from __future__ import annotations

import functools
import mmap
import sys

import numpy as np

from dedupe import native
from dedupe.errors import ConfigError
from dedupe.minhash import fmix64

_U64 = np.uint64
_MAX_ENTRIES = 2**32 - 1  # entry positions are stored as uint32


# --------------------------------------------------------------------------- parameters


@functools.lru_cache(maxsize=64)
def optimal_bands(
    threshold: float,
    num_perm: int,
    false_positive_weight: float = 0.5,
    false_negative_weight: float = 0.5,
) -> tuple[int, int]:
    """(bands, rows) minimising ``fp_weight * FP + fn_weight * FN`` over ``bands * rows <= num_perm``.

    FP and FN are the integrals in the module docstring, scanned in the same order as
    ``datasketch.lsh._optimal_param`` so that ties break the same way (a test holds the results
    equal). datasketch integrates with ``scipy.integrate.quad``; here Gauss-Legendre quadrature
    does it for every ``(b, r)`` at once, and is exact: the integrand :math:`1 - (1 - s^r)^b` is a
    polynomial of degree :math:`br \\le` ``num_perm``, and ``n`` nodes integrate every polynomial
    of degree up to ``2n - 1`` exactly (importing scipy.integrate alone cost half a second).
    With a weight of 0 the minimum is a plateau of near-zero errors, where quad's rounding
    decides between equally good designs; there the two can differ.

    >>> optimal_bands(0.8, 128)
    (9, 13)
    """
    _check_threshold(threshold)
    _check_positive_int("num_perm", num_perm)
    for name, w in (("false_positive_weight", false_positive_weight),
                    ("false_negative_weight", false_negative_weight)):
        if not 0.0 <= w <= 1.0:
            raise ConfigError(f"{name} must be in [0, 1], got {w!r}")

    b, r = np.array([(b, r) for b in range(1, num_perm + 1) for r in range(1, num_perm // b + 1)]).T
    nodes, weights = np.polynomial.legendre.leggauss(num_perm // 2 + 1)

    def integral(low: float, high: float, complement: bool) -> np.ndarray:
        s = (high - low) / 2 * nodes + (high + low) / 2           # nodes moved from [-1, 1]
        candidate = 1 - (1 - s[None, :] ** r[:, None]) ** b[:, None]
        return (high - low) / 2 * ((1 - candidate if complement else candidate) @ weights)

    error = (integral(0.0, threshold, False) * false_positive_weight
             + integral(threshold, 1.0, True) * false_negative_weight)
    best = int(np.argmin(error))  # the first of equal minima, as the strict < of the scan
    return int(b[best]), int(r[best])


def _check_threshold(threshold) -> None:
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.floating)) \
            or not 0.0 < float(threshold) < 1.0:
        raise ConfigError(f"threshold must be a number strictly between 0 and 1, got {threshold!r}")


def _check_positive_int(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")


def _resolve_params(num_perm, threshold, bands, rows, signature_bits, key_bits=64) -> tuple[int, int]:
    """Validate the index parameters in one place; return (bands, rows)."""
    _check_positive_int("num_perm", num_perm)
    _check_threshold(threshold)
    if signature_bits not in (4, 8, 16) or isinstance(signature_bits, bool):
        raise ConfigError(f"signature_bits must be 4, 8 or 16, got {signature_bits!r}")
    if key_bits not in (32, 64) or isinstance(key_bits, bool):
        raise ConfigError(f"key_bits must be 32 or 64, got {key_bits!r}")
    if signature_bits == 4 and num_perm % 2:
        raise ConfigError("4-bit signatures pack two values a byte: num_perm must be even")
    if (bands is None) != (rows is None):
        raise ConfigError("give both bands and rows, or neither (they are then derived from the threshold)")
    if bands is None:
        return optimal_bands(float(threshold), int(num_perm))
    _check_positive_int("bands", bands)
    _check_positive_int("rows", rows)
    if bands * rows > num_perm:
        raise ConfigError(
            f"bands * rows = {bands} * {rows} = {bands * rows} exceeds num_perm = {num_perm}: "
            "lower bands or rows, or use longer signatures"
        )
    return int(bands), int(rows)


# --------------------------------------------------------------------------- hashing


def equal_runs_pairs(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions ``(later, earlier)``, ``earlier < later``, of every two entries of ``values``
    that are equal and in the same run of equal values (``values`` sorted, or at least grouped):
    the candidate pairs of a band-key or signature-column sort, in numpy (a run of g entries
    gives g (g - 1) / 2 pairs).

    >>> later, earlier = equal_runs_pairs(np.array([3, 5, 5, 5, 7]))
    >>> later.tolist(), earlier.tolist()
    ([2, 3, 3], [1, 1, 2])
    """
    new_run = np.r_[True, values[1:] != values[:-1]]
    run_start = np.flatnonzero(new_run)[np.cumsum(new_run) - 1]
    before = np.arange(len(values)) - run_start  # earlier members of the entry's run
    later = np.repeat(np.arange(len(values)), before)
    offset = np.arange(len(later)) - np.repeat(np.cumsum(before) - before, before)
    return later, np.repeat(run_start, before) + offset


def sorted_pairs(keys: np.ndarray, vals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(keys, vals)`` ordered by key, as a stable sort by key would order them, for values
    that never decrease along the input (entry positions, row numbers).

    Then "by key, then value" is the same order, and 32-bit keys and values sort as one array of
    64-bit composites: one ``np.sort`` instead of an argsort and two gathers (a chunk's 68k band
    keys: 3.6 against 5.5 ms), or, with the compiled kernels, a radix sort of the composites by
    their key half (100k keys: 1.1 against 5.5 ms for ``np.sort``).

    >>> k, v = sorted_pairs(np.array([7, 3, 7, 3], np.uint32), np.array([0, 1, 2, 3], np.uint32))
    >>> k.tolist(), v.tolist()
    ([3, 3, 7, 7], [1, 3, 0, 2])
    """
    if keys.dtype == np.uint32 and len(vals) and 0 <= vals.min() and vals.max() < 2**32 \
            and (len(vals) < 2 or bool((vals[1:] >= vals[:-1]).all())):
        both = (keys.astype(_U64) << _U64(32)) | vals.astype(_U64)
        kernels = native.load()
        both = kernels.sort_pairs(both) if kernels is not None else np.sort(both)
        return (both >> _U64(32)).astype(np.uint32), (both & _U64(0xFFFFFFFF)).astype(vals.dtype)
    order = np.argsort(keys, kind="stable")
    return keys[order], vals[order]


def _band_constants(bands: int, rows: int) -> np.ndarray:
    """Fixed odd multipliers, one per (band, row), from a splitmix64 stream (no randomness)."""
    x = np.arange(1, bands * rows + 1, dtype=_U64) * _U64(0x9E3779B97F4A7C15)
    return (fmix64(x) | _U64(1)).reshape(bands, rows)


# --------------------------------------------------------------------------- sorted runs


class _Run:
    """One sorted run of (uint64 key, uint32 value) pairs with a top-bits bucket directory.

    ``start[q >> shift]`` .. ``start[(q >> shift) + 1]`` is the slice of ``keys`` that can hold
    ``q``. The directory has n/4 to n/2 buckets (1-2 bytes per pair as uint32), so a bucket
    holds 2-4 keys on average and is compared in full.

    With the compiled kernels a run that has absorbed others keeps its pairs in two anonymous
    memory maps of exactly their size (:class:`_Pairs`), which grow in place (``mremap``) as it
    absorbs more.
    """

    __slots__ = ("keys", "vals", "start", "shift", "pairs")

    def __init__(self, keys: np.ndarray, vals: np.ndarray, pairs: "_Pairs | None" = None):
        self.keys, self.vals, self.pairs = keys, vals, pairs
        bits = max(1, len(keys).bit_length() - 2)
        self.shift = keys.dtype.type(keys.dtype.itemsize * 8 - bits)
        kernels = native.load()
        if kernels is not None and len(keys) < 2**32 and keys.dtype in (np.uint32, np.uint64):
            self.start = kernels.run_directory(keys, int(self.shift), 1 << bits)
            return
        counts = np.bincount((keys >> self.shift).astype(np.intp), minlength=1 << bits)
        self.start = np.zeros((1 << bits) + 1, dtype=np.uint32 if len(keys) < 2**32 else np.int64)
        np.cumsum(counts, out=self.start[1:])

    def __len__(self) -> int:
        return len(self.keys)

    @property
    def nbytes(self) -> int:
        return self.keys.nbytes + self.vals.nbytes + self.start.nbytes


class _Pairs:
    """The keys and values of a run in two private anonymous memory maps, grown in place.

    Merging a batch into a run used to write the merged pairs into new arrays; each one is
    fresh memory, which the operating system zeroes before use, and every pair is rewritten a
    few times per level of the LSM: on the first 100k documents of the 1M benchmark dump, 8.5%
    of the run was the operating system clearing pages for those arrays. Growing the run's own
    maps (``mremap``) and merging into them from the back leaves only the new pairs' room to
    clear. A map cannot be resized while a view of it is alive, so :meth:`views` hands out the
    only ones and :meth:`grow` takes them back first.
    """

    def __init__(self, dtype, n: int):
        self.dtype = np.dtype(dtype)
        self._maps = [self._map(max(n, 1) * size) for size in (self.dtype.itemsize, 4)]

    @staticmethod
    def _map(size: int) -> mmap.mmap:
        area = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        _huge_pages(area)
        return area

    def views(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        return (np.frombuffer(self._maps[0], self.dtype, n), np.frombuffer(self._maps[1], np.uint32, n))

    def grow(self, n: int) -> None:
        """Room for ``n`` pairs; every view must have been dropped."""
        for area, size in zip(self._maps, (self.dtype.itemsize, 4)):
            area.resize(max(n, 1) * size)
            _huge_pages(area)

    def close(self) -> None:
        for area in self._maps:
            area.close()


_GROWABLE = sys.platform.startswith("linux")  # mmap.resize of an anonymous map is mremap there


def _huge_pages(area: mmap.mmap) -> None:
    # what numpy asks for its own large arrays: fewer TLB misses for the lookups' random reads
    if hasattr(mmap, "MADV_HUGEPAGE"):
        try:
            area.madvise(mmap.MADV_HUGEPAGE)
        except OSError:
            pass


def _merge(big: _Run, keys: np.ndarray, vals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Merge sorted (keys, vals) into run ``big``, new pairs after the old ones of an equal key,
    as new arrays: O(n + m log n), no full re-sort."""
    m, n = len(keys), len(big)
    ins = np.searchsorted(big.keys, keys, side="right") + np.arange(m)
    out_k = np.empty(n + m, dtype=keys.dtype)
    out_v = np.empty(n + m, dtype=np.uint32)
    keep = np.ones(n + m, dtype=bool)
    keep[ins] = False
    out_k[ins], out_v[ins] = keys, vals
    out_k[keep], out_v[keep] = big.keys, big.vals
    return out_k, out_v


def _absorbed(run: _Run, keys: np.ndarray, vals: np.ndarray) -> tuple[np.ndarray, np.ndarray, "_Pairs | None"]:
    """``_merge(run, keys, vals)``, in ``run``'s own growing maps where the kernels run (the
    run is spent either way: its arrays are no longer to be read)."""
    kernels = native.load()
    if (kernels is None or not _GROWABLE or keys.dtype != run.keys.dtype
            or keys.dtype not in (np.uint32, np.uint64) or run.vals.dtype != np.uint32):
        return (*_merge(run, keys, vals), None)
    n, m = len(run), len(keys)
    pairs = run.pairs
    if pairs is None:  # the run's first merge: its pairs move into maps of their own
        pairs = _Pairs(keys.dtype, n + m)
        old_keys, old_vals = pairs.views(n)
        old_keys[:], old_vals[:] = run.keys, run.vals
        del old_keys, old_vals
    run.keys = run.vals = run.start = None  # the views go before the maps are resized
    try:
        pairs.grow(n + m)
    except BaseException:  # out of memory: the run is left as it was
        _Run.__init__(run, *pairs.views(n), pairs)
        raise
    out_keys, out_vals = pairs.views(n + m)
    kernels.merge_in_place(out_keys, out_vals, n, keys, vals)
    return out_keys, out_vals, pairs


class _SortedMultimap:
    """uint64 -> uint32 multimap as a leveled LSM of :class:`_Run` (level i holds <= base*ratio**i).

    ``ratio`` trades add cost (each pair is rewritten ~ratio/2 times per level) against query cost
    (one run per level). Runs are exact-size arrays, so there is no over-allocation slack; with
    the compiled kernels a level grows in place (see :class:`_Pairs`).
    """

    def __init__(self, base: int = 4096, ratio: int = 8):
        self.base, self.ratio = base, ratio
        self.levels: list[_Run | None] = []

    def __len__(self) -> int:
        return sum(len(r) for r in self.levels if r is not None)

    @property
    def nbytes(self) -> int:
        return sum(r.nbytes for r in self.levels if r is not None)

    def add(self, keys: np.ndarray, vals: np.ndarray) -> None:
        keys, vals = sorted_pairs(keys, vals)
        pairs = None  # the maps holding (keys, vals) when they are a run carried down
        level = 0
        while True:
            if level == len(self.levels):
                self.levels.append(None)
            run = self.levels[level]
            if run is not None:
                carried = pairs
                keys, vals, pairs = _absorbed(run, keys, vals)
                if carried is not None:
                    carried.close()
            if len(keys) <= self.base * self.ratio**level:
                self.levels[level] = _Run(keys, vals, pairs)
                return
            self.levels[level] = None  # overflow: carry the merged run one level down
            level += 1

    def lookup(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(query index, value) for every stored pair whose key equals some ``q[i]``.

        The runs are searched together: each run's directory gives every query a bucket
        [lo, lo + cnt); the buckets of all runs are expanded into one slot array and compared
        in one pass, so the per-run cost is a handful of small gathers.
        """
        runs = [r for r in self.levels if r is not None]
        m = len(q)
        if not runs or m == 0:
            return np.empty(0, np.intp), np.empty(0, np.uint32)
        kernels = native.load()
        if kernels is not None and all(r.keys.dtype == q.dtype and r.vals.dtype == r.start.dtype == np.uint32
                                         for r in runs):
            found = [kernels.run_lookup(r.keys, r.vals, r.start, r.shift, q) for r in runs]
            return np.concatenate([f[0] for f in found]), np.concatenate([f[1] for f in found])
        los, cnts = [], []
        for run in runs:
            bucket = (q >> run.shift).astype(np.intp)
            lo = run.start[bucket]
            los.append(lo)
            cnts.append(run.start[1:][bucket] - lo)
        lo = np.concatenate(los).astype(np.intp)
        cnt = np.concatenate(cnts).astype(np.intp)
        ends = np.cumsum(cnt)
        total = int(ends[-1])
        # slot -> (query number, index inside its run), without a Python loop per query
        owner = np.repeat(np.tile(np.arange(m), len(runs)), cnt)
        idx = np.arange(total) + np.repeat(lo - ends + cnt, cnt)
        bounds = [0] + ends[m - 1 :: m].tolist()
        stored = np.concatenate([r.keys[idx[a:b]] for r, a, b in zip(runs, bounds, bounds[1:])])
        hits = np.flatnonzero(stored == q[owner])
        if len(hits) == 0:
            return np.empty(0, np.intp), np.empty(0, np.uint32)
        cut = np.searchsorted(hits, bounds).tolist()
        vals = np.concatenate([r.vals[idx[hits[a:b]]] for r, a, b in zip(runs, cut, cut[1:])])
        return owner[hits], vals


# --------------------------------------------------------------------------- row storage


class _RowStore:
    """Append-only rows kept in fixed-size chunks, so growing never copies (or doubles) it all.

    The first chunk grows by doubling up to ``chunk_rows``; later chunks are allocated whole,
    so the slack is below one chunk (2 MB for 128 uint8 columns).
    """

    def __init__(self, width: int, dtype, chunk_rows: int = 1 << 14):
        self.width, self.dtype, self.chunk_rows = width, np.dtype(dtype), chunk_rows
        self.shift = chunk_rows.bit_length() - 1
        assert 1 << self.shift == chunk_rows
        self.chunks: list[np.ndarray] = []
        self.n = 0

    @property
    def nbytes(self) -> int:
        return sum(c.nbytes for c in self.chunks)

    def append(self, rows: np.ndarray) -> None:
        done = 0
        while done < len(rows):
            used = self.n - (len(self.chunks) - 1) * self.chunk_rows if self.chunks else 0
            if not self.chunks or used == len(self.chunks[-1]):
                if self.chunks and len(self.chunks[-1]) < self.chunk_rows:
                    size = min(max(2 * used, used + len(rows) - done), self.chunk_rows)
                    grown = np.empty((size, self.width), self.dtype)
                    grown[:used] = self.chunks[-1]
                    self.chunks[-1] = grown
                else:
                    first = not self.chunks
                    size = min(max(64, len(rows)), self.chunk_rows) if first else self.chunk_rows
                    self.chunks.append(np.empty((size, self.width), self.dtype))
                    used = 0
            take = min(len(rows) - done, len(self.chunks[-1]) - used)
            self.chunks[-1][used:used + take] = rows[done:done + take]
            done += take
            self.n += take

    def take(self, pos: np.ndarray) -> np.ndarray:
        if len(self.chunks) == 1:
            return self.chunks[0][pos]
        chunk, off = pos >> self.shift, pos & (self.chunk_rows - 1)
        out = np.empty((len(pos), self.width), self.dtype)
        for c in np.unique(chunk):
            sel = chunk == c
            out[sel] = self.chunks[c][off[sel]]
        return out


# --------------------------------------------------------------------------- the index


class MinHashLSHIndex:
    """In-memory MinHash-LSH over int64 caller keys; see the module docstring for the maths.

    ``query`` returns candidates sharing at least one band (what ``datasketch.MinHashLSH``
    returns with the same ``(bands, rows)``); ``similarity`` then estimates their Jaccard
    similarity from the stored low bits. Entries cannot be removed.
    """

    def __init__(self, num_perm: int = 128, threshold: float = 0.8, bands: int | None = None,
                 rows: int | None = None, signature_bits: int = 8, key_bits: int = 64):
        self.bands, self.rows = _resolve_params(num_perm, threshold, bands, rows, signature_bits, key_bits)
        self.num_perm, self.threshold = int(num_perm), float(threshold)
        self.signature_bits = signature_bits
        # 32-bit band keys halve the table; their collisions only add candidates that the
        # signature check then rejects (a band key collides with ~n / 2**32 stored keys).
        self.key_bits = key_bits
        self._low_dtype = np.uint16 if signature_bits == 16 else np.uint8
        self._consts = _band_constants(self.bands, self.rows)
        self._table = _SortedMultimap()
        # 4-bit values are packed two a byte
        self._sigs = _RowStore(self.num_perm // 2 if signature_bits == 4 else self.num_perm, self._low_dtype)
        self._keys = np.empty(0, dtype=np.int64)  # caller key by entry position (with slack)
        self._n = 0
        # While keys arrive in increasing order, _keys[:n] is sorted and searchsorted maps key ->
        # position; the first out-of-order key switches to an explicit key -> position table.
        self._key_table: _SortedMultimap | None = None

    def __len__(self) -> int:
        return self._n

    @property
    def nbytes(self) -> int:
        """Bytes held by the index's arrays (allocated capacity, slack included)."""
        extra = self._key_table.nbytes if self._key_table is not None else 0
        return self._table.nbytes + self._sigs.nbytes + self._keys.nbytes + self._consts.nbytes + extra

    # ------------------------------------------------------------------ validation

    def _check_signatures(self, signatures, ndim: int = 2) -> np.ndarray:
        sig = signatures if isinstance(signatures, np.ndarray) else np.asarray(signatures)
        want = "(n, num_perm)" if ndim == 2 else "(num_perm,)"
        if sig.ndim != ndim or sig.shape[-1] != self.num_perm:
            raise ConfigError(f"signatures must have shape {want} with num_perm = {self.num_perm}, "
                              f"got shape {sig.shape}")
        if sig.dtype != np.uint32:
            raise ConfigError(f"signatures must be uint32 MinHash hashvalues, got dtype {sig.dtype}")
        return sig

    @staticmethod
    def _check_keys(keys, n: int | None = None) -> np.ndarray:
        k = np.asarray(keys)
        if k.ndim != 1 or (n is not None and len(k) != n):
            raise ConfigError(f"keys must be a 1-D array of {n} integers, got shape {k.shape}")
        if len(k) and k.dtype.kind not in "iu":
            raise ConfigError(f"keys must be integers, got dtype {k.dtype}")
        if k.dtype == np.uint64 and len(k) and k.max() > np.iinfo(np.int64).max:
            raise ConfigError("keys must fit in int64")
        return k.astype(np.int64, copy=False)

    # ------------------------------------------------------------------ operations

    def band_keys(self, signatures: np.ndarray) -> np.ndarray:
        """(n, bands) uint64 band keys: a per-band linear fold of the band's rows mod 2**64."""
        sig = self._check_signatures(signatures)
        kernels = native.load()
        if kernels is not None:
            return kernels.band_keys(sig, self._consts, self.key_bits)
        used = sig[:, : self.bands * self.rows].reshape(len(sig), self.bands, self.rows)
        # (n, bands, 1, rows) @ (bands, rows, 1): uint64 products and sums wrap modulo 2**64.
        keys = np.matmul(used.astype(_U64)[:, :, None, :], self._consts[:, :, None])[:, :, 0, 0]
        return (keys >> _U64(32)).astype(np.uint32) if self.key_bits == 32 else keys

    def add(self, signatures: np.ndarray, keys: np.ndarray, band_keys: np.ndarray | None = None) -> None:
        """Index ``signatures[i]`` under ``keys[i]``; keys must be new and distinct.
        ``band_keys``: ``self.band_keys(signatures)``, when the caller has it already."""
        sig = self._check_signatures(signatures)
        k = self._check_keys(keys, len(sig))
        n = len(sig)
        if n == 0:
            return
        if self._n + n > _MAX_ENTRIES:
            raise ConfigError(f"the index holds at most {_MAX_ENTRIES} entries")
        self._register_keys(k)
        bk = (self.band_keys(sig) if band_keys is None else band_keys).ravel()
        pos = np.arange(self._n, self._n + n, dtype=np.uint32)
        self._table.add(bk, np.repeat(pos, self.bands))
        self._sigs.append(self._low_bits(sig))
        self._n += n

    def _register_keys(self, k: np.ndarray) -> None:
        n0, n = self._n, len(k)
        increasing = n == 1 or bool((k[1:] > k[:-1]).all())
        if self._key_table is None and increasing and (n0 == 0 or k[0] > self._keys[n0 - 1]):
            pass  # still sorted: no duplicate possible, no table needed
        else:
            if len(np.unique(k)) != n:
                raise ConfigError("keys passed to add() must be distinct")
            if self._key_table is None:
                self._key_table = _SortedMultimap()
                if n0:
                    self._key_table.add(self._keys[:n0].view(_U64).copy(), np.arange(n0, dtype=np.uint32))
            if len(self._key_table.lookup(k.view(_U64))[0]):
                raise ConfigError("a key passed to add() is already in the index")
            self._key_table.add(k.view(_U64).copy(), np.arange(n0, n0 + n, dtype=np.uint32))
        if n0 + n > len(self._keys):  # grow by 1/4: bounded slack, rare copies of 8 bytes/entry
            grown = np.empty(max(n0 + n, len(self._keys) + len(self._keys) // 4, 1024), np.int64)
            grown[:n0] = self._keys[:n0]
            self._keys = grown
        self._keys[n0:n0 + n] = k

    def query(self, signatures: np.ndarray) -> list[np.ndarray]:
        """For each row, the sorted unique int64 keys of entries sharing at least one band with it."""
        n = len(self._check_signatures(signatures))
        row, keys = self.query_pairs(signatures)
        bounds = [0, *np.searchsorted(row, np.arange(1, n)).tolist(), len(keys)] if n else []
        return [keys[a:b] for a, b in zip(bounds, bounds[1:])]

    def query_pairs(self, signatures: np.ndarray, band_keys: np.ndarray | None = None
                    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`query` flattened: ``(row, key)`` pairs ordered by row, then key.
        ``band_keys``: ``self.band_keys(signatures)``, when the caller has it already."""
        sig = self._check_signatures(signatures)
        nothing = np.empty(0, np.intp), np.empty(0, np.int64)
        if len(sig) == 0 or self._n == 0:
            return nothing
        qi, pos = self._table.lookup((self.band_keys(sig) if band_keys is None else band_keys).ravel())
        if len(qi) == 0:
            return nothing
        # One sort dedupes (signature, entry) pairs from several bands and groups them by row.
        pair = np.unique((qi // self.bands).astype(_U64) << _U64(32) | pos.astype(_U64))
        row = (pair >> _U64(32)).astype(np.intp)
        keys = self._keys[(pair & _U64(0xFFFFFFFF)).astype(np.intp)]
        if self._key_table is not None:  # positions no longer sort keys: sort within each row
            order = np.lexsort((keys, row))
            row, keys = row[order], keys[order]
        return row, keys

    def similarity_pairs(self, signatures: np.ndarray, rows: np.ndarray, keys: np.ndarray) -> np.ndarray:
        """``similarity(signatures[r], [k])`` for every pair ``(r, k)``, in one pass."""
        sig = self._check_signatures(signatures)
        pos = self._positions(keys)
        if len(pos) == 0:
            return np.empty(0, np.float64)
        return self._estimate(self._sigs.take(pos), self._low_bits(sig)[rows], packed=True)

    def _low_bits(self, sig: np.ndarray) -> np.ndarray:
        """The stored form of signatures: their low ``signature_bits``, 4-bit values packed."""
        kernels = native.load()
        if self.signature_bits == 4 and kernels is not None:
            return kernels.low_nibbles(sig)
        low = (sig & np.uint32((1 << self.signature_bits) - 1)).astype(self._low_dtype)
        if self.signature_bits == 4:
            return low[:, 0::2] | (low[:, 1::2] << np.uint8(4))
        return low

    def _positions(self, keys: np.ndarray) -> np.ndarray:
        k = self._check_keys(keys)
        if self._key_table is None:
            pos = np.searchsorted(self._keys[: self._n], k)
            ok = pos < self._n
            ok[ok] = self._keys[pos[ok]] == k[ok]
        else:
            qi, vals = self._key_table.lookup(k.view(_U64))
            pos = np.zeros(len(k), np.intp)
            pos[qi] = vals
            ok = np.zeros(len(k), bool)
            ok[qi] = True
        if not ok.all():
            raise KeyError(f"keys not in the index: {k[~ok][:5].tolist()}")
        return pos

    def similarity(self, signature: np.ndarray, keys: np.ndarray) -> np.ndarray:
        """Estimated Jaccard similarity of ``signature`` to the stored entries ``keys`` (float64).

        :math:`\\hat J = (P_{match} - 2^{-b}) / (1 - 2^{-b})` clipped to [0, 1], where
        :math:`P_{match}` is the share of coordinates whose low ``b`` bits agree. Its standard
        error is about :math:`\\sqrt{J(1-J)/\\text{num\\_perm}}` plus the collision noise
        :math:`\\approx\\sqrt{(1-J)2^{-b}/\\text{num\\_perm}}` (0.01 at J = 0.5, b = 8).
        """
        sig = self._check_signatures(signature, ndim=1)
        pos = self._positions(keys)
        if len(pos) == 0:
            return np.empty(0, np.float64)
        return self._estimate(self._sigs.take(pos), sig)

    def similarity_to(self, signature: np.ndarray, others: np.ndarray) -> np.ndarray:
        """The estimate :meth:`similarity` gives once ``others`` (full signatures, not yet
        added) are stored: the same bits and the same formula."""
        sig = self._check_signatures(signature, ndim=1)
        return self._estimate(self._low_bits(self._check_signatures(others)), sig)

    def _estimate(self, stored: np.ndarray, sig: np.ndarray, packed: bool = False) -> np.ndarray:
        """The b-bit estimate of ``stored`` rows against one full signature ``sig`` or, with
        ``packed``, against rows of stored-form bits, pair by pair."""
        low = sig if packed else self._low_bits(sig[None, :])
        if self.signature_bits == 4:  # compare both nibbles of every byte
            diff = stored ^ low
            p = (np.count_nonzero(diff & np.uint8(0x0F), axis=1) + np.count_nonzero(diff & np.uint8(0xF0), axis=1))
            p = 1.0 - p / self.num_perm
        else:
            p = np.count_nonzero(stored == low, axis=1) / self.num_perm
        e = 2.0 ** -self.signature_bits
        return np.clip((p - e) / (1.0 - e), 0.0, 1.0)
