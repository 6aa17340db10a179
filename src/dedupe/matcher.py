"""One regular expression compiled for the kernels' backtracking matcher.

The boilerplate features try one large alternation (the vocabulary of promos, credits, dates...)
at tens of thousands of positions per chunk; from Python each try is a call into :mod:`re`, and
the calls, not the matching, cost most of the time. This module turns the pattern's parse tree
(:mod:`re`'s own parser) into a small program that ``dd_vocab_scan`` in ``_native.c`` runs at all
positions of a chunk in one call, with :mod:`re`'s semantics: alternatives are tried in order
and repeats greedily, backtracking in the same order, so the first match found is the one
``re`` finds. Supported are what the vocabulary uses: literals, classes (``\\w \\d \\s``, ranges,
negation), ``.``, alternation, groups, greedy and lazy repeats, ``\\b \\B ^ \\A``, and one-character
look-behinds; anything else raises ValueError and the caller keeps :mod:`re`.

Each top-level alternative must be one named group (what the match reports is that group's
``label``), which is what ``m.lastgroup`` gives for such a pattern.

A program is rows of four int32 ``(op, a, b, c)``::

    CHAR c           text[pos] == c, advance
    CLASS k neg      (text[pos] in class k) != neg, advance
    ANY              text[pos] != "\\n", advance
    SPLIT x y g      try x; on failure y at the same position; with a guard g >= 0, go
                     straight to y when the character at pos cannot begin x (guard g's
                     ASCII bit mask, or a character above ASCII that x cannot begin with),
                     and on past every next alternative it cannot begin (the skip table)
    JMP x
    MATCH label
    BOUNDARY neg     \\b (\\B with neg)
    LINE_START       ^ with re.MULTILINE: at the text's start or after "\\n"
    TEXT_START       \\A, and ^ without re.MULTILINE
    BEHIND k neg     (?<=[k]) / (?<![k]): the character before pos (none at the start)

Class membership is a uint32 bit table over the Basic Multilingual Plane (``\\w \\d \\s`` as
:mod:`re` itself matches them, found by one scan of every code point), and, only when a text
holds characters above the plane, a sorted table of ``(first, last, bits)`` ranges for those.

>>> import re
>>> p = compile_pattern(re.compile(r"(?P<year>\\b(?:19|20)\\d{2}\\b)|(?P<word>\\bnews\\w*)"), {"year": 0, "word": 1})
>>> p.labels, len(p.program) > 10
((0, 1), True)
"""

from __future__ import annotations

import re
from functools import lru_cache
from re import _constants as C
from re import _parser

import numpy as np

CHAR, CLASS, ANY, SPLIT, JMP, MATCH, BOUNDARY, LINE_START, TEXT_START, BEHIND = range(1, 11)
_CATEGORIES = {C.CATEGORY_DIGIT: (r"\d", False), C.CATEGORY_NOT_DIGIT: (r"\d", True),
               C.CATEGORY_WORD: (r"\w", False), C.CATEGORY_NOT_WORD: (r"\w", True),
               C.CATEGORY_SPACE: (r"\s", False), C.CATEGORY_NOT_SPACE: (r"\s", True)}


class CompiledPattern:
    """A program for ``dd_vocab_scan`` and its class tables; see the module docstring."""

    def __init__(self, program: np.ndarray, classes: list[tuple], labels: tuple[int, ...], word_class: int,
                 guards: np.ndarray):
        self.program = program
        self.guards = np.ascontiguousarray(guards if len(guards) else np.zeros((1, 3), np.uint64))
        self.skips = _skips(program, self.guards)
        self.labels = labels
        self.word_class = word_class
        self._classes = classes  # (items, flags) of each class bit
        self.bmp = np.zeros(0x10000, np.uint32)
        for bit, (items, flags) in enumerate(classes):
            self.bmp[_members(items, flags, 0, 0x10000)] |= np.uint32(1 << bit)
        # the classes of the planes above the BMP, each computed when a text first holds one of
        # its characters: re's categories take some 25 ms for each of \w \d \s over the
        # million code points above the BMP, and emoji need only plane 1
        self.astral_rows = np.zeros((0, 3), np.int64)  # (first, last, bits), ascending
        self.astral_planes = 0  # bit p: the rows of plane p are in astral_rows

    def astral(self, planes: int) -> np.ndarray:
        """``(first, last, bits)`` rows for the code points of ``planes`` (bit p: plane p, 1-16)
        and of the planes asked for before that are in some class."""
        for plane in range(1, 17):
            if not (planes >> plane & 1) or self.astral_planes >> plane & 1:
                continue
            first, stop = plane << 16, (plane + 1) << 16
            bits = np.zeros(stop - first, np.uint32)
            for bit, (items, flags) in enumerate(self._classes):
                bits[_members(items, flags, first, stop) - first] |= np.uint32(1 << bit)
            change = np.flatnonzero(np.diff(bits, prepend=np.uint32(0), append=np.uint32(0)) != 0)
            rows = [(first + a, first + b - 1, int(bits[a])) for a, b in zip(change[:-1], change[1:]) if bits[a]]
            together = np.concatenate((self.astral_rows, np.array(rows, np.int64).reshape(-1, 3)))
            self.astral_rows = np.ascontiguousarray(together[np.argsort(together[:, 0], kind="stable")])
            self.astral_planes |= 1 << plane
        return self.astral_rows

    @staticmethod
    def planes_in(text: np.ndarray) -> int:
        """The planes above the BMP that code points of ``text`` lie in, as bits (see :meth:`astral`)."""
        if text.dtype != np.uint32:
            return 0
        planes = 0
        for plane in np.unique(text[text >= 0x10000] >> 16).tolist():
            planes |= 1 << plane
        return planes


SKIP_ABOVE_ASCII, SKIP_AT_END = 128, 129  # the columns of a skip row after the 128 ASCII characters


def _skips(program: np.ndarray, guards: np.ndarray) -> np.ndarray:
    """Row g, column c: where a SPLIT guarded by g leads for the character c (0-127; 128 for one
    above ASCII, 129 for the text's end): itself when its guard admits c, else, past every
    following SPLIT of the alternation whose guard turns c away too, the first one that does
    not (or what follows the last). What the SPLITs would do one after another, in one jump: an
    alternation of a hundred words is tried only at the words c may begin."""
    n_guards = len(guards)
    admits = np.zeros((n_guards, SKIP_AT_END + 1), bool)
    bits = np.arange(64, dtype=np.uint64)
    admits[:, :64] = (guards[:, 0:1] >> bits) & np.uint64(1) != 0
    admits[:, 64:128] = (guards[:, 1:2] >> bits) & np.uint64(1) != 0
    admits[:, SKIP_ABOVE_ASCII] = guards[:, 2] != 0
    skips = np.zeros((max(n_guards, 1), SKIP_AT_END + 1), np.int32)
    guarded = np.flatnonzero((program[:, 0] == SPLIT) & (program[:, 3] >= 0))
    for pc in guarded[::-1].tolist():  # an alternation's next SPLIT lies further on: its row is done
        g, after = program[pc, 3], program[pc, 2]
        if program[after, 0] == SPLIT and program[after, 3] >= 0:
            onward = skips[program[after, 3]]
        else:
            onward = np.full(SKIP_AT_END + 1, after, np.int32)
        skips[g] = np.where(admits[g], pc, onward)
    return skips


def _members(items: tuple, flags: int, first: int, stop: int) -> np.ndarray:
    """The code points in ``[first, stop)`` that one class item list matches."""
    out = np.zeros(stop - first, bool)
    for op, value in items:
        if op is C.LITERAL:
            if first <= value < stop:
                out[value - first] = True
        elif op is C.RANGE:
            lo, hi = max(value[0], first), min(value[1] + 1, stop)
            if lo < hi:
                out[lo - first:hi - first] = True
        elif op is C.CATEGORY:
            category, negated = _CATEGORIES[value]
            found = _category(category, flags & re.ASCII, first, stop)
            out |= ~found if negated else found
        else:
            raise ValueError(f"unsupported class item {op}")
    return np.flatnonzero(out) + first


@lru_cache(maxsize=None)
def _category(category: str, flags: int, first: int, stop: int) -> np.ndarray:
    """Which code points of ``[first, stop)`` re's ``category`` (\\w, \\d, \\s) matches: re
    itself scans them all once (the million above the BMP in a few hundredths of a second)."""
    found = np.zeros(stop - first, bool)
    every = np.arange(first, stop, dtype=np.uint32).tobytes().decode("utf-32-le", "surrogatepass")
    for m in re.finditer(f"{category}+", every, flags):
        found[m.start():m.end()] = True
    found.flags.writeable = False
    return found


def compile_pattern(pattern: re.Pattern, labels: dict[str, int]) -> CompiledPattern:
    """The program of ``pattern``, whose top-level alternatives are named groups; a match
    reports ``labels[group name]``. ValueError for what the matcher does not support."""
    if pattern.flags & (re.IGNORECASE | re.DOTALL | re.LOCALE) or isinstance(pattern.pattern, bytes):
        raise ValueError("the matcher supports str patterns without IGNORECASE, DOTALL or LOCALE")
    parsed = _parser.parse(pattern.pattern, pattern.flags)
    if parsed.getwidth()[0] == 0:
        raise ValueError("a pattern that may match empty")  # the scan's resume rule needs width
    names = {number: name for name, number in parsed.state.groupdict.items()}
    multiline = bool(pattern.flags & re.MULTILINE)
    rows: list[list[int]] = []
    classes: list[tuple] = []

    def class_bit(items: tuple) -> int:
        key = (items, pattern.flags & re.ASCII)
        if key not in classes:
            if len(classes) == 32:
                raise ValueError("more than 32 character classes")
            classes.append(key)
        return classes.index(key)

    guards: list[tuple[int, int, int]] = []

    def emit(op: int, a: int = 0, b: int = 0) -> int:
        rows.append([op, a, b, -1])
        return len(rows) - 1

    def guard(items) -> int:
        """The guard of a SPLIT into ``items``: -1 when any character (or none) may begin them."""
        first, nullable = first_characters(items)
        if first is None or nullable:
            return -1
        mask, above = 0, False
        for op, value in first:
            if op is C.LITERAL:
                mask, above = (mask | 1 << value, above) if value < 128 else (mask, True)
            elif op is C.RANGE:
                for c in range(value[0], min(value[1], 127) + 1):
                    mask |= 1 << c
                above = above or value[1] >= 128
            else:  # a category: its ASCII members, and maybe more
                category, negated = _CATEGORIES[value]
                for c in range(128):
                    if (re.match(category, chr(c), pattern.flags & re.ASCII) is None) == negated:
                        mask |= 1 << c
                above = True
        guards.append((mask & (1 << 64) - 1, mask >> 64, int(above)))
        return len(guards) - 1

    def one_class(op, arg) -> tuple[int, int] | None:
        """(class bit, negated) of a one-character item, None for other items."""
        if op is C.LITERAL:
            return class_bit(((C.LITERAL, arg),)), 0
        if op is C.NOT_LITERAL:
            return class_bit(((C.LITERAL, arg),)), 1
        if op is C.IN:
            negated = any(item is C.NEGATE for item, _ in arg)
            return class_bit(tuple((i, v) for i, v in arg if i is not C.NEGATE)), int(negated)
        return None

    def sequence(items) -> None:
        for op, arg in items:
            item(op, arg)

    def item(op, arg) -> None:
        if op is C.LITERAL:
            emit(CHAR, arg)
        elif op in (C.NOT_LITERAL, C.IN):
            emit(CLASS, *one_class(op, arg))
        elif op is C.ANY:
            emit(ANY)
        elif op is C.BRANCH:
            alternatives(arg[1])
        elif op is C.SUBPATTERN:
            group, add_flags, del_flags, body = arg
            if group is not None or add_flags or del_flags:
                raise ValueError("capturing groups and inline flags are only supported at the top level")
            sequence(body)
        elif op in (C.MAX_REPEAT, C.MIN_REPEAT):
            low, high, body = arg
            greedy = op is C.MAX_REPEAT
            for _ in range(low):
                sequence(body)
            if high is C.MAXREPEAT:
                if body.getwidth()[0] == 0:
                    raise ValueError("an unbounded repeat of what may match empty")
                loop = emit(SPLIT)
                sequence(body)
                emit(JMP, loop)
                rows[loop][1:3] = [loop + 1, len(rows)] if greedy else [len(rows), loop + 1]
            else:
                splits = []
                for _ in range(high - low):
                    splits.append(emit(SPLIT))
                    sequence(body)
                for split in splits:  # each optional copy may be skipped to the very end
                    rows[split][1:3] = [split + 1, len(rows)] if greedy else [len(rows), split + 1]
        elif op is C.AT:
            if arg in (C.AT_BOUNDARY, C.AT_NON_BOUNDARY):
                emit(BOUNDARY, 0, int(arg is C.AT_NON_BOUNDARY))
            elif arg is C.AT_BEGINNING:
                emit(LINE_START if multiline else TEXT_START)
            elif arg is C.AT_BEGINNING_STRING:
                emit(TEXT_START)
            else:
                raise ValueError(f"unsupported anchor {arg}")
        elif op in (C.ASSERT, C.ASSERT_NOT) and arg[0] == -1 and len(arg[1]) == 1:
            found = one_class(*list(arg[1])[0])
            if found is None or found[1]:
                raise ValueError("only look-behinds of one literal or positive class are supported")
            emit(BEHIND, found[0], int(op is C.ASSERT_NOT))
        else:
            raise ValueError(f"unsupported pattern item {op}")

    def alternatives(branches) -> None:
        ends = []
        for k, branch in enumerate(branches):
            split = emit(SPLIT) if k < len(branches) - 1 else None
            sequence(branch)
            ends.append(emit(JMP))
            if split is not None:
                rows[split][1:] = [split + 1, len(rows), guard(list(branch))]
        for end in ends:
            rows[end][1] = len(rows)

    top = list(parsed)
    branches = top[0][1][1] if len(top) == 1 and top[0][0] is C.BRANCH else [top]
    found_labels = []
    for k, branch in enumerate(branches):
        branch = list(branch)
        if len(branch) != 1 or branch[0][0] is not C.SUBPATTERN or branch[0][1][0] not in names:
            raise ValueError("each top-level alternative must be one named group")
        group, add_flags, del_flags, body = branch[0][1]
        if add_flags or del_flags:
            raise ValueError("inline flags are not supported")
        split = emit(SPLIT) if k < len(branches) - 1 else None
        sequence(body)
        emit(MATCH, labels[names[group]])
        found_labels.append(labels[names[group]])
        if split is not None:
            rows[split][1:] = [split + 1, len(rows), guard(list(body))]
    word_class = class_bit(((C.CATEGORY, C.CATEGORY_WORD),))
    program = np.array(rows, np.int32).reshape(-1, 4)
    guard_rows = np.array(guards, np.uint64).reshape(-1, 3)
    return CompiledPattern(np.ascontiguousarray(program), classes, tuple(found_labels), word_class, guard_rows)


def first_characters(items) -> tuple[set | None, bool]:
    """(class items one of which the first character of a match of ``items`` is, or None for
    any character; whether ``items`` may match empty). Zero-width items are passed over."""
    out: set = set()
    for op, arg in items:
        if op is C.LITERAL:
            return out | {(C.LITERAL, arg)}, False
        if op is C.IN:
            if any(item is C.NEGATE for item, _ in arg):
                return None, False
            return out | set(arg), False
        if op is C.BRANCH:
            found, nullable = set(), False
            for alternative in arg[1]:
                first, empty = first_characters(list(alternative))
                if first is None:
                    return None, False
                found |= first
                nullable = nullable or empty
            out |= found
        elif op is C.SUBPATTERN:
            first, nullable = first_characters(list(arg[3]))
            if first is None:
                return None, False
            out |= first
        elif op in (C.MAX_REPEAT, C.MIN_REPEAT):
            first, nullable = first_characters(list(arg[2]))
            if first is None:
                return None, False
            out |= first
            nullable = nullable or arg[0] == 0
        elif op in (C.AT, C.ASSERT, C.ASSERT_NOT):
            nullable = True
        else:
            return None, False
        if not nullable:
            return out, False
    return out, True
