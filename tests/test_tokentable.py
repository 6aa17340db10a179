"""The token table: spans of one buffer keyed and looked up in numpy, equal to a dict per token."""

import random
import zlib

import numpy as np
import pytest

from dedupe.tokentable import UNSPACED_RANGES, TokenTable, split_unspaced, token_bounds, token_keys


def _spans(data: bytes):
    starts, ends = token_bounds(np.frombuffer(data, np.uint8))
    return starts, ends


def _random_text(rng: random.Random, n_tokens: int) -> bytes:
    """Tokens of every length around the 8-byte word edges, with NUL and high bytes, between
    runs of every ASCII whitespace byte."""
    tokens = []
    for _ in range(n_tokens):
        length = rng.choice([1, 2, 6, 7, 8, 9, 15, 16, 17, 24, 40, 200])
        tokens.append(bytes(rng.choice(b"ab\x00\xc3\xa9z\xff") for _ in range(length)))
    gaps = [bytes(rng.choice(b" \t\n\r\x0b\x0c") for _ in range(rng.randint(1, 3))) for _ in tokens]
    return b"".join(g + t for g, t in zip(gaps, tokens)) + b" "


def test_bounds_are_the_pieces_of_bytes_split():
    rng = random.Random(1)
    for data in [b"", b"   ", b"a", b" a b ", b"\x00x\x0by\x1cz", _random_text(rng, 300)]:
        starts, ends = _spans(data)
        assert [data[s:e] for s, e in zip(starts, ends)] == data.split()


def _words_by_characters(text: str) -> list[str]:
    """The words of ``text`` as split_unspaced should give them, character by character."""
    def unspaced(c: str) -> bool:
        return any(low <= ord(c) <= high for low, high in UNSPACED_RANGES)

    words = []
    for piece in text.encode().split():
        run = ""
        for c in piece.decode():
            if unspaced(c):
                words += [run] * bool(run) + [c]
                run = ""
            else:
                run += c
        words += [run] * bool(run)
    return words


def test_scripts_written_without_spaces_are_cut_into_characters():
    """A paragraph of Chinese, Japanese or Thai was one "word": too short to have shingles, its
    copies were never found. Each of their characters is now a word; Latin, Hangul, digits and
    punctuation next to them stay as they were, and so does each word's line."""
    rng = random.Random(3)
    pieces = ["東京", "で", "kindle", "書籍", "ภาษาไทย", "한국어", "42", "é", "𠀋𠀌", "・", "。", "ｶﾀｶﾅ", "ab"]
    for _ in range(200):
        lines = ["".join(rng.choice(pieces) + rng.choice(["", "", " ", "  "]) for _ in range(rng.randint(0, 12)))
                 for _ in range(rng.randint(1, 4))]
        data = "\n".join(lines).encode()
        raw = np.frombuffer(data, np.uint8)
        want = [w for text in lines for w in _words_by_characters(text)]
        # cut after the runs are found, and as they are found (compiled, where the kernels are)
        for starts, ends, line in (split_unspaced(data, *token_bounds(raw, lines=True)),
                                   token_bounds(raw, lines=True, unspaced=True)):
            assert [data[a:b].decode() for a, b in zip(starts, ends)] == want, lines
            assert line.tolist() == [k for k, text in enumerate(lines) for _ in _words_by_characters(text)]
    lines = ["市议会周二投票批准了港区的新预算" * 5, "and kindle書籍 é"]  # cuts beyond the few copied slice by slice
    data = "\n".join(lines).encode()
    starts, ends, line = split_unspaced(data, *token_bounds(np.frombuffer(data, np.uint8), lines=True))
    assert [data[a:b].decode() for a, b in zip(starts, ends)] == [w for t in lines for w in _words_by_characters(t)]
    assert line.tolist() == [0] * 80 + [1] * 5
    ascii_only = b"plain words only"
    bounds = token_bounds(np.frombuffer(ascii_only, np.uint8), lines=True)
    assert all(a is b for a, b in zip(split_unspaced(ascii_only, *bounds), bounds))  # untouched, not copied


def test_keys_are_equal_exactly_for_equal_tokens():
    rng = random.Random(2)
    data = _random_text(rng, 3000)
    starts, ends = _spans(data)
    keys = token_keys(data, starts, ends)
    tokens = [data[s:e] for s, e in zip(starts, ends)]
    key_of = {}
    for token, key in zip(tokens, keys.tolist()):
        assert key_of.setdefault(token, key) == key
    assert len(set(key_of.values())) == len(key_of)  # distinct tokens, distinct keys
    assert 0 not in key_of.values()  # 0 marks an empty slot in the table
    # a short token padded with NUL bytes is another token, and keyed apart
    data = b"a a\x00 a\x00\x00\x00\x00\x00\x00\x00 a\x00\x00\x00\x00\x00\x00\x00\x00"
    assert len(set(token_keys(data, *_spans(data)).tolist())) == 4


def test_keys_do_not_depend_on_where_the_token_lies():
    data = b"xx newspaper  newspaper\nnewspaper"
    starts, ends = _spans(data)
    keys = token_keys(data, starts, ends)
    assert keys[1] == keys[2] == keys[3] != keys[0]
    again = token_keys(b"newspaper", *_spans(b"newspaper"))
    assert again[0] == keys[1]


@pytest.mark.parametrize("limit", [50, 2_000_000])
def test_lookup_equals_a_dict_and_asks_once_per_new_token(limit):
    rng = random.Random(3)
    asked = []

    def value_of(token: bytes) -> int:
        asked.append(token)
        return zlib.crc32(token)

    table = TokenTable(value_of, np.uint64, limit=limit)
    seen = set()
    for _ in range(12):  # many chunks: the table grows (and, with a small limit, starts afresh)
        data = _random_text(rng, rng.randint(0, 800))
        starts, ends = _spans(data)
        tokens = [data[s:e] for s, e in zip(starts, ends)]
        del asked[:]
        values = table.lookup(token_keys(data, starts, ends), lambda i: data[starts[i]:ends[i]])
        assert values.tolist() == [zlib.crc32(t) for t in tokens]
        assert len(asked) == len(set(asked))  # each new token once
        if limit > 10_000:
            assert set(asked) == set(tokens) - seen  # and only the new ones
            seen |= set(tokens)
    if limit > 10_000:
        assert len(table) == len(seen)
    else:
        assert len(table) <= 800 + limit


def test_values_that_number_a_list_of_the_callers_stay_right_when_the_table_starts_afresh():
    """A value may number an entry of a list the caller keeps (the off-topic counter's pieces of
    several terms): ``on_clear`` empties the list whenever the table is emptied, at its limit."""
    rng = random.Random(5)
    kept: list[bytes] = []

    def number(token: bytes) -> int:
        kept.append(token)
        return len(kept) - 1

    table = TokenTable(number, np.int64, limit=30, on_clear=kept.clear)
    emptied = 0
    for _ in range(20):
        data = _random_text(rng, rng.randint(50, 400))
        starts, ends = _spans(data)
        before = len(table)
        values = table.lookup(token_keys(data, starts, ends), lambda i: data[starts[i]:ends[i]])
        emptied += before > 30
        assert [kept[v] for v in values.tolist()] == [data[s:e] for s, e in zip(starts, ends)]
        assert len(kept) == len(table)  # the list is emptied with the table: bounded as it is
    assert emptied >= 3


def test_a_pickled_table_starts_empty_and_gives_the_same_values():
    import pickle

    table = TokenTable(len)
    data = b"one two three"
    starts, ends = _spans(data)
    table.lookup(token_keys(data, starts, ends), lambda i: data[starts[i]:ends[i]])
    copy = pickle.loads(pickle.dumps(table))
    assert len(copy) == 0
    assert copy.lookup(token_keys(data, starts, ends), lambda i: data[starts[i]:ends[i]]).tolist() == [3, 3, 5]


def test_long_tokens_are_keyed_by_every_byte_and_its_place():
    """A token of a megabyte (one huge "paragraph" without a space) is keyed in one pass; a
    change of its last byte, or two of its 8-byte words swapped, gives another key."""
    rng = random.Random(4)
    huge = bytes(rng.randrange(33, 127) for _ in range(1 << 20))
    swapped = huge[8:16] + huge[:8] + huge[16:]
    data = b" ".join([huge, huge[:-1] + b"!", swapped, b"x", huge, huge[:-1]])
    keys = token_keys(data, *_spans(data)).tolist()
    assert keys[0] == keys[4]
    assert len({keys[0], keys[1], keys[2], keys[3], keys[5]}) == 5
