"""The compiled matcher (dedupe.matcher + dd_vocab_scan) finds what re finds."""

import random
import re

import numpy as np
import pytest

from dedupe import native
from dedupe.matcher import compile_pattern

kernels = native.load()
needs_kernels = pytest.mark.skipif(kernels is None, reason="the compiled kernels are not built")

PATTERNS = [
    r"(?P<a>\bab\b)|(?P<b>a\w*c)|(?P<c>\d{1,2}[/.-]\d{2,4}\b)",
    r"(?P<a>(?:^|\n)by\s)|(?P<b>\bby\b)",
    r"(?P<a>(?<!\w)[@#]\w)|(?P<b>\.(?:com|org)\b)|(?P<c>[^a-z\s]{2})",
    r"(?P<a>x+?y)|(?P<b>x{2,3})|(?P<c>.z)|(?P<d>\Bq)",
    r"(?P<a>\AAb)|(?P<b>(?<=\s)ab)|(?P<c>\W\S)",
]
ALPHABET = ["a", "b", "c", "x", "y", "z", "q", "A", " ", "\n", "1", "2", "/", ".", "-", "@", "#", "_",
            "é", "İ", "𝟐", "👍", "𝐑", "com", "by ", "\nby ", "org", "ab",
            "\U0002000b", "\U0001f3f4\U000e0067", "\U00100000"]  # planes 1, 2, 14 and 16


def _positions(text, pattern, flags):
    """What finditer finds, as (start, group) pairs."""
    return [(m.start(), m.lastgroup) for m in re.compile(pattern, flags).finditer(text)]


@needs_kernels
@pytest.mark.parametrize("flags", [re.MULTILINE, 0, re.ASCII])
@pytest.mark.parametrize("pattern", PATTERNS)
def test_the_compiled_matcher_finds_what_re_finds(pattern, flags):
    compiled_re = re.compile(pattern, flags)
    labels = {name: k for k, name in enumerate(sorted(compiled_re.groupindex))}
    program = compile_pattern(compiled_re, labels)
    rnd = random.Random(len(pattern) + flags)
    matched = 0
    for _ in range(400):
        text = "".join(rnd.choice(ALPHABET) for _ in range(rnd.randint(1, 30)))
        points = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), np.uint32)
        units = points.astype(np.uint8) if text.isascii() else points
        every = np.arange(len(text), dtype=np.int64)
        found = kernels.vocab_scan(program, units, every, np.full(len(text), len(text), np.int64))
        expected = _positions(text, pattern, flags)
        assert list(zip(found[0].tolist(), found[1].tolist())) == [(p, labels[g]) for p, g in expected], text
        matched += len(expected)
    assert matched > 30  # the texts do hold matches
    assert program.astral_planes == (1 << 1) | (1 << 2) | (1 << 14) | (1 << 16)  # as the texts met them


@needs_kernels
def test_the_classes_of_a_plane_are_computed_when_a_text_first_holds_it():
    compiled_re = re.compile(r"(?P<a>\w+)|(?P<b>\d)", 0)
    program = compile_pattern(compiled_re, {"a": 0, "b": 1})
    for text, planes in [("plain ascii", 0), ("thumbs 👍 up", 1 << 1), ("𠀋 and 👍", (1 << 1) | (1 << 2))]:
        points = np.frombuffer(text.encode("utf-32-le"), np.uint32)
        units = points.astype(np.uint8) if text.isascii() else points
        every = np.arange(len(text), dtype=np.int64)
        found = kernels.vocab_scan(program, units, every, np.full(len(text), len(text), np.int64))
        assert list(zip(found[0].tolist(), found[1].tolist())) == [
            (m.start(), 0 if m.lastgroup == "a" else 1) for m in compiled_re.finditer(text)]
        assert program.astral_planes == planes


@needs_kernels
def test_the_compiled_matcher_stops_at_each_texts_end_and_skips_what_a_match_covers():
    compiled_re = re.compile(r"(?P<a>ab\b)|(?P<b>b)", re.MULTILINE)
    program = compile_pattern(compiled_re, {"a": 0, "b": 1})
    text = "abab b"
    units = np.frombuffer(text.encode(), np.uint8)
    # "ab" ending where its text ends is a word end, the "b" inside that match is skipped, and
    # at 2 the text ends after "a"
    found = kernels.vocab_scan(program, units, np.array([0, 1, 2, 5]), np.array([2, 2, 3, 6]))
    assert list(zip(found[0].tolist(), found[1].tolist())) == [(0, 0), (5, 1)]


@pytest.mark.parametrize("pattern", [r"(?P<a>(a)b)", r"ab|(?P<a>c)", r"(?P<a>(?=x)x)", r"(?P<a>a)|(?P<b>(?:)*)",
                                     r"(?P<a>(?<!ab)c)", r"(?P<a>a$)"])
def test_what_the_matcher_does_not_support_is_refused(pattern):
    with pytest.raises(ValueError):
        compile_pattern(re.compile(pattern), {"a": 0, "b": 1})


@needs_kernels
def test_a_match_too_long_for_the_matcher_goes_back_to_re():
    """A word of 10,000 characters behind ``subscri\\w*`` needs more backtracking room than the
    matcher keeps: it hands the chunk back (None) and the features come from re, the same."""
    from dedupe.boilerplate import BLOCK_FEATURES, _features_many, _vocab_program

    word = "subscri" + "b" * 10_000
    text = f"a {word} b"
    units = np.frombuffer(text.encode(), np.uint8)
    assert kernels.vocab_scan(_vocab_program(), units, np.array([2]), np.array([len(text)])) is None
    features = _features_many([["Intro line here", text]])[0]
    assert features[1, BLOCK_FEATURES.index("vocab_promo")] == pytest.approx(np.log1p(1))
    assert features[0, BLOCK_FEATURES.index("vocab_promo")] == 0


def test_a_skip_is_the_guarded_splits_taken_one_after_another():
    """The skip table jumps where the SPLITs of an alternation, each turning the character away
    by its guard, would lead one by one (the vocabulary's guards, 130 columns each)."""
    from dedupe.boilerplate import _vocab_program
    from dedupe.matcher import SKIP_ABOVE_ASCII, SKIP_AT_END, SPLIT

    compiled = _vocab_program()
    program, guards = compiled.program, compiled.guards

    def admits(g, column):
        if column == SKIP_AT_END:
            return False
        if column == SKIP_ABOVE_ASCII:
            return bool(guards[g, 2])
        return bool(int(guards[g, column >> 6]) >> (column & 63) & 1)

    jumps = 0
    for pc in np.flatnonzero((program[:, 0] == SPLIT) & (program[:, 3] >= 0)).tolist():
        for column in range(SKIP_AT_END + 1):
            at = pc
            while program[at, 0] == SPLIT and program[at, 3] >= 0 and not admits(program[at, 3], column):
                at = program[at, 2]
            assert compiled.skips[program[pc, 3], column] == at
            jumps += at != pc and program[at, 0] == SPLIT  # on to a later alternative
    assert jumps > 100
