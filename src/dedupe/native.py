"""The compiled kernels (text path, index, detectors' features and run search), where they were
built; ``None`` where not.

``pip install`` compiles ``_native.c`` (plain C over numpy buffers, no Python objects) when a C
compiler is there; the build is optional, and without it every stage runs its numpy code, which
gives the same values (tests hold each kernel to its numpy counterpart). Set
``DEDUPE_NATIVE=0`` to run the numpy code anyway, e.g. to compare the two.

The kernels are called through :mod:`ctypes`, which releases the GIL for the call. Each wrapper
here takes and returns numpy arrays and checks nothing beyond dtype and contiguity: the callers
hand over what the numpy code would have received.

Example
-------
>>> import numpy as np
>>> from dedupe import native
>>> kernels = native.load()
>>> kernels is None or kernels.token_bounds(np.frombuffer(b" ab c ", np.uint8), np.array(
...     [c in b" " for c in range(256)], np.uint8))[0].tolist() == [1, 4]
True
"""

from __future__ import annotations

import ctypes
import hashlib
import importlib.util
import os
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Optional

import numpy as np

_P = ctypes.c_void_p
_I64 = ctypes.c_int64
_RUN_GAPS = np.array([1] + [0] * 255, np.uint8)  # token_runs: 0 is a gap, 1 is inside


def _ptr(array: np.ndarray) -> int:
    try:  # four times faster than array.ctypes.data, which some chunks call 70,000 times
        return ctypes.addressof(ctypes.c_char.from_buffer(array))
    except (TypeError, ValueError):  # read-only or empty
        return array.ctypes.data


class Kernels:
    """The functions of one loaded ``_native`` library, with numpy in and out."""

    VERSION = 7  # KERNELS_VERSION of the _native.c these wrappers call

    def __init__(self, library: ctypes.CDLL):
        self._lib = library
        library.dd_version.restype = _I64
        if library.dd_version() != self.VERSION:
            raise AttributeError("the compiled kernels are of another version: build them again")
        for name, argtypes, restype in (
            ("dd_token_bounds", [_P, _I64, _P, _P, _P, _P, _I64, _P], _I64),
            ("dd_agreements", [_P, _I64, _P, _P, _I64, _P], None),
            ("dd_document_pairs", [_P, _P, _I64, _P, _P], None),
            ("dd_row_counts", [_P, _P, _I64, _I64, _P, _P, _P, _P], _I64),
            ("dd_best_run", [_P, _I64, _P, _P, ctypes.c_double, ctypes.c_double, _I64, ctypes.c_double,
                             ctypes.c_double, ctypes.c_double, _P, _P, _P, _P, _P, _P, _P], _I64),
            ("dd_search_runs", [_P, _P, _P, _P, _I64, _P, _P, _P, _P, ctypes.c_double, _I64, ctypes.c_double,
                                ctypes.c_double, ctypes.c_double, _I64] + [_P] * 12, None),
            ("dd_context_features", [_P, _P, _P, _P, _I64, ctypes.c_double, _P, _P], None),
            ("dd_document_blocks", [_P, _I64, _P, _P, _P, _P, _P, _P], None),
            ("dd_run_directory", [_P, _I64, _I64, _I64, _I64, _P], None),
            ("dd_band_keys", [_P, _I64, _I64, _P, _I64, _I64, _I64, _P], None),
            ("dd_low_nibbles", [_P, _I64, _I64, _P], None),
            ("dd_doc_grams", [_P, _P, _P, _P, _P, _I64, _P, _P], None),
            ("dd_kind_counts", [_P, _I64, _P, _I64, _I64, _I64, _P], None),
            ("dd_merge_in_place", [_P, _P, _I64, _P, _P, _I64, _I64], None),
            ("dd_sort_pairs", [_P, _P, _I64], None),
            ("dd_run_lookup", [_P, _P, _P, _I64, _I64, _P, _I64, _P, _P, _I64], _I64),
            ("dd_fold_utf8", [_P, _I64, _P, _P, _I64, _P, _P, _I64, _P], _I64),
            ("dd_map_points", [_P, _I64, _P, _I64, _P], _I64),
            ("dd_token_keys", [_P, _I64, _P, _P, _I64, _P], None),
            ("dd_token_keys_utf32", [_P, _I64, _P, _P, _I64, _P], None),
            ("dd_lookup_capped", [_P, _I64, _P, _I64, _I64, _P], None),
            ("dd_table_find", [_P, _P, ctypes.c_int, _P, _I64, _P, _P], _I64),
            ("dd_fold_shingles", [_P, _P, _P, _I64, _I64, _P], None),
            ("dd_sequence_hashes", [_P, _P, _I64, _P], None),
            ("dd_minhash", [_P, _P, _I64, _P, _P, _I64, _P], None),
            ("dd_chunk_copies", [_P, _I64, _P, _P, _P, _P, _P, _I64, _P, _P, _P, _P, _P, _I64, _I64, _I64,
                                 ctypes.c_double, ctypes.c_double, ctypes.c_double] + [_P] * 20, _I64),
            ("dd_vocab_scan", [_P, _I64, _P, _P, _I64, _P, _P, _P, _P, _I64, _I64, _I64, _P, _I64, _P, _P], _I64),
            ("dd_json_escape", [_P, _I64, _P], _I64),
        ):
            function = getattr(library, name)
            function.argtypes, function.restype = argtypes, restype

    def json_string(self, data: bytes) -> bytes:
        """A JSON string (quotes included) of UTF-8 ``data``: what ``json.dumps(text,
        ensure_ascii=False).encode()`` gives for the text ``data`` encodes."""
        out = np.empty(6 * len(data) + 2, np.uint8)
        length = self._lib.dd_json_escape(data, len(data), _ptr(out) + 1)
        out[0] = out[length + 1] = ord('"')
        return out[:length + 2].tobytes()

    def token_bounds(self, units: np.ndarray, is_gap: np.ndarray, lines: bool = False,
                     unspaced: Optional[np.ndarray] = None):
        """Runs of bytes ``u`` with ``is_gap[u] == 0`` (a 256-entry table): ``(starts, ends)``,
        and with ``lines`` each run's line (newline bytes before it) too. With ``unspaced`` (a
        flag per code point below U+10000), the bytes are UTF-8 and each character of a script
        written without spaces is a run of its own (:func:`dedupe.tokentable.split_unspaced`)."""
        units = np.ascontiguousarray(units, np.uint8)
        is_gap = np.ascontiguousarray(is_gap, np.uint8)
        table = None if unspaced is None else np.ascontiguousarray(unspaced, np.uint8)
        capacity = len(units) // 4 + 64  # words of text are longer than 3 bytes on average
        while True:
            out = np.empty((3 if lines else 2, capacity), np.int64)
            count = self._lib.dd_token_bounds(_ptr(units), len(units), _ptr(is_gap), _ptr(out[0]), _ptr(out[1]),
                                              _ptr(out[2]) if lines else None, capacity,
                                              None if table is None else _ptr(table))
            if count <= capacity:
                return tuple(row[:count] for row in out)
            capacity = count

    def token_runs(self, inside: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Runs of True in a boolean array."""
        return self.token_bounds(np.ascontiguousarray(inside, np.bool_).view(np.uint8), _RUN_GAPS)

    def agreements(self, signatures: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        """How many values rows ``i[p]`` and ``j[p]`` of a uint32 matrix share, per pair."""
        signatures = np.ascontiguousarray(signatures, np.uint32)
        i = np.ascontiguousarray(i, np.int64)
        j = np.ascontiguousarray(j, np.int64)
        out = np.empty(len(i), np.int64)
        self._lib.dd_agreements(_ptr(signatures), signatures.shape[-1], _ptr(i), _ptr(j), len(i), _ptr(out))
        return out

    def document_pairs(self, lo: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Every pair ``(i, j)``, ``lo[d] <= j < i < lo[d] + k[d]``, document by document."""
        lo = np.ascontiguousarray(lo, np.int64)
        k = np.ascontiguousarray(k, np.int64)
        i, j = np.empty((2, int((k * (k - 1) // 2).sum())), np.int64)
        self._lib.dd_document_pairs(_ptr(lo), _ptr(k), len(lo), _ptr(i), _ptr(j))
        return i, j

    def kind_counts(self, kinds: np.ndarray, lengths: np.ndarray, n_kinds: int, space_kind: int) -> np.ndarray:
        """``counts[block, kind, starts a word]`` of blocks of ``lengths`` characters, each
        followed by one separator character, in ``kinds`` (uint8, one per character)."""
        if not 0 < n_kinds <= 16 or not 0 <= space_kind < n_kinds:
            raise ValueError("kind_counts counts 1 to 16 kinds, space_kind among them")
        kinds = np.ascontiguousarray(kinds, np.uint8)
        lengths = np.ascontiguousarray(lengths, np.int64)
        counts = np.zeros((len(lengths), n_kinds, 2), np.int64)
        self._lib.dd_kind_counts(_ptr(kinds), len(kinds), _ptr(lengths), len(lengths), n_kinds, space_kind,
                                 _ptr(counts))
        return counts

    def row_counts(self, row: np.ndarray, codes: np.ndarray, n_rows: int
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """CSR ``(data, indices, indptr)`` counting, per row, the pairs ``(row[k], codes[k])``
        of each code >= 0 (columns ascending)."""
        row = np.ascontiguousarray(row, np.int64)
        codes = np.ascontiguousarray(codes, np.int64)
        m = len(row)
        scratch = np.empty(2 * m, np.int64)
        indptr = np.empty(n_rows + 1, np.int64)
        indices = np.empty(m, np.int32)
        data = np.empty(m, np.float64)
        nnz = self._lib.dd_row_counts(_ptr(row), _ptr(codes), m, n_rows, _ptr(scratch), _ptr(indptr),
                                      _ptr(indices), _ptr(data))
        return data[:nnz].copy(), indices[:nnz].copy(), indptr

    def best_run(self, g: np.ndarray, to_total: np.ndarray, cw: np.ndarray, total2: float, words_on: float,
                 window: int, threshold: float, full_sim: float, half_words2: float):
        """The off-topic run search of one document (see ``dd_best_run``): ``(start, end, score)``
        of the run to flag, or None, and every block's best score."""
        k = len(g)
        g = np.ascontiguousarray(g, np.float64)
        to_total = np.ascontiguousarray(to_total, np.float64)
        cw = np.ascontiguousarray(cw, np.float64)
        scratch = np.empty((3, (k + 1) ** 2))
        block_best = np.empty(k)
        found = np.empty(3, np.int64)
        score = ctypes.c_double()
        hit = self._lib.dd_best_run(_ptr(g), k, _ptr(to_total), _ptr(cw), total2, words_on, window, threshold,
                                    full_sim, half_words2, _ptr(scratch[0]), _ptr(scratch[1]), _ptr(scratch[2]),
                                    _ptr(block_best), _ptr(found[0:]), _ptr(found[1:]), ctypes.byref(score))
        return (int(found[0]), int(found[1]), score.value) if hit else None, block_best

    def context_features(self, s: np.ndarray, w: np.ndarray, lw: np.ndarray, sizes: np.ndarray,
                         long_words: float) -> np.ndarray:
        """(n, 20) stage-2 context features of consecutive documents of ``sizes`` (> 0) blocks
        (see ``dd_context_features``); columns 15 and 16 are left for the caller."""
        s, w, lw = (np.ascontiguousarray(a, np.float64) for a in (s, w, lw))
        sizes = np.ascontiguousarray(sizes, np.int64)
        out = np.empty((len(s), 20))
        scratch = np.empty(2 * (int(sizes.max(initial=0)) + 16))
        self._lib.dd_context_features(_ptr(s), _ptr(w), _ptr(lw), _ptr(sizes), len(sizes), long_words,
                                      _ptr(scratch), _ptr(out))
        return out

    def document_blocks(self, sizes: np.ndarray, words: np.ndarray, text_hash: np.ndarray
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per block, how many other blocks of its document share its text hash; per document,
        its longest block's words and the mean of its three longest (each at least 1)."""
        sizes = np.ascontiguousarray(sizes, np.int64)
        words = np.ascontiguousarray(words, np.float64)
        text_hash = np.ascontiguousarray(text_hash, np.uint64)
        repeats, longest, top3 = np.empty(len(words)), np.empty(len(sizes)), np.empty(len(sizes))
        scratch = np.empty(int(sizes.max(initial=0)), np.int64)
        self._lib.dd_document_blocks(_ptr(sizes), len(sizes), _ptr(words), _ptr(text_hash), _ptr(scratch),
                                     _ptr(repeats), _ptr(longest), _ptr(top3))
        return repeats, longest, top3

    def run_directory(self, keys: np.ndarray, shift: int, n_buckets: int) -> np.ndarray:
        """uint32 ``start[q]``: the first position of sorted ``keys`` whose ``key >> shift`` is at
        least ``q``, for ``q`` in 0 .. ``n_buckets``."""
        start = np.empty(n_buckets + 1, np.uint32)
        self._lib.dd_run_directory(_ptr(keys), len(keys), keys.itemsize == 8, int(shift), n_buckets, _ptr(start))
        return start

    def low_nibbles(self, signatures: np.ndarray) -> np.ndarray:
        """The low four bits of each uint32 value of ``signatures`` (n x an even width), two a
        byte, the even column in the low half: (n x width / 2) uint8."""
        signatures = np.ascontiguousarray(signatures, np.uint32)
        out = np.empty((len(signatures), signatures.shape[1] // 2), np.uint8)
        self._lib.dd_low_nibbles(_ptr(signatures), len(signatures), signatures.shape[1], _ptr(out))
        return out

    def band_keys(self, signatures: np.ndarray, consts: np.ndarray, key_bits: int) -> np.ndarray:
        """(n, bands) band keys of uint32 signatures: each band's rows times ``consts`` (bands x
        rows, uint64), summed mod 2^64; the top 32 bits when ``key_bits`` is 32."""
        signatures = np.ascontiguousarray(signatures, np.uint32)
        consts = np.ascontiguousarray(consts, np.uint64)
        bands, rows = consts.shape
        keys = np.empty((len(signatures), bands), np.uint32 if key_bits == 32 else np.uint64)
        self._lib.dd_band_keys(_ptr(signatures), len(signatures), signatures.shape[1], _ptr(consts), bands, rows,
                               key_bits, _ptr(keys))
        return keys

    def doc_grams(self, data: np.ndarray, indices: np.ndarray, indptr: np.ndarray, lo: np.ndarray,
                  n: np.ndarray) -> list[np.ndarray]:
        """The dense Gram matrix of the CSR rows ``lo[d] .. lo[d] + n[d] - 1`` of each document
        ``d`` (float64 data, int32 indices), each entry's products added in the stored order of
        its row; views of one array."""
        grams, base, n = self._doc_grams(data, indices, indptr, lo, n)
        return [grams[a:b].reshape(k, k) for a, b, k in zip(base[:-1].tolist(), base[1:].tolist(), n.tolist())]

    def _doc_grams(self, data, indices, indptr, lo, n) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`doc_grams` as one array, each document's matrix from ``base[d]``."""
        data = np.ascontiguousarray(data, np.float64)
        indices = np.ascontiguousarray(indices, np.int32)
        indptr = np.ascontiguousarray(indptr, np.int64)
        lo = np.ascontiguousarray(lo, np.int64)
        n = np.ascontiguousarray(n, np.int64)
        entries = indptr[lo + n] - indptr[lo]
        scratch = np.empty(3 * int(entries.max(initial=0)), np.int64)
        base = np.concatenate(([0], np.cumsum(n * n)))
        grams = np.zeros(int(base[-1]))
        self._lib.dd_doc_grams(_ptr(data), _ptr(indices), _ptr(indptr), _ptr(lo), _ptr(n), len(lo), _ptr(scratch),
                               _ptr(grams))
        return grams, base, n

    def search_runs(self, x, lo: np.ndarray, n: np.ndarray, words: np.ndarray, substantive: np.ndarray,
                    lead: np.ndarray, candidate: np.ndarray, lead_weight: float, window: int, threshold: float,
                    full_sim: float, half_words2: float, max_runs: int) -> tuple[np.ndarray, np.ndarray]:
        """The off-topic run search of documents ``d`` (blocks ``lo[d] .. lo[d] + n[d] - 1`` of
        a chunk whose TF-IDF rows are the CSR matrix ``x``, per-block arrays over all of them):
        ``(score, flagged)`` of every block of the chunk, 0 and False outside the documents.
        See ``dd_search_runs``."""
        blocks = len(words)
        score, flagged = np.zeros(blocks), np.zeros(blocks, np.bool_)
        if not len(n):
            return score, flagged
        grams, base, n = self._doc_grams(x.data, x.indices, x.indptr, lo, n)
        lo = np.ascontiguousarray(lo, np.int64)
        words = np.ascontiguousarray(words, np.float64)
        m = int(n.max())
        vectors = np.empty((3, m))  # weight, t, block_best
        idx = np.empty(m, np.int64)
        g = np.empty(m * m)
        sums = np.empty((2, m + 1))  # to_total, cw
        grids = np.empty((3, (m + 1) ** 2))
        flags = [np.ascontiguousarray(a, np.bool_).view(np.uint8) for a in (substantive, lead, candidate)]
        self._lib.dd_search_runs(_ptr(grams), _ptr(base), _ptr(lo), _ptr(n), len(n),
                                 _ptr(words), *map(_ptr, flags), lead_weight,
                                 window, threshold, full_sim, half_words2, max_runs, _ptr(vectors[0]),
                                 _ptr(vectors[1]), _ptr(vectors[2]), _ptr(idx), _ptr(g), _ptr(sums[0]),
                                 _ptr(sums[1]), _ptr(grids[0]), _ptr(grids[1]), _ptr(grids[2]), _ptr(score),
                                 _ptr(flagged.view(np.uint8)))
        return score, flagged

    def sort_pairs(self, pairs: np.ndarray) -> np.ndarray:
        """uint64 ``pairs`` (key in the high 32 bits) ordered by key, keeping the order of equal
        keys: ``np.sort(pairs)`` where the low halves never decrease along the input. In place."""
        if not (pairs.dtype == np.uint64 and pairs.flags.c_contiguous and pairs.flags.writeable):
            raise ValueError("sort_pairs needs a writable contiguous uint64 array")
        scratch = np.empty(len(pairs), np.uint64)
        self._lib.dd_sort_pairs(_ptr(pairs), _ptr(scratch), len(pairs))
        return pairs

    def merge_in_place(self, keys: np.ndarray, vals: np.ndarray, n: int, new_keys: np.ndarray,
                       new_vals: np.ndarray) -> None:
        """Two sorted runs of (uint32 or uint64 key, uint32 value) as one, new pairs after the
        old ones of an equal key, in ``keys[:n + m]`` and ``vals[:n + m]``, whose first ``n``
        pairs are the old run (writable, contiguous, room for the ``m`` new pairs after them)."""
        m = len(new_keys)
        if not (keys.dtype in (np.uint32, np.uint64) and vals.dtype == np.uint32 and keys.flags.c_contiguous
                and vals.flags.c_contiguous and keys.flags.writeable and vals.flags.writeable
                and len(keys) >= n + m and len(vals) >= n + m):
            raise ValueError("merge_in_place needs writable contiguous arrays with room for every pair")
        new_keys = np.ascontiguousarray(new_keys, keys.dtype)
        new_vals = np.ascontiguousarray(new_vals, np.uint32)
        self._lib.dd_merge_in_place(_ptr(keys), _ptr(vals), n, _ptr(new_keys), _ptr(new_vals), m, keys.itemsize == 8)

    def vocab_scan(self, pattern, text: np.ndarray, candidates: np.ndarray, ends: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray] | None:
        """The matches (starts, labels) of a :class:`dedupe.matcher.CompiledPattern` that
        finditer finds in ``text`` (uint8 or uint32 code points), tried only at ``candidates``
        (sorted; ``ends[i]`` where the text of candidate i ends); None where the matcher gives
        up (a pathological backtrack), and the caller runs :mod:`re`."""
        text = np.ascontiguousarray(text)
        if text.dtype not in (np.uint8, np.uint32):
            raise TypeError(f"vocab_scan reads uint8 or uint32 code points, not {text.dtype}")
        candidates = np.ascontiguousarray(candidates, np.int64)
        ends = np.ascontiguousarray(ends, np.int64)
        out_pos = np.empty(len(candidates), np.int64)
        out_label = np.empty(len(candidates), np.int32)
        stack = np.empty(2 * 4096, np.int64)
        while True:
            astral, planes = pattern.astral_rows, pattern.astral_planes
            count = self._lib.dd_vocab_scan(
                _ptr(text), text.dtype == np.uint32, _ptr(candidates), _ptr(ends), len(candidates),
                _ptr(pattern.program), _ptr(pattern.skips), _ptr(pattern.bmp), _ptr(astral), len(astral), planes,
                pattern.word_class, _ptr(stack), len(stack) // 2, _ptr(out_pos), _ptr(out_label))
            if count == -2:  # a code point of a plane above the BMP whose classes are not known yet
                needed = pattern.planes_in(text)
                if needed & ~planes:
                    pattern.astral(needed)
                    continue
            return None if count < 0 else (out_pos[:count], out_label[:count].astype(np.int64))

    def run_lookup(self, keys: np.ndarray, vals: np.ndarray, start: np.ndarray, shift: int, q: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
        """(query number, value) of every pair of a sorted run whose key some ``q[i]`` equals."""
        q = np.ascontiguousarray(q, keys.dtype)
        capacity = len(q) // 4 + 64  # most band keys match nothing
        while True:
            out_q = np.empty(capacity, np.int64)
            out_v = np.empty(capacity, np.uint32)
            count = self._lib.dd_run_lookup(_ptr(keys), _ptr(vals), _ptr(start), int(shift), keys.itemsize == 8,
                                            _ptr(q), len(q), _ptr(out_q), _ptr(out_v), capacity)
            if count <= capacity:
                return out_q[:count], out_v[:count]
            capacity = count

    FOLD_PYTHON, FOLD_DROP = 0xFFFFFFFF, 0xFFFFFFFE  # bmp entries of fold_utf8

    def fold_utf8(self, data: bytes, n_lines: int, ascii: np.ndarray, bmp: np.ndarray
                  ) -> tuple[bytes, np.ndarray, int, int]:
        """``data`` (UTF-8, ``n_lines`` lines) folded one character at a time: ASCII bytes by
        ``ascii`` (int16, -1: dropped), other characters by ``bmp`` (uint32, indexed by code point:
        the character it becomes, below 0x10000, or FOLD_DROP); the lines holding a character
        that ``bmp`` leaves to Python (FOLD_PYTHON, and every character beyond the table), which
        are copied as they are for the caller to fold; and the newlines read and written."""
        ascii = np.ascontiguousarray(ascii, np.int16)
        bmp = np.ascontiguousarray(bmp, np.uint32)
        out = np.empty(len(data) * 3 // 2 + 4, np.uint8)  # a 2-byte character may become 3
        needs_python = np.zeros(n_lines, np.uint8)
        newlines = np.zeros(2, np.int64)
        length = self._lib.dd_fold_utf8(data, len(data), _ptr(ascii), _ptr(bmp), len(bmp), _ptr(out),
                                        _ptr(needs_python), n_lines, _ptr(newlines))
        return out[:length].tobytes(), np.flatnonzero(needs_python), int(newlines[0]), int(newlines[1])

    def map_points(self, points: np.ndarray, table: np.ndarray) -> np.ndarray | None:
        """``table[p]`` for every code point (uint32), or None where the table leaves any of
        them to Python (FOLD_PYTHON, or beyond the table)."""
        points = np.ascontiguousarray(points, np.uint32)
        out = np.empty(len(points), np.uint32)
        odd = self._lib.dd_map_points(_ptr(points), len(points), _ptr(table), len(table), _ptr(out))
        return None if odd else out

    def token_keys(self, raw: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        raw = np.ascontiguousarray(raw, np.uint8)
        starts = np.ascontiguousarray(starts, np.int64)
        ends = np.ascontiguousarray(ends, np.int64)
        keys = np.empty(len(starts), np.uint64)
        self._lib.dd_token_keys(_ptr(raw), len(raw), _ptr(starts), _ptr(ends), len(starts), _ptr(keys))
        return keys

    def token_keys_utf32(self, points: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """:meth:`token_keys` of the UTF-8 encoding (surrogatepass) of ``points[starts[i]:ends[i]]``."""
        points = np.ascontiguousarray(points, np.uint32)
        starts = np.ascontiguousarray(starts, np.int64)
        ends = np.ascontiguousarray(ends, np.int64)
        keys = np.empty(len(starts), np.uint64)
        self._lib.dd_token_keys_utf32(_ptr(points), len(points), _ptr(starts), _ptr(ends), len(starts), _ptr(keys))
        return keys

    def lookup_capped(self, table: np.ndarray, points: np.ndarray) -> np.ndarray:
        """``table[min(p, len(table) - 1)]`` for every p (a uint8 table; uint8 or uint32 points)."""
        table = np.ascontiguousarray(table, np.uint8)
        points = np.ascontiguousarray(points)
        if points.dtype not in (np.uint8, np.uint32):
            points = points.astype(np.uint32)
        out = np.empty(len(points), np.uint8)
        self._lib.dd_lookup_capped(_ptr(table), len(table), _ptr(points), points.itemsize, len(points), _ptr(out))
        return out

    def table_find(self, table_keys: np.ndarray, table_values: np.ndarray, bits: int, keys: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
        """Values held for the keys (garbage where missing) and the positions of the missing
        ones; ``table_values`` of any 8-byte dtype, returned in it."""
        keys = np.ascontiguousarray(keys, np.uint64)
        values = np.empty(len(keys), table_values.dtype)
        missing = np.empty(len(keys), np.int64)
        count = self._lib.dd_table_find(_ptr(table_keys), _ptr(table_values), bits, _ptr(keys), len(keys),
                                        _ptr(values), _ptr(missing))
        return values, missing[:count].copy()

    def fold_shingles(self, word_hashes: np.ndarray, word_starts: np.ndarray, offsets: np.ndarray,
                      n: int) -> np.ndarray:
        word_hashes = np.ascontiguousarray(word_hashes, np.uint64)
        word_starts = np.ascontiguousarray(word_starts, np.int64)
        offsets = np.ascontiguousarray(offsets, np.int64)
        hashes = np.empty(int(offsets[-1]), np.uint32)
        self._lib.dd_fold_shingles(_ptr(word_hashes), _ptr(word_starts), _ptr(offsets), len(offsets) - 1, n,
                                   _ptr(hashes))
        return hashes

    def sequence_hashes(self, values: np.ndarray, starts: np.ndarray) -> np.ndarray:
        values = np.ascontiguousarray(values, np.uint64)
        starts = np.ascontiguousarray(starts, np.int64)
        out = np.empty(len(starts) - 1, np.uint64)
        self._lib.dd_sequence_hashes(_ptr(values), _ptr(starts), len(out), _ptr(out))
        return out

    def minhash(self, hashes: np.ndarray, offsets: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        hashes = np.ascontiguousarray(hashes, np.uint32)
        offsets = np.ascontiguousarray(offsets, np.int64)
        a = np.ascontiguousarray(a, np.uint32)
        b = np.ascontiguousarray(b, np.uint32)
        sig = np.empty((len(offsets) - 1, len(a)), np.uint32)
        self._lib.dd_minhash(_ptr(hashes), _ptr(offsets), len(offsets) - 1, _ptr(a), _ptr(b), len(a), _ptr(sig))
        return sig


    def chunk_copies(self, signatures: np.ndarray, exact: np.ndarray, short: np.ndarray, earlier: np.ndarray,
                     earlier_score: np.ndarray, doc_start: np.ndarray, flushed: tuple, shared: tuple,
                     base: int, use_cross: bool, threshold: float, run_threshold: float, e: float):
        """The copy pass of a chunk (see ``dd_chunk_copies``): ``(reason, score, of, cluster,
        cross)`` per row, as :class:`~dedupe.deciding.Copies` holds them, and ``entry_at`` (the
        entry of each kept row, -1 for a copy). ``flushed``: the tables' match per row as
        ``(entry, score, exact)``; ``shared``: ``(pointers, key ids, number of keys)``."""
        n = len(signatures)
        signatures = np.ascontiguousarray(signatures, np.uint32)
        inputs = [np.ascontiguousarray(a, t) for a, t in (
            (exact, np.uint64), (short, np.uint8), (earlier, np.int64), (earlier_score, np.float64),
            (doc_start, np.int64), (flushed[0], np.int64), (flushed[1], np.float64), (flushed[2], np.uint8),
            (shared[0], np.int64), (shared[1], np.int64))]
        registered = int(inputs[8][-1]) if n else 0
        head, nxt, reg_row = np.empty(shared[2], np.int64), np.empty(registered, np.int64), np.empty(registered, np.int64)
        mark, cand, c_entry = (np.empty(n, np.int64) for _ in range(3))
        c_score, c_exact, confirmed = np.empty(n), np.empty(n, np.uint8), np.empty(n, np.uint8)
        reason, score, local, entry, stays = (np.empty(n, np.int8), np.empty(n), np.empty(n, np.int64),
                                              np.empty(n, np.int64), np.empty(n, np.uint8))
        entry_at = np.empty(n, np.int64)
        out = (np.empty(n, np.int8), np.empty(n), np.empty(n, np.int64), np.empty(n, np.int64), np.empty(n, bool))
        scratch = (head, nxt, reg_row, mark, cand, c_entry, c_score, c_exact, confirmed, reason, score, local,
                   entry, stays, entry_at, *out)
        x, s, ea, es, ds, fe, fs, fx, sp, sk = map(_ptr, inputs)
        self._lib.dd_chunk_copies(_ptr(signatures), signatures.shape[1] if n else 0, x, s, ea, es, ds, len(doc_start) - 1,
                                  fe, fs, fx, sp, sk, shared[2], base, int(use_cross), threshold, run_threshold, e,
                                  *map(_ptr, scratch))
        return out, entry_at


@lru_cache(maxsize=None)
def _load(enabled: bool) -> Kernels | None:
    if not enabled:
        return None
    spec = importlib.util.find_spec("dedupe._native")
    if spec is None or not spec.origin:
        return None
    try:
        library = ctypes.CDLL(spec.origin)
        kernels = Kernels(library)
    except (OSError, AttributeError):  # built for another machine, or an older build
        return None
    if _stale(library):
        warnings.warn("dedupe: the compiled kernels were built from another _native.c (a later edit "
                      "that did not compile?): running the numpy code; rebuild with pip install -e .",
                      RuntimeWarning, stacklevel=3)
        return None
    return kernels


def _stale(library: ctypes.CDLL) -> bool:
    """Whether the library was built from a ``_native.c`` other than the one beside this file
    (there is one in a source checkout, not in an installed wheel)."""
    source = Path(__file__).with_name("_native.c")
    if not source.exists():
        return False
    try:
        source_hash = library.dd_source_hash
    except AttributeError:  # built before libraries said their source
        return True
    source_hash.restype = ctypes.c_char_p
    built_from = source_hash().decode()
    return bool(built_from) and hashlib.sha256(source.read_bytes()).hexdigest()[:16] != built_from


def available() -> bool:
    """Whether the compiled kernels were built here (whatever ``DEDUPE_NATIVE`` says)."""
    return _load(True) is not None


def load() -> Kernels | None:
    """The compiled kernels, or None where they were not built or ``DEDUPE_NATIVE=0``."""
    return _load(os.environ.get("DEDUPE_NATIVE", "1") != "0")
