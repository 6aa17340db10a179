"""The compiled kernels (dedupe/_native.c) against the numpy code they stand in for: the same
values for the same inputs, down to the bit, and the same cleaning output end to end."""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from dedupe import native
from dedupe.boilerplate import _features_many
from dedupe.lsh import MinHashLSHIndex, _SortedMultimap
from dedupe.deciding import _pairs_of_documents, similarity
from dedupe.minhash import MinHasher
from dedupe import offtopic
from dedupe.offtopic import TermCounts
from dedupe.shingling import Shingler, sequence_hashes
from dedupe.tokentable import ASCII_WHITESPACE, TokenTable, token_bounds, token_keys, token_runs

from conftest import ROOT, run_dedupe

sys.path.insert(0, str(ROOT / "benchmarks"))

import make_dump  # noqa: E402

numpy_only = os.environ.get("DEDUPE_NATIVE") == "0"


def test_the_kernels_are_built():
    if numpy_only:
        pytest.skip("DEDUPE_NATIVE=0: the numpy code is tested alone")
    assert native.load() is not None, (
        "dedupe/_native.c was not compiled (no C compiler at install time?): install gcc and "
        "run `pip install -e .` again, or set DEDUPE_NATIVE=0 to test the numpy code alone")


def test_a_build_left_behind_by_a_later_edit_of_the_source_is_not_used(tmp_path, monkeypatch):
    """pip install -e . keeps the old library when an edited _native.c fails to compile (the
    extension is optional); the library carries its source's hash, and a mismatch means numpy."""
    if native.load() is None:
        pytest.skip("the compiled kernels are not built or are turned off")
    library = native.load()._lib
    assert not native._stale(library)
    source = Path(native.__file__).with_name("_native.c")
    if source.exists():  # a source checkout (editable install): the build is this source's
        assert library.dd_source_hash().decode() == hashlib.sha256(source.read_bytes()).hexdigest()[:16]
    monkeypatch.setattr(native, "__file__", str(tmp_path / "native.py"))
    assert not native._stale(library)  # no source beside the module: nothing to compare
    (tmp_path / "_native.c").write_bytes(b"/* edited */")
    assert native._stale(library)


def test_the_version_says_whether_the_kernels_run():
    """... and, where numpy runs alone, whether the kernels were built (and turned off) or not."""
    off = ("numpy only (compiled kernels built, turned off by DEDUPE_NATIVE=0)" if native.available()
           else "numpy only (no compiled kernels)")
    assert run_dedupe("--version").stdout.decode().strip().endswith(
        "compiled kernels" if native.load() is not None else off)
    assert run_dedupe("--version", env={"DEDUPE_NATIVE": "0"}).stdout.decode().strip().endswith(off)


@pytest.fixture
def both(monkeypatch):
    """``both(f, *args)``: f's result with the kernels and with numpy alone."""
    if native.load() is None:
        pytest.skip("the compiled kernels are not built or are turned off")

    def run(f, *args, **kwargs):
        monkeypatch.setenv("DEDUPE_NATIVE", "1")
        compiled = f(*args, **kwargs)
        monkeypatch.setenv("DEDUPE_NATIVE", "0")
        assert native.load() is None
        plain = f(*args, **kwargs)
        monkeypatch.setenv("DEDUPE_NATIVE", "1")
        return compiled, plain

    return run


def _assert_same(compiled, plain):
    if isinstance(compiled, tuple):
        assert len(compiled) == len(plain)
        for c, p in zip(compiled, plain):
            _assert_same(c, p)
    else:
        assert compiled.dtype == plain.dtype and compiled.shape == plain.shape
        assert np.array_equal(compiled, plain, equal_nan=compiled.dtype.kind == "f")


def _blocks() -> list[str]:
    """Seed paragraphs and the hard cases: typography, non-Latin scripts, symbols alone, blocks of
    one word and of thousands, a word of 10k bytes, astral characters and a lone surrogate."""
    lines = [line for p in sorted((ROOT / "seeds").glob("*.txt"))
             for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]
    return lines + ["“Brutalised” — the  Colour of NEWS…", "•", "x", "Straße ÉTÉ ǅ ﬁne", "日本語の テキスト 12",
                    "市议会周二投票批准了港区的新预算。「引用」：ｶﾀｶﾅ", "ภาษาไทยkindle書籍 𠀋𠀌 한국어",
                    "Bundes\u00adgericht ภาษา\u200bไทย می\u200cخواهم Всё Ёлка الـعربية किया।",
                    "emoji 🙂🙂 here", "lone \ud800 surrogate", "a" * 10_000, "word " * 3000, "tab\tand\x0bvt"]


def _random_bytes(rng: random.Random, n_tokens: int) -> bytes:
    tokens = [bytes(rng.choice(b"ab\x00\xc3\xa9z\xff\n") for _ in range(rng.choice([1, 7, 8, 9, 16, 17, 300])))
              for _ in range(n_tokens)]
    return b"".join(bytes(rng.choice(b" \t\n\r\x0b\x0c") for _ in range(rng.randint(0, 2))) + t for t in tokens)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_token_bounds_lines_and_keys(both, seed):
    data = _random_bytes(random.Random(seed), 2000)
    raw = np.frombuffer(data, np.uint8)
    for edge in (raw, raw[:1], raw[:0], np.frombuffer(b"ab", np.uint8), np.frombuffer(b"  ", np.uint8)):
        _assert_same(*both(token_bounds, edge))
        _assert_same(*both(token_bounds, edge, lines=True))
        _assert_same(*both(token_runs, edge > 100))
        _assert_same(*both(token_bounds, edge, np.arange(256) >= 100, lines=True))  # many gap values
    starts, ends = token_bounds(raw)
    assert [data[s:e] for s, e in zip(starts, ends)] == data.split()
    _assert_same(*both(token_keys, data, starts, ends))
    _assert_same(*both(token_keys, data[:ends[-1]], starts, ends))  # the last token ends the buffer


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_token_bounds_cut_at_characters_of_scripts_without_spaces(both, seed):
    """The compiled token_bounds cuts at each character of a script written without spaces as
    it finds the runs; numpy cuts the runs afterwards: the same tokens, wherever the characters
    fall against its blocks of 64 bytes (a 4-byte one across the edge, at the very end)."""
    rng = random.Random(seed)
    pieces = ["東", "京で", "ab", "kindle", " ", "  ", "\n", "é", "𠀋", "ภา", "한", "€", "💡", "x" * 61]
    for size in (0, 1, 63, 64, 65, 200, 5000):
        text = "".join(rng.choice(pieces) for _ in range(size))
        raw = np.frombuffer(text.encode(), np.uint8)
        _assert_same(*both(token_bounds, raw, ASCII_WHITESPACE, True, True))


@pytest.mark.parametrize("seed", [1, 2])
def test_keys_of_code_points_are_the_keys_of_their_utf8(seed):
    """A token keyed from its code points (the boilerplate features, ASCII tokens eight points at
    a time) has the key of its UTF-8 bytes: lengths about the 8-byte words, characters of every
    UTF-8 size and lone surrogates, tokens that end the array."""
    kernels = native.load()
    if kernels is None:
        pytest.skip("the compiled kernels are not built or are turned off")
    rng = random.Random(seed)
    alphabet = "abcxyz019.-" * 6 + "é€🙂\ud800ß"
    tokens = ["".join(rng.choice(alphabet) for _ in range(rng.choice([1, 2, 7, 8, 9, 15, 16, 17, 40])))
              for _ in range(3000)]
    tokens += ["a" * k for k in range(1, 25)]
    text = " ".join(tokens)
    points = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), np.uint32)
    starts = np.array([m.start() for m in re.finditer(r"\S+", text)], np.int64)
    ends = starts + np.array([len(t) for t in tokens], np.int64)
    utf8 = [t.encode("utf-8", "surrogatepass") for t in tokens]
    data = b" ".join(utf8)
    byte_starts = np.cumsum([0] + [len(b) + 1 for b in utf8[:-1]])
    expected = token_keys(data, byte_starts, byte_starts + np.array([len(b) for b in utf8]))
    for cut in (len(tokens), len(tokens) - 1, 1):  # the last token at the array's end
        last = ends[cut - 1]
        keys = kernels.token_keys_utf32(points[:last], starts[:cut], ends[:cut])
        np.testing.assert_array_equal(keys, expected[:cut])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_kind_counts_equal_numpys(seed):
    """Characters of each kind per block, and those that start a word, counted 64 at a time by
    bit masks: what one bincount over every character gives (blocks across the 64-character
    words, empty blocks, a last block without its newline, runs of spaces and of one kind)."""
    kernels = native.load()
    if kernels is None:
        pytest.skip("the compiled kernels are not built or are turned off")
    rng = np.random.default_rng(seed)
    n_kinds, space = 7, 0
    lengths = rng.choice([0, 1, 2, 5, 63, 64, 65, 130, 300], 400)
    n_chars = int((lengths + 1).sum()) - 1
    kinds = rng.integers(0, n_kinds, n_chars).astype(np.uint8)
    kinds[rng.random(n_chars) < 0.3] = space
    kinds[100:400] = 3  # one long run
    for size in (n_chars, n_chars - 1, 70):  # and text that ends inside a block
        k = kinds[:size]
        word_start = (k != space) & np.concatenate(([True], k[:-1] == space))
        block_of_char = np.repeat(np.arange(len(lengths)), lengths + 1)[:size]
        cell = (block_of_char * n_kinds + k) * 2 + word_start
        expected = np.bincount(cell, minlength=len(lengths) * n_kinds * 2).reshape(len(lengths), n_kinds, 2)
        np.testing.assert_array_equal(kernels.kind_counts(k, lengths, n_kinds, space), expected)


def test_table_lookups_grow_and_restart_alike(both):
    data = _random_bytes(random.Random(4), 5000)
    starts, ends = token_bounds(np.frombuffer(data, np.uint8))

    def lookups():
        table = TokenTable(lambda token: len(token) * 31 + token[0], np.int64, limit=700)
        return tuple(table.lookup_spans(data, starts[lo:lo + 900], ends[lo:lo + 900]) for lo in range(0, len(starts), 900))

    _assert_same(*both(lookups))


def test_shingles_signatures_and_exact_hashes(both):
    blocks = _blocks()

    def sketch(shingle_size):
        batch = Shingler(shingle_size=shingle_size).shingle(blocks)
        sig = MinHasher(num_perm=128).signatures(batch.hashes, batch.offsets)
        return batch.hashes, batch.offsets, batch.exact, batch.words, sig

    for size in (1, 3, 5):
        _assert_same(*both(sketch, size))
    values = np.random.default_rng(5).integers(0, 2**63, 70_000, dtype=np.int64).astype(np.uint64)
    starts = np.array([0, 0, 1, 5, 69_000, 69_000, 70_000])  # empty sequences, and one past K^65535
    _assert_same(*both(sequence_hashes, values, starts))


def test_folding_line_by_line_equals_folding_the_joined_text():
    from dedupe import normalising, offtopic

    rng = random.Random(9)
    alphabet = ("aZ9 ,.'`-\t\r" + "".join(normalising._FOLDS) + "éÉİßǅﬁ日ȺΣσK\u0301\u1100\u1161\u0bbe🙂\ud800"
                "\u0bc6\uac00\u11a8")
    texts = _blocks() + ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40))) for _ in range(400)]
    cases = [(normalising._folded_bytes, normalising._ASCII_STEPS, normalising.steps_map),
             (offtopic._lowered_bytes, offtopic._ASCII_LOWERED, offtopic.lowered_map)]
    for fold, ascii_map, bmp_map in cases:
        for chunk in (texts, texts[:1], [], ["", ""], ["one\ntwo", "é"], ["\u0301x", "e", "\u0301"]):
            folded = fold("\n".join(chunk))
            assert normalising.fold_lines(chunk, fold, ascii_map, bmp_map) == (folded, folded.count(b"\n"))


def test_the_character_tables_are_the_fold_of_each_character():
    """The folding tables, built from whole-string folds, hold for every code point what folding
    that one character gives: the character it becomes, a drop, or Python (a fold of another
    length, one that depends on neighbours, a surrogate, the BMP left for a higher plane)."""
    import unicodedata

    from dedupe import normalising

    python, drop = native.Kernels.FOLD_PYTHON, native.Kernels.FOLD_DROP
    second = normalising._second_in_composition()

    def expected(fold, size):
        table = np.full(size, python, np.uint32)
        for cp in range(size):
            c = chr(cp)
            folded = fold(c)
            if 0xD800 <= cp < 0xE000 or folded is None:
                continue
            if folded == "":
                table[cp] = drop
            elif len(folded) == 1 and (ord(folded) < 0x10000 or cp >= 0x10000):
                table[cp] = ord(folded)
        return table

    def step(c):
        if c in normalising._FOLDS:
            return normalising._FOLDS[c]
        if unicodedata.combining(c) or not unicodedata.is_normalized("NFKC", c) or ord(c) in second:
            return None
        return c.casefold()

    assert np.array_equal(normalising.steps_map(), expected(step, 0x10000))
    assert np.array_equal(offtopic.lowered_map(), expected(lambda c: None if c == "\u03a3" else c.lower(), 0x20000))
    assert 0x0130 in normalising.fold_each(normalising.code_points(0x200), str.lower)[1]  # İ lowers to two


def test_the_blocks_of_documents_carry_their_utf8():
    """A document whose blocks are all its lines is encoded whole; the UTF-8 is that of the
    blocks joined by newlines all the same (blank and white-space lines, carriage returns, a
    final newline, documents without blocks, a lone surrogate), and folding reads it."""
    from dedupe import normalising
    from dedupe.segmenting import segment_texts

    texts = ["one\ntwo", "a\n\nb", "x\n  \ny", "r\r\ns", "end\n", "", "   ", "é\ud800 🙂\nz", "\n\n", "solo"]
    blocks = [segment_texts(text) for text in texts]
    lines = normalising.Lines.of_documents(texts, blocks)
    flat = [block for document in blocks for block in document]
    assert list(lines) == flat and lines.utf8 == normalising.utf8_joined(flat, b"\n")
    assert normalising.Lines(flat).utf8 == lines.utf8
    folded = normalising._folded_bytes("\n".join(flat))
    assert normalising.fold_lines(lines, normalising._folded_bytes, normalising._ASCII_STEPS,
                                  normalising.steps_map) == (folded, folded.count(b"\n"))


def test_term_counts(both):
    blocks = _blocks()

    def count(chunk):
        m = TermCounts(2**18).count(chunk)
        return m.data, m.indices, m.indptr

    for chunk in (blocks, ["", "  "], ["x"], ["co-operate, co-operate", "l'état “quoted” — don’t"] * 40):
        _assert_same(*both(count, chunk))


def test_boilerplate_features(both):
    documents = [p.read_text(encoding="utf-8").splitlines() for p in sorted((ROOT / "seeds").glob("*.txt"))]
    documents += [[], ["", "  "], _blocks()[-10:]]  # non-ASCII, long tokens, astral and surrogates
    _assert_same(*both(_features_many, documents))
    _assert_same(*both(_features_many, documents + [["İstanbul ǅ ﬁ", "x"]]))  # lower() moves the offsets
    # every character lower-cased by the table (no surrogate, no sigma): astral ones too
    plain = [["ÉTÉ à Paris 🙂 𐐀𐐁 ǅ ﬁ Ωmega", "Read More: ÉTÉ", "a" * 3000], ["ŁÓDŹ “quoted” — 2022"]]
    _assert_same(*both(_features_many, documents[:5] + plain))
    assert native.load().map_points(np.array([ord(c) for c in "ÉΣ🙂"], np.uint32), offtopic.lowered_map()) is None


@pytest.mark.parametrize("dtype", [np.uint32, np.uint64])
def test_sorted_multimap_merges_and_lookups(both, dtype):
    def grow_and_look():
        rng = np.random.default_rng(8)
        table, found = _SortedMultimap(base=64, ratio=4), []
        for batch in range(12):  # runs merge level into level
            keys = rng.integers(0, 5000, 300).astype(dtype)  # keys repeat, within and across batches
            table.add(keys, np.arange(batch * 300, batch * 300 + 300, dtype=np.uint32))
            found += table.lookup(rng.integers(0, 5100, 400).astype(dtype))
        # with the kernels, the levels that absorbed others grew in their own maps
        assert (native.load() is not None) == any(run.pairs is not None for run in table.levels if run)
        return tuple(found) + tuple(a for run in table.levels if run for a in (run.keys, run.vals, run.start))

    _assert_same(*both(grow_and_look))


@pytest.mark.parametrize("dtype", [np.uint32, np.uint64])
def test_the_bucket_directory_of_a_run_equals_numpys(dtype):
    """start[q]: the first key whose top bits are at least q, over the whole key range (the
    smallest and largest keys, repeats, empty buckets, long runs in one bucket)."""
    from dedupe.lsh import _Run

    kernels = native.load()
    if kernels is None:
        pytest.skip("the compiled kernels are not built or are turned off")
    rng = np.random.default_rng(5)
    top = np.iinfo(dtype).max
    for n in (0, 1, 2, 7, 100, 5000):
        keys = np.sort(np.concatenate((rng.integers(0, top, n, dtype=dtype, endpoint=True),
                                       np.array([0, top, top, 1 << 20] * (n > 50), dtype)))).astype(dtype)
        if len(keys) > 2:
            keys[len(keys) // 3: len(keys) // 2] = keys[len(keys) // 3]  # one crowded bucket
        run = _Run(keys, np.arange(len(keys), dtype=np.uint32))
        n_buckets = len(run.start) - 1
        want = np.zeros(n_buckets + 1, np.int64)
        np.cumsum(np.bincount((keys >> run.shift).astype(np.intp), minlength=n_buckets), out=want[1:])
        np.testing.assert_array_equal(kernels.run_directory(keys, int(run.shift), n_buckets), want)


@pytest.mark.parametrize("dtype", [np.uint32, np.uint64])
def test_merging_in_place_gives_the_merged_run(dtype):
    """A batch merged into a run's own arrays from the back (no new array) gives what a stable
    sort of both gives: the same keys, and the same values in the same order, new pairs after
    the run's of an equal key; both the pair-by-pair and the galloping merge."""
    kernels = native.load()
    if kernels is None:
        pytest.skip("the compiled kernels are not built or are turned off")
    rng = np.random.default_rng(12)
    for n, m, spread in ((0, 5, 10), (5, 0, 10), (40, 30, 20), (1000, 30, 300), (5000, 7, 50), (3, 900, 10**9)):
        keys = np.sort(rng.integers(0, spread, n)).astype(dtype)  # keys repeat, within and across
        new_keys = np.sort(rng.integers(0, spread, m)).astype(dtype)
        vals, new_vals = np.arange(n, dtype=np.uint32), np.arange(10**6, 10**6 + m, dtype=np.uint32)
        order = np.argsort(np.concatenate((keys, new_keys)), kind="stable")  # the run's pairs first
        want_keys, want_vals = np.concatenate((keys, new_keys))[order], np.concatenate((vals, new_vals))[order]
        room_keys, room_vals = np.zeros(n + m, dtype), np.zeros(n + m, np.uint32)
        room_keys[:n], room_vals[:n] = keys, vals
        kernels.merge_in_place(room_keys, room_vals, n, new_keys, new_vals)
        np.testing.assert_array_equal(room_keys, want_keys)
        np.testing.assert_array_equal(room_vals, want_vals)


@pytest.mark.parametrize("key_bits", [32, 64])
def test_band_keys(both, key_bits):
    sig = np.random.default_rng(10).integers(0, 2**32, (300, 128), dtype=np.uint32)
    index = MinHashLSHIndex(num_perm=128, threshold=0.7, key_bits=key_bits)
    _assert_same(*both(index.band_keys, sig))


def test_sorting_band_keys_equals_numpys_sort():
    """The radix sort of (32-bit key, value) composites by key alone gives np.sort's order
    where values never decrease along the input (the index's band keys and rows)."""
    kernels = native.load()
    if kernels is None:
        pytest.skip("the compiled kernels are not built or are turned off")
    rng = np.random.default_rng(13)
    for n, spread in ((0, 10), (1, 10), (7, 3), (5000, 50), (100_000, 2**32)):  # keys repeat, or not
        keys = rng.integers(0, spread, n).astype(np.uint64)
        vals = np.sort(rng.integers(0, 2**32, n)).astype(np.uint64)  # ascending, with ties
        pairs = keys << np.uint64(32) | vals
        assert kernels.sort_pairs(pairs.copy()).tolist() == np.sort(pairs).tolist()


def test_stored_signature_bits(both):
    sig = np.random.default_rng(14).integers(0, 2**32, (300, 128), dtype=np.uint32)
    index = MinHashLSHIndex(num_perm=128, threshold=0.7, signature_bits=4)
    _assert_same(*both(index._low_bits, sig))
    _assert_same(*both(index._low_bits, sig[:0]))


def test_row_counts_equal_numpys_unique():
    kernels = native.load()
    if kernels is None:
        pytest.skip("the compiled kernels are not built or are turned off")
    rng = np.random.default_rng(11)
    # keys of 20, 15, 12 and 36 bits (the last sorted as 64-bit keys), and no pairs at all
    for n_rows, m, codes_up_to in ((1, 5000, 10**6), (50, 20000, 300), (400, 3000, 5), (50, 20000, 2**30), (3, 0, 1)):
        row = rng.integers(0, n_rows, m)  # in any order, as the pieces of several terms come last
        codes = rng.integers(-2, codes_up_to, m)
        data, indices, indptr = kernels.row_counts(row, codes, n_rows)
        keep = codes >= 0
        key, count = np.unique(row[keep] * codes_up_to + codes[keep], return_counts=True)
        assert indptr.tolist() == np.searchsorted(key, np.arange(n_rows + 1) * codes_up_to).tolist()
        assert indices.tolist() == (key % codes_up_to).tolist() and data.tolist() == count.tolist()


def test_similarity_of_pairs(both):
    rng = np.random.default_rng(6)
    sig = rng.integers(0, 4, (50, 128), dtype=np.uint32)  # values agree often
    i, j = rng.integers(0, 50, 3000), rng.integers(0, 50, 3000)
    _assert_same(*both(similarity, sig, i, j))
    assert float(similarity(sig, np.array([3]), np.array([3]))[0]) == 1.0


def test_pairs_of_documents(both):
    _assert_same(*both(_pairs_of_documents, [(0, 2), (2, 1), (3, 5), (100, 3)]))
    i, j = _pairs_of_documents([(3, 3)])
    assert list(zip(i.tolist(), j.tolist())) == [(4, 3), (5, 3), (5, 4)]


def test_cleaning_gives_the_same_files_with_and_without_the_kernels(tmp_path):
    if native.load() is None:
        pytest.skip("the compiled kernels are not built or are turned off")
    corpus = list(dict.fromkeys(" ".join(line.split()) for p in sorted((ROOT / "seeds").glob("*.txt"))
                                for line in p.read_text(encoding="utf-8").splitlines() if line.strip()))
    config = make_dump.DumpConfig(docs=300, seed=7, exact_rate=0.1, near_rate=0.1, syndicated_rate=0.1)
    make_dump.DumpWriter(config, corpus).write(tmp_path / "dump")
    outputs = {}
    for flag in ("1", "0"):
        out = tmp_path / f"native-{flag}"
        done = run_dedupe("clean", tmp_path / "dump" / "dump.jsonl", "-o", out / "clean.jsonl", "--report",
                          out / "report.jsonl", "--workers", "2", "--quiet", env={"DEDUPE_NATIVE": flag})
        assert done.returncode == 0, done.stderr.decode()
        outputs[flag] = ((out / "clean.jsonl").read_bytes(), (out / "report.jsonl").read_bytes())
    reasons = [json.loads(line)["reason"] for line in outputs["1"][1].decode().splitlines()]
    assert {"duplicate", "near-duplicate", "boilerplate"} <= set(reasons)  # the run had work to do
    assert outputs["1"] == outputs["0"]


@pytest.mark.parametrize("seed", [1, 2])
def test_jsonl_lines_are_what_the_json_module_writes(both, seed):
    """The writer's lines, long texts escaped by the kernels, are json.dumps(ensure_ascii=False)
    byte for byte: quotes, backslashes, every control character, typography, astral characters,
    other fields around the text; a lone surrogate as its escape."""
    from dedupe.writing import JsonlWriter

    rng = random.Random(seed)
    alphabet = [chr(c) for c in range(0x80)] + ["é", "“", "—", "🙂", "\u2028", "日"]
    texts = _blocks()[:-4] + ["".join(rng.choice(alphabet) for _ in range(rng.choice([0, 5, 255, 256, 3000])))
                              for _ in range(300)]
    records = [{"id": f"doc-{k}", "source": "site.example", "text": t, "tags": ["a", 1.5, None]}
               for k, t in enumerate(texts)] + [{"text": "x" * 300, "n": float("nan")}, {1: "y" * 300}]

    def lines():
        writer = JsonlWriter("-")
        return [writer.line(r) for r in records]

    compiled, plain = both(lines)
    assert compiled == plain == [(json.dumps(r, ensure_ascii=False) + "\n").encode() for r in records]
    assert sum(len(r["text"]) >= JsonlWriter.LONG for r in records[:-2]) > 100  # the kernel's path ran
    lone = {"text": "lone \ud800 surrogate" * 20, "id": "\udc80"}  # as json.dumps escapes them by default
    assert JsonlWriter("-").line(lone) == (json.dumps(lone) + "\n").encode()


def _copy_findings(documents: list[str], chunk_size: int, **params) -> list[tuple]:
    from dedupe.pipeline import Cleaner

    cleaner = Cleaner(chunk_size=chunk_size, detect=("duplicate", "near-duplicate"), **params)
    return [(c.document.id, d.block, d.action, d.reason, d.score, d.duplicate_of, d.cluster)
            for c in cleaner.clean(documents) for d in c.decisions]


@pytest.mark.parametrize("cross_doc", ["strip", "flag", "keep"])
def test_the_copy_pass_of_a_chunk(both, monkeypatch, tmp_path, cross_doc):
    """The compiled copy pass (in-chunk candidates, rules 2-4, registration) decides what the
    document-by-document code decides, whatever the chunks: copies inside one chunk, across
    chunks, repeated re-worded passages and short blocks beside them."""
    from dedupe.pipeline import Cleaner

    corpus = list(dict.fromkeys(" ".join(line.split()) for p in sorted((ROOT / "seeds").glob("*.txt"))
                                for line in p.read_text(encoding="utf-8").splitlines() if line.strip()))
    config = make_dump.DumpConfig(docs=120, seed=11, exact_rate=0.15, near_rate=0.15, syndicated_rate=0.1)
    make_dump.DumpWriter(config, corpus).write(tmp_path / "dump")
    documents = [json.loads(line)["text"] for line in (tmp_path / "dump" / "dump.jsonl").open(encoding="utf-8")]
    passage = corpus[3:7]
    reworded = [p.replace(" the ", " a ", 1) for p in passage]
    documents += ["\n".join(["Top stories", *passage, "Top stories", *reworded, "Share this"]),
                  "\n".join(["Top stories", passage[1], "Share this", reworded[2]])] * 2

    def fails(*args):
        raise AssertionError("the document-by-document copy pass ran")

    compiled_runs = []
    for chunk_size in (1, 5, 256):
        compiled, plain = both(_copy_findings, documents, chunk_size, cross_doc=cross_doc)
        assert compiled == plain
        compiled_runs.append(compiled)
    assert compiled_runs[0] == compiled_runs[1] == compiled_runs[2]  # the chunks change nothing
    assert {"duplicate", "near-duplicate"} <= {finding[3] for finding in compiled_runs[0]}
    monkeypatch.setattr(Cleaner, "_copies", fails)  # with the kernels, the compiled pass is what ran
    assert _copy_findings(documents, 5, cross_doc=cross_doc) == compiled_runs[0]


def _synthetic_chunks(seed: int, num_perm: int, n_chunks: int = 4, docs_per_chunk: int = 6):
    """Sketches of blocks that copy each other at chosen similarities: variants of a few base
    rows with exactly m values changed (low bits too, so the stored 4-bit estimate follows m), so
    that scores tie, in and across documents and chunks; short blocks among them."""
    from dedupe.deciding import Sketch, local_copies
    from dedupe.config import CleanerConfig

    rng = np.random.default_rng(seed)
    bases = rng.integers(0, 2**32, (8, num_perm), dtype=np.uint32)
    config = CleanerConfig(num_perm=num_perm)
    chunks = []
    for _ in range(n_chunks):
        sketches = []
        for _ in range(docs_per_chunk):
            k = int(rng.integers(0, 9))
            base = rng.integers(0, len(bases), k)
            changed = rng.choice([0, 0, 1, 2, 3, 4, 36 % num_perm, num_perm // 2, num_perm - 3, num_perm], k)
            sig = bases[base].copy()
            for row, m in enumerate(changed.tolist()):
                at = rng.choice(num_perm, m, replace=False)
                sig[row, at] ^= np.uint32(1) + (rng.integers(0, 2**31, m, dtype=np.uint32) << np.uint32(4))
            exact = np.where(changed == 0, base, 100 + rng.integers(0, 10**9, k)).astype(np.uint64)
            words = np.where(rng.random(k) < 0.3, 2, 30).astype(np.int64)
            sketches.append(Sketch(words, np.maximum(words - 4, 1), exact, sig))
        chunks.append(sketches)
    # a passage (x, y) pasted again with y re-worded so far that 3 of 20 values still agree
    x, y = rng.integers(0, 2**32, (2, num_perm), dtype=np.uint32)
    reworded = y.copy()
    reworded[3:] += np.uint32(1)
    words = np.full(4, 30, np.int64)
    chunks[0].append(Sketch(words, words - 4, np.array([50, 51, 50, 52], np.uint64), np.stack([x, y, x, reworded])))
    return [local_copies(sketches, config) for sketches in chunks]


def _copies_of_chunks(cleaner, chunks) -> tuple:
    """The copy findings of the cleaner's pass over chunks of sketches, as arrays."""
    from dedupe.reading import Document

    found = []
    for number, sketches in enumerate(chunks):
        docs = [Document(id=f"{number}-{k}", text="") for k in range(len(sketches))]
        copies = cleaner._copies_of_chunk(docs, sketches)
        found.append(tuple(np.asarray(field) for field in
                           (copies.reason, copies.score, copies.of, copies.cluster, copies.cross)))
    return tuple(found)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("num_perm", [20, 128])
def test_the_copy_pass_on_tied_scores(both, seed, num_perm):
    """Ties everywhere (the same estimate from two candidates, a neighbour exactly at the run
    threshold with 20 permutations): the compiled pass breaks them as the Python does, and
    registers the same blocks under the same entries. (36 changed values of 128 put the 4-bit
    estimate at the threshold, 0.7, exactly; 17 of 20 put a neighbour at the run threshold.)"""
    from dedupe.pipeline import Cleaner

    chunks = _synthetic_chunks(seed, num_perm)

    def run():
        cleaner = Cleaner(num_perm=num_perm, detect=("duplicate", "near-duplicate"))
        found = _copies_of_chunks(cleaner, chunks)
        index = cleaner.index
        state = (index._doc_of.view(), index._block_of.view(), index._exact.view())
        return found, tuple(np.asarray(a) for a in state), tuple(index._doc_ids)

    compiled, plain = both(run)
    assert compiled[2] == plain[2]
    _assert_same(compiled[:2], plain[:2])
    reasons = np.concatenate([copies[0] for copies in compiled[0]])
    assert (reasons == 1).any() and (reasons == 2).any()


@pytest.mark.parametrize("seed", range(8))
def test_the_copy_pass_extends_runs_and_keeps_lone_short_blocks_as_the_pass_by_pass_loops(both, seed, monkeypatch):
    """Rules 3 and 4 of the compiled pass (each block visited once) against the Python ones and
    against the loops they replace (passes over every block until nothing changes), on random
    documents: copies of earlier blocks here and there, of other documents' blocks (identical
    texts), short blocks, and neighbours around the run threshold."""
    from dedupe import deciding
    from dedupe.deciding import Sketch
    from dedupe.pipeline import Cleaner
    from test_pipeline import _pass_by_pass_extend_runs, _pass_by_pass_keep_lone_short_blocks

    rng = np.random.default_rng(seed)
    num_perm = 20
    chunks = []
    for _ in range(3):
        sketches = []
        for _ in range(5):
            k = int(rng.choice([0, 1, 3, 30, 150]))
            sig = rng.integers(0, int(rng.choice([2, 4, 50])), (k, num_perm), dtype=np.uint32)
            exact = rng.integers(0, 40, k).astype(np.uint64)  # some texts recur in other documents
            earlier = np.full(k, -1, np.int64)
            density = rng.choice([0.05, 0.3, 0.7])
            for i in range(1, k):
                if rng.random() < density:
                    earlier[i] = int(rng.integers(0, i))
            score = np.where(earlier >= 0, rng.random(k), 0.0)
            words = np.where(rng.random(k) < rng.choice([0.2, 0.6, 1.0]), 2, 30).astype(np.int64)
            sketches.append(Sketch(words, np.maximum(words - 4, 1), exact, sig, earlier, score))
        chunks.append(sketches)

    def run():
        return _copies_of_chunks(Cleaner(num_perm=num_perm, detect=("duplicate", "near-duplicate")), chunks)

    compiled, plain = both(run)
    _assert_same(compiled, plain)
    monkeypatch.setenv("DEDUPE_NATIVE", "0")
    monkeypatch.setattr(deciding, "_extend_runs", _pass_by_pass_extend_runs)
    monkeypatch.setattr(deciding, "_keep_lone_short_blocks", _pass_by_pass_keep_lone_short_blocks)
    _assert_same(run(), plain)
    reasons = np.concatenate([copies[0] for copies in compiled])
    assert (reasons == 2).any() and (reasons == 1).any()
