"""Token -> value tables, looked up for every token of a chunk at once.

Three stages map each word of a chunk of blocks to a small value that depends on the word
alone: the shingler (normalised word -> hash of its spelling-folded form), the off-topic term
counter (piece -> hashed feature) and the boilerplate features (token -> stop word and
vocabulary bits). A ``dict`` lookup per token makes a ``bytes`` object and a SipHash per token
(100-150 ns with the split); here the tokens stay spans ``[start, end)`` of the chunk's one
buffer, are keyed in numpy by their bytes, and are found in an open-addressing table in a few
array passes (about a third of that). Only a token never seen before reaches Python, once.

Keys (:func:`token_keys`): a token of at most 7 bytes is its own key (its bytes, and its length
in the top byte), so short words never share a key; a longer token's key is a 64-bit hash of
its 8-byte words (each mixed with its place, summed, and mixed with the length) with the top
bit set, so it never equals a short token's key. Two long tokens
share a key with probability about 2^-64 per pair. The hash is not keyed: like the CRC-32 word
hashes it feeds, it keeps accidents out, not a forger.

Example
-------
>>> import numpy as np
>>> data = b"the cat  sat on the mat"
>>> starts, ends = token_bounds(np.frombuffer(data, np.uint8))
>>> TokenTable(len).lookup_spans(data, starts, ends).tolist()
[3, 3, 3, 2, 3, 3]
"""

from __future__ import annotations

import re
from typing import Callable

import numpy as np

from . import native
from .minhash import fmix64

# the bytes that bytes.split() splits at
ASCII_WHITESPACE = np.zeros(256, bool)
ASCII_WHITESPACE[list(b" \t\n\r\x0b\x0c")] = True

_LOW_BITS = np.array([(1 << (8 * k)) - 1 for k in range(8)] + [(1 << 64) - 1], dtype=np.uint64)
_TOP_BIT = np.uint64(1 << 63)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_LENGTH_MIX = np.uint64(0xD6E8FEB86659FD93)


def token_bounds(units: np.ndarray, is_gap: np.ndarray = ASCII_WHITESPACE, lines: bool = False,
                 unspaced: bool = False):
    """``(starts, ends)`` of the maximal runs of ``units`` that are not gaps (``is_gap[unit]``);
    with the default table, the pieces ``bytes.split()`` returns. With ``lines``, a third array
    gives each run's line: how many newline units come before it. With ``unspaced``, the units
    are UTF-8, and each character of a script written without spaces is a run of its own (see
    :func:`split_unspaced`).

    >>> token_bounds(np.frombuffer(b" ab c\\nd", np.uint8), lines=True)
    (array([1, 4, 6]), array([3, 5, 7]), array([0, 0, 1]))
    """
    kernels = native.load()
    if kernels is not None and units.dtype == np.uint8:
        return kernels.token_bounds(units, is_gap, lines, _UNSPACED_UNITS if unspaced else None)
    starts, ends = token_runs(~np.take(is_gap, units))  # take: no cast of the index array to intp first
    if unspaced or lines:
        line = np.searchsorted(np.flatnonzero(units == 0x0A), starts)
        if unspaced:
            starts, ends, line = split_unspaced(units, starts, ends, line)
        return (starts, ends, line) if lines else (starts, ends)
    return starts, ends


# Scripts written without spaces between words (Thai, Lao, Myanmar, Khmer; Chinese and Japanese
# ideographs and kana): each character is a word of its own, as word n-gram tools take them.
# Split at spaces only, a paragraph of Chinese was one "word": a short block, whose copies were
# never stripped, and which the boilerplate classifier took for page furniture. Korean (Hangul)
# is written with spaces.
UNSPACED_RANGES = ((0x0E00, 0x0EFF), (0x1000, 0x109F), (0x1780, 0x17FF), (0x2E80, 0x2FDF),
                   (0x3005, 0x3007), (0x3021, 0x3029), (0x3031, 0x3035), (0x3040, 0x30FF),
                   (0x31F0, 0x31FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF),
                   (0xFF66, 0xFF9F), (0x20000, 0x3FFFF))
UNSPACED_BMP = np.zeros(0x10000, bool)  # indexed by code point
for _low, _high in UNSPACED_RANGES:
    UNSPACED_BMP[_low:min(_high, 0xFFFF) + 1] = True
_UNSPACED_UNITS = UNSPACED_BMP.view(np.uint8)  # as the compiled token_bounds reads it


def is_unspaced(points: np.ndarray) -> np.ndarray:
    """Per code point: a character of a script written without spaces (:data:`UNSPACED_RANGES`)."""
    points = np.asarray(points, np.int64)
    return UNSPACED_BMP[np.minimum(points, 0xFFFF)] & (points <= 0xFFFF) | (points >= 0x20000) & (points <= 0x3FFFF)
UNSPACED_CLASS = "".join(f"{chr(low)}-{chr(high)}" for low, high in UNSPACED_RANGES)  # inside a regex's [...]
_WORD = re.compile(f"[{UNSPACED_CLASS}]|[^\\s{UNSPACED_CLASS}]+")


def count_words(text: str) -> int:
    """How many words ``text`` has, as the shingles count them: the pieces between white space,
    where each character of a script written without spaces is one.

    >>> count_words("Read more: 東京で"), count_words("two  words")
    (5, 2)
    """
    return len(text.split()) if text.isascii() else len(_WORD.findall(text))


def split_unspaced(data: bytes | np.ndarray, starts: np.ndarray, ends: np.ndarray, lines: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The tokens ``[starts, ends)`` of the UTF-8 ``data`` (with each one's line), cut so that
    every character of a script written without spaces (:data:`UNSPACED_RANGES`) is a token
    of its own; other tokens are unchanged. (What ``token_bounds(..., unspaced=True)`` gives
    without the compiled kernels, which cut as they go.)

    >>> data = "kindle書籍 は".encode()
    >>> s, e, _ = split_unspaced(data, np.array([0, 13]), np.array([12, 16]), np.array([0, 0]))
    >>> [data[a:b].decode() for a, b in zip(s, e)]
    ['kindle', '書', '籍', 'は']
    """
    raw = np.frombuffer(data, np.uint8) if isinstance(data, (bytes, bytearray)) else data
    if not raw.size or raw.max() < 0xE0:  # no character of 3 or 4 bytes: the usual chunk of English (one fast pass)
        return starts, ends, lines
    lead = np.flatnonzero(raw >= 0xE0)  # the first bytes of 3- and 4-byte characters
    byte = [np.take(raw, lead + k, mode="clip").astype(np.int64) & 0x3F for k in range(4)]
    three = raw[lead] < 0xF0
    bmp = ((raw[lead] & 0x0F).astype(np.int64) << 12) | (byte[1] << 6) | byte[2]
    beyond = ((raw[lead] & 0x07).astype(np.int64) << 18) | (byte[1] << 12) | (byte[2] << 6) | byte[3]
    unspaced = is_unspaced(np.where(three, bmp, beyond))
    if not unspaced.any():
        return starts, ends, lines
    first = lead[unspaced]
    cuts = np.union1d(first, first + np.where(three[unspaced], 3, 4))
    token = np.maximum(np.searchsorted(starts, cuts, side="right") - 1, 0)
    inside = (cuts > starts[token]) & (cuts < ends[token])
    if not inside.any():  # every such character is a token already
        return starts, ends, lines
    # token i, with cuts c_1 < ... < c_k inside it, becomes [s_i, c_1), [c_1, c_2), ..., [c_k, e_i):
    # the cuts go after s_i among the starts and before e_i among the ends (an insert, not a sort)
    cuts, token = cuts[inside], token[inside]
    return (_inserted(starts, token + 1, cuts), _inserted(ends, token, cuts),
            _inserted(lines, token + 1, lines[token]))


def _inserted(values: np.ndarray, at: np.ndarray, new: np.ndarray) -> np.ndarray:
    """``np.insert(values, at, new)`` for ``at`` in order: a few (the usual case, a quoted word
    or name in a chunk of English) copied around slice by slice, three times faster."""
    if len(at) > 32:
        return np.insert(values, at, new)
    out = np.empty(len(values) + len(at), values.dtype)
    done = 0
    for k, (position, value) in enumerate(zip(at.tolist(), new.tolist())):
        out[done + k:position + k] = values[done:position]
        out[position + k] = value
        done = position
    out[done + len(at):] = values[done:]
    return out


def token_runs(inside: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(starts, ends)`` of the maximal runs of True in a boolean array."""
    kernels = native.load()
    if kernels is not None:
        return kernels.token_runs(inside)
    padded = np.zeros(len(inside) + 2, bool)
    padded[1:-1] = inside
    change = np.flatnonzero(padded[1:] ^ padded[:-1])  # a start, an end, a start, ...: they alternate
    return change[0::2].copy(), change[1::2].copy()


def token_keys(data: bytes | np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """One uint64 key per token ``data[starts[i]:ends[i]]`` (byte offsets), equal for equal
    tokens (see the module docstring). Tokens must not be empty."""
    raw = np.frombuffer(data, np.uint8) if isinstance(data, (bytes, bytearray, memoryview)) else data.view(np.uint8)
    kernels = native.load()
    if kernels is not None:
        return kernels.token_keys(raw, starts, ends)
    padded = np.zeros(len(raw) + 8, np.uint8)
    padded[: len(raw)] = raw
    # the 8 bytes from every offset, read unaligned from one buffer
    words = np.ndarray((len(raw) + 1,), dtype="<u8", buffer=padded.data, strides=(1,))
    starts = np.asarray(starts, np.int64)
    lengths = np.asarray(ends, np.int64) - starts
    keys = words[starts]
    keys &= np.take(_LOW_BITS, np.minimum(lengths, 8))
    keys |= lengths.astype(np.uint64) << np.uint64(56)  # exact for the short ones
    long_tokens = np.flatnonzero(lengths >= 8)
    if long_tokens.size:
        # Every 8-byte word of every long token at once (however long the token: a 10 MB
        # token costs what 10 MB of short ones do): mixed with its place in the token, summed.
        size = lengths[long_tokens]
        n_words = (size + 7) // 8
        place = spans(np.zeros(len(n_words), np.int64), n_words)  # of each word in its token
        at = np.repeat(starts[long_tokens], n_words) + place * 8
        left = np.repeat(size, n_words) - place * 8
        word = words[at] & np.take(_LOW_BITS, np.minimum(left, 8))
        mixed = fmix64(word ^ (place + 1).astype(np.uint64) * _GOLDEN)
        first_word = np.concatenate(([0], np.cumsum(n_words)[:-1]))
        summed = np.add.reduceat(mixed, first_word)
        keys[long_tokens] = fmix64(summed ^ size.astype(np.uint64) * _LENGTH_MIX) | _TOP_BIT
    return keys


def spans(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The positions ``starts[k] .. starts[k] + lengths[k] - 1`` for every ``k``, concatenated
    (a length may be 0), without a Python loop.

    >>> spans(np.array([4, 0, 9]), np.array([2, 0, 3])).tolist()
    [4, 5, 9, 10, 11]
    """
    return np.repeat(starts - np.concatenate(([0], np.cumsum(lengths)[:-1])), lengths) + np.arange(lengths.sum())


class TokenTable:
    """Key -> value of a pure function of the token, filled on first sight.

    Parameters
    ----------
    value_of : callable
        The token (whatever ``token_at`` gives) -> its integer value. Must depend on the token
        alone (the table only saves time, and is emptied when it outgrows ``limit``), or on
        what the caller keeps beside it and ``on_clear`` empties with it.
    dtype : numpy dtype, default int64
        Of the values.
    limit : int, default 2_000_000
        Distinct tokens kept; past it the table starts afresh, which bounds memory on endless
        streams of new words.
    on_clear : callable, optional
        Called whenever the table is emptied (values that number entries of a list the
        caller keeps: the list goes with them).
    """

    def __init__(self, value_of: Callable[[object], int], dtype=np.int64, limit: int = 2_000_000,
                 on_clear: Callable[[], None] | None = None):
        self.value_of = value_of
        self.dtype = np.dtype(dtype)
        self.limit = limit
        self.on_clear = on_clear
        self.clear()

    def clear(self) -> None:
        self._bits = 12
        self._keys = np.zeros(1 << self._bits, np.uint64)  # 0: empty (no key is 0)
        self._values = np.zeros(1 << self._bits, self.dtype)
        self._size = 0
        if self.on_clear is not None:
            self.on_clear()

    def __len__(self) -> int:
        return self._size

    def __getstate__(self):  # workers build their own table rather than receive one
        return {"value_of": self.value_of, "dtype": self.dtype, "limit": self.limit, "on_clear": self.on_clear}

    def __setstate__(self, state):
        self.__init__(**state)

    def lookup(self, keys: np.ndarray, token_at: Callable[[int], object]) -> np.ndarray:
        """The value of each key; ``token_at(i)`` gives the token of ``keys[i]``, asked only for
        the first occurrence of a key the table does not hold yet."""
        if self._size > self.limit:
            self.clear()
        values, missing = self._find(keys)
        if missing.size:
            new_keys, first, inverse = np.unique(keys[missing], return_index=True, return_inverse=True)
            new_values = np.fromiter((self.value_of(token_at(i)) for i in missing[first].tolist()),
                                     self.dtype, len(new_keys))
            self._insert(new_keys, new_values)
            values[missing] = new_values[inverse.reshape(-1)]
        return values

    def lookup_spans(self, data: bytes, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """:meth:`lookup` for the tokens ``data[starts[i]:ends[i]]`` of one bytes buffer, each
        given to ``value_of`` as bytes."""
        return self.lookup(token_keys(data, starts, ends), lambda i: data[starts[i]:ends[i]])

    def _slots(self, keys: np.ndarray) -> np.ndarray:
        # Fibonacci hashing: the top bits of key x golden ratio (short keys' low bits are
        # letters, far from uniform); below 2^bits, so the int64 view is the index
        return ((keys * _GOLDEN) >> np.uint64(64 - self._bits)).view(np.int64)

    def _find(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Values (arbitrary where missing) and the positions of the keys the table lacks."""
        kernels = native.load()
        if kernels is not None and self.dtype.itemsize == 8:
            return kernels.table_find(self._keys, self._values, self._bits, keys)
        slots = self._slots(keys)
        held = self._keys[slots]
        values = self._values[slots]
        pending = np.flatnonzero(held != keys)  # usually few: the table is at most half full
        if not pending.size:
            return values, pending
        mask = (1 << self._bits) - 1
        slots, held = slots[pending], held[pending]
        missing = []
        while pending.size:  # linear probing, every pending key one step at a time
            empty = held == 0
            missing.append(pending[empty])
            going = ~empty
            pending, slots = pending[going], (slots[going] + 1) & mask
            held = self._keys[slots]
            found = held == keys[pending]
            values[pending[found]] = self._values[slots[found]]
            going = ~found
            pending, slots, held = pending[going], slots[going], held[going]
        return values, np.concatenate(missing)

    def _insert(self, keys: np.ndarray, values: np.ndarray) -> None:
        """Adds distinct keys the table does not hold."""
        if 2 * (self._size + len(keys)) > len(self._keys):  # keep the load at most one half
            old_keys, old_values = self._keys[self._keys != 0], self._values[self._keys != 0]
            while 2 * (self._size + len(keys)) > (1 << self._bits):
                self._bits += 1
            self._keys = np.zeros(1 << self._bits, np.uint64)
            self._values = np.zeros(1 << self._bits, self.dtype)
            self._size = 0
            self._place(old_keys, old_values)
        self._place(keys, values)

    def _place(self, keys: np.ndarray, values: np.ndarray) -> None:
        mask = (1 << self._bits) - 1
        slots = self._slots(keys)
        pending = np.arange(len(keys))
        while pending.size:
            free = self._keys[slots] == 0
            # of the keys probing the same free slot, the first takes it
            _, first = np.unique(slots[free], return_index=True)
            taking = np.flatnonzero(free)[first]
            self._keys[slots[taking]] = keys[pending[taking]]
            self._values[slots[taking]] = values[pending[taking]]
            going = np.ones(len(pending), bool)
            going[taking] = False
            pending, slots = pending[going], (slots[going] + 1) & mask
        self._size += len(keys)
