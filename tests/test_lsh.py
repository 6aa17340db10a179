"""Tests of the compact MinHash-LSH index against datasketch."""

from __future__ import annotations

import numpy as np
import pytest
from datasketch import MinHash, MinHashLSH
from datasketch.lsh import _optimal_param

from dedupe.errors import ConfigError
from dedupe.lsh import MinHashLSHIndex, _SortedMultimap, optimal_bands, sorted_pairs

NUM_PERM = 128


def minhash(words, num_perm=NUM_PERM) -> MinHash:
    m = MinHash(num_perm=num_perm, seed=1)
    m.update_batch([w.encode() for w in words])
    return m


def pair_with_jaccard(rng, j: float, union: int, start: int) -> tuple[list[str], list[str]]:
    """Two word sets whose Jaccard similarity is |common| / union (about ``j``)."""
    common = round(j * union)
    only = union - common
    words = [f"w{start + i}" for i in range(union)]
    rng.shuffle(words)
    a_only = only // 2  # the rest of `only` belongs to b alone
    shared = words[:common]
    return shared + words[common:common + a_only], shared + words[common + a_only:]


@pytest.fixture(scope="module")
def corpus():
    """A few hundred word sets: random documents plus near-duplicates at various Jaccard levels."""
    rng = np.random.default_rng(7)
    vocab = [f"v{i}" for i in range(5000)]
    sets = []
    for _ in range(120):
        base = list(rng.choice(vocab, size=int(rng.integers(40, 120)), replace=False))
        sets.append(base)
        for keep in rng.choice([0.5, 0.7, 0.8, 0.9, 0.95, 1.0], size=2):
            variant = [w if rng.random() < keep else f"x{rng.integers(10**9)}" for w in base]
            sets.append(variant)
    fresh = []
    for k in range(60):  # queries that were never inserted: half of them close to inserted sets
        src = sets[int(rng.integers(len(sets)))]
        fresh.append([w if (k % 2 == 0 or rng.random() < 0.85) else f"y{rng.integers(10**9)}" for w in src]
                     if k % 2 else list(rng.choice(vocab, size=80, replace=False)))
    return [minhash(s) for s in sets], [minhash(s) for s in fresh]


@pytest.mark.parametrize("threshold,num_perm,weights", [
    (0.8, 128, (0.5, 0.5)), (0.5, 128, (0.5, 0.5)), (0.9, 64, (0.5, 0.5)),
    (0.7, 256, (0.5, 0.5)), (0.8, 128, (0.2, 0.8)), (0.3, 32, (0.9, 0.1)),
])
def test_optimal_bands_matches_datasketch(threshold, num_perm, weights):
    assert optimal_bands(threshold, num_perm, *weights) == _optimal_param(threshold, num_perm, *weights)


def test_optimal_bands_matches_datasketch_across_thresholds():
    """Exact quadrature and scipy's quad pick the same design wherever both weights are above 0
    (with a weight of 0 the minimum is a plateau of near-zero errors, and quad's rounding picks)."""
    for threshold in [t / 10 for t in range(1, 10)]:
        for num_perm in (64, 128):
            for weights in ((0.5, 0.5), (0.2, 0.8), (0.9, 0.1)):
                assert optimal_bands(threshold, num_perm, *weights) == _optimal_param(threshold, num_perm, *weights), \
                    (threshold, num_perm, weights)


def test_default_parameters_follow_the_threshold():
    index = MinHashLSHIndex(num_perm=128, threshold=0.8)
    assert (index.bands, index.rows) == _optimal_param(0.8, 128, 0.5, 0.5)
    index = MinHashLSHIndex(num_perm=128, threshold=0.5, bands=16, rows=8)
    assert (index.bands, index.rows) == (16, 8)


@pytest.mark.parametrize("params", [(9, 13), (16, 8), (32, 4), (20, 5)])
def test_candidates_equal_datasketch(corpus, params):
    inserted, fresh = corpus
    ref = MinHashLSH(num_perm=NUM_PERM, params=params)
    index = MinHashLSHIndex(num_perm=NUM_PERM, bands=params[0], rows=params[1])
    sigs = np.stack([m.hashvalues for m in inserted])
    for i, m in enumerate(inserted):
        ref.insert(i, m)
    for start in range(0, len(sigs), 20):  # the cleaner adds a document's blocks at a time
        index.add(sigs[start:start + 20], np.arange(start, min(start + 20, len(sigs))))
    queries = inserted + fresh
    got = index.query(np.stack([m.hashvalues for m in queries]))
    n_pairs = 0
    for m, keys in zip(queries, got):
        expected = sorted(ref.query(m))
        assert keys.dtype == np.int64
        assert keys.tolist() == expected
        n_pairs += len(expected)
    # Beyond each inserted set finding itself, there are hundreds of near-duplicate candidates.
    assert n_pairs - len(inserted) >= 200


def test_out_of_order_keys_give_the_same_answers(corpus):
    inserted, _ = corpus
    sigs = np.stack([m.hashvalues for m in inserted])
    ordered = MinHashLSHIndex()
    ordered.add(sigs, np.arange(len(sigs)) * 3)
    shuffled = MinHashLSHIndex()
    perm = np.random.default_rng(1).permutation(len(sigs))
    for chunk in np.array_split(perm, 17):
        shuffled.add(sigs[chunk], chunk * 3)
    for a, b in zip(ordered.query(sigs), shuffled.query(sigs)):
        assert a.tolist() == b.tolist()
    keys = np.array([30, 0, 597, 3])
    np.testing.assert_array_equal(ordered.similarity(sigs[10], keys), shuffled.similarity(sigs[10], keys))
    assert shuffled.similarity(sigs[10], np.array([30]))[0] == 1.0


def test_same_inputs_same_outputs(corpus):
    inserted, fresh = corpus
    sigs = np.stack([m.hashvalues for m in inserted])
    results = []
    for _ in range(2):
        index = MinHashLSHIndex(threshold=0.6)
        index.add(sigs, np.arange(len(sigs)))
        results.append([k.tolist() for k in index.query(np.stack([m.hashvalues for m in fresh]))])
        assert len(index) == len(sigs)
    assert results[0] == results[1]


@pytest.mark.parametrize("bits", [8, 16])
def test_similarity_estimates_jaccard(bits):
    rng = np.random.default_rng(3)
    index = MinHashLSHIndex(num_perm=NUM_PERM, signature_bits=bits)
    probes, truths, full = [], [], []
    key = 0
    for j in (0.3, 0.5, 0.7, 0.9, 1.0):
        for trial in range(6):
            union = int(rng.integers(50, 101))
            a, b = pair_with_jaccard(rng, j, union, start=key * 1000)
            ma, mb = minhash(a), minhash(b)
            index.add(mb.hashvalues[None, :], np.array([key]))
            probes.append(ma.hashvalues)
            truths.append(len(set(a) & set(b)) / len(set(a) | set(b)))
            full.append(ma.jaccard(mb))
            key += 1
    est = np.array([index.similarity(p, np.array([k]))[0] for k, p in enumerate(probes)])
    truths, full = np.array(truths), np.array(full)
    # Storing b bits only adds collision noise on top of the MinHash estimate itself.
    assert np.abs(est - full).max() <= 0.05
    # Against the truth, each level's mean is within 0.08 (the per-pair MinHash error at 128
    # permutations is ~0.04, so single pairs are not asserted).
    for level in np.unique(np.round(truths, 1)):
        sel = np.round(truths, 1) == level
        assert abs(est[sel].mean() - truths[sel].mean()) <= 0.08, level
    assert np.all(est[truths == 1.0] == 1.0)
    # A batch of keys gives the same answers as one key at a time.
    np.testing.assert_array_equal(index.similarity(probes[4], np.arange(key)[::-1])[::-1],
                                  [index.similarity(probes[4], np.array([k]))[0] for k in range(key)])


def test_unrelated_sets_score_near_zero():
    rng = np.random.default_rng(5)
    sigs = rng.integers(0, 2**32, size=(50, NUM_PERM), dtype=np.uint32)
    index = MinHashLSHIndex()
    index.add(sigs[1:], np.arange(1, 50))
    assert index.similarity(sigs[0], np.arange(1, 50)).mean() < 0.02


@pytest.mark.parametrize("bits", [8, 16])
def test_similarity_corrects_for_low_bit_collisions(bits):
    """P_match = 1/2 exactly must read as (1/2 - 2**-b) / (1 - 2**-b), not 1/2."""
    stored = np.random.default_rng(4).integers(0, 2**32, size=NUM_PERM, dtype=np.uint32)
    probe = stored.copy()
    probe[::2] ^= np.uint32(1)  # every other coordinate differs, in its lowest bit
    index = MinHashLSHIndex(signature_bits=bits)
    index.add(stored[None, :], np.array([0]))
    e = 2.0 ** -bits
    assert index.similarity(probe, np.array([0]))[0] == pytest.approx((0.5 - e) / (1 - e), abs=1e-12)
    probe[1::2] ^= np.uint32(1 << bits)  # differences above the stored bits are invisible
    assert index.similarity(probe, np.array([0]))[0] == pytest.approx((0.5 - e) / (1 - e), abs=1e-12)


def test_unknown_keys_raise_key_error():
    index = MinHashLSHIndex()
    index.add(np.zeros((2, NUM_PERM), np.uint32), np.array([5, 9]))
    with pytest.raises(KeyError):
        index.similarity(np.zeros(NUM_PERM, np.uint32), np.array([5, 7]))


def test_multimap_levels_against_a_dict():
    """Many merges through small levels, with heavily repeated keys (boilerplate-like)."""
    rng = np.random.default_rng(11)
    table = _SortedMultimap(base=16, ratio=3)
    reference: dict[int, list[int]] = {}
    value = 0
    for _ in range(300):
        n = int(rng.integers(1, 40))
        keys = np.where(rng.random(n) < 0.3, rng.integers(0, 5, n), rng.integers(0, 2**64 - 1, n, dtype=np.uint64))
        keys = keys.astype(np.uint64)
        vals = np.arange(value, value + n, dtype=np.uint32)
        value += n
        table.add(keys, vals)
        for k, v in zip(keys.tolist(), vals.tolist()):
            reference.setdefault(k, []).append(v)
    assert len(table) == value
    assert sum(r is not None for r in table.levels) > 2
    q = np.array(list(reference)[:500] + [12345678901234567, 2**64 - 1], dtype=np.uint64)
    qi, vals = table.lookup(q)
    got: dict[int, list[int]] = {}
    for i, v in zip(qi.tolist(), vals.tolist()):
        got.setdefault(int(q[i]), []).append(v)
    expected = {int(k): reference[int(k)] for k in q if int(k) in reference}
    assert {k: sorted(v) for k, v in got.items()} == {k: sorted(v) for k, v in expected.items()}


def test_sorted_pairs_is_a_stable_sort_by_key():
    """The one-sort shortcut for 32-bit keys orders exactly as a stable argsort, and other
    inputs (values that decrease, 64-bit keys) take the argsort itself."""
    rng = np.random.default_rng(3)
    for keys, vals in [
        (rng.integers(0, 50, 5000).astype(np.uint32), np.repeat(np.arange(500), 10)),   # row numbers
        (rng.integers(0, 2**32, 5000).astype(np.uint32), np.arange(5000, dtype=np.uint32)),
        (rng.integers(0, 50, 5000).astype(np.uint32), rng.integers(0, 10, 5000)),       # not ascending
        (rng.integers(0, 50, 5000).astype(np.uint64), np.arange(5000, dtype=np.uint32)),
        (np.array([9, 9, 1], np.uint32), np.array([-1, 0, 5])),
        (np.zeros(0, np.uint32), np.zeros(0, np.uint32)),
    ]:
        order = np.argsort(keys, kind="stable")
        got_keys, got_vals = sorted_pairs(keys, vals)
        assert got_keys.dtype == keys.dtype and got_vals.dtype == vals.dtype
        assert got_keys.tolist() == keys[order].tolist() and got_vals.tolist() == vals[order].tolist()


def test_memory_per_entry_within_budget():
    """<= 300 bytes per indexed paragraph, all arrays included (the 20M-paragraph budget)."""
    rng = np.random.default_rng(2)
    index = MinHashLSHIndex()
    n = 1 << 15
    for start in range(0, n, 512):
        index.add(rng.integers(0, 2**32, size=(512, NUM_PERM), dtype=np.uint32), np.arange(start, start + 512))
    assert len(index) == n
    assert index.nbytes / n <= 300


@pytest.mark.parametrize("kwargs,message", [
    (dict(num_perm=128, bands=10, rows=13), "exceeds num_perm"),
    (dict(threshold=0.0), "threshold"),
    (dict(threshold=1.0), "threshold"),
    (dict(threshold=1.5), "threshold"),
    (dict(signature_bits=12), "signature_bits"),
    (dict(bands=4), "both bands and rows"),
    (dict(num_perm=0), "num_perm"),
    (dict(bands=0, rows=4), "bands"),
])
def test_bad_parameters_raise_config_error(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        MinHashLSHIndex(**kwargs)


def test_bad_signatures_and_keys_raise_config_error():
    index = MinHashLSHIndex(num_perm=64)
    good = np.zeros((3, 64), np.uint32)
    with pytest.raises(ConfigError, match="shape"):
        index.query(np.zeros((3, 128), np.uint32))
    with pytest.raises(ConfigError, match="shape"):
        index.add(np.zeros(64, np.uint32), np.array([1]))
    with pytest.raises(ConfigError, match="dtype"):
        index.query(good.astype(np.uint64))
    with pytest.raises(ConfigError, match="dtype"):
        index.similarity(np.zeros(64, np.int64), np.array([1]))
    with pytest.raises(ConfigError, match="keys"):
        index.add(good, np.array([1, 2]))
    with pytest.raises(ConfigError, match="distinct"):
        index.add(good, np.array([1, 2, 1]))
    index.add(good, np.array([1, 2, 3]))
    with pytest.raises(ConfigError, match="already"):
        index.add(good[:1], np.array([2]))
    assert len(index) == 3
    with pytest.raises(ConfigError, match="threshold"):
        optimal_bands(1.2, 128)


def test_compact_mode_4_bit_signatures_and_32_bit_keys():
    """The cleaner's compact setting: candidates include every 64-bit-key candidate, and the
    4-bit similarity estimate stays close to the 8-bit one."""
    from datasketch import MinHash

    rng = np.random.default_rng(7)
    base = [f"w{i}" for i in rng.integers(0, 10**6, 400)]
    sets = [base[i:i + 80] for i in range(0, 300, 3)]
    sigs = []
    for s in sets:
        m = MinHash(num_perm=128)
        m.update_batch([w.encode() for w in s])
        sigs.append(m.hashvalues.astype(np.uint32))
    sigs = np.array(sigs)
    keys = np.arange(len(sigs))
    wide = MinHashLSHIndex(128, 0.7, bands=18, rows=7)
    compact = MinHashLSHIndex(128, 0.7, bands=18, rows=7, signature_bits=4, key_bits=32)
    wide.add(sigs, keys)
    compact.add(sigs, keys)
    for got, want in zip(compact.query(sigs), wide.query(sigs)):
        assert set(want) <= set(got)
    for i in range(0, len(sigs), 7):
        cand = wide.query(sigs[i:i + 1])[0]
        assert np.abs(compact.similarity(sigs[i], cand) - wide.similarity(sigs[i], cand)).max() < 0.12
        assert compact.similarity(sigs[i], np.array([i]))[0] == 1.0
    assert compact.nbytes < wide.nbytes


def test_a_lookup_prefers_the_earliest_of_equally_similar_blocks():
    """Ties go to the earliest entry, whether the candidates were flushed into the tables or
    added during the chunk, and whether one row or several are looked up."""
    from dedupe.indexing import BlockIndex, Match

    index = BlockIndex(num_perm=16, threshold=0.8)
    sig = np.random.default_rng(0).integers(0, 2**32, size=(1, 16), dtype=np.uint32).repeat(3, axis=0)
    exact = np.array([1, 2, 3], dtype=np.uint64)  # alike signatures, different texts
    lookup = index.chunk(sig, exact)
    entries = []
    for row, doc in ((0, "a"), (1, "b")):
        lookup.lookup(range(row, row + 1))
        added = index.add(sig[row:row + 1], exact[row:row + 1], doc, [0])
        lookup.added([row], added)
        entries.append(int(added[0]))
    earliest = Match(entries[0], 1.0, False)
    assert lookup.lookup(range(2, 3)) == [earliest]
    index.flush()
    assert index.lookup(sig[2:], exact[2:]) == [earliest]
    assert index.lookup(sig[1:], np.array([3, 3], dtype=np.uint64)) == [earliest, earliest]
