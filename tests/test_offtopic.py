"""Off-topic detection: pasted stories are flagged as runs, on-theme analysis is left alone."""

from __future__ import annotations

import functools
import json
import operator
from pathlib import Path

import numpy as np
import pytest

from dedupe.errors import ConfigError, InputError
from dedupe.offtopic import OffTopicDetector, build_background

SEEDS = Path(__file__).resolve().parents[1] / "seeds"


def _seed(prefix: str) -> tuple[list[int], list[str]]:
    """Line numbers (1-based, blank lines counted) and texts of a seed's non-empty lines."""
    path = next(SEEDS.glob(f"{prefix}_*.txt"))
    numbered = [(i + 1, ln) for i, ln in enumerate(path.read_text(encoding="utf-8").splitlines())]
    kept = [(i, ln) for i, ln in numbered if ln.strip()]
    return [i for i, _ in kept], [ln for _, ln in kept]


@pytest.fixture(scope="module")
def fitted() -> OffTopicDetector:
    return OffTopicDetector().fit(_seed(p)[1] for p in ("000", "001", "002", "003", "004"))


def _flagged_lines(detector: OffTopicDetector, prefix: str) -> set[int]:
    lines, blocks = _seed(prefix)
    return {line for line, flag in zip(lines, detector.flags(blocks)) if flag}


ARTICLE = [
    "Iran and Russia sign a deal on attack drones",
    "Iran will supply Russia with attack drones under a new agreement signed in Tehran on Monday, "
    "according to officials in both countries.",
    "The drone deal lets Russia build Iranian-designed drones at a plant in Tatarstan, giving "
    "Moscow its own supply for the war in Ukraine.",
    "Western officials say Iranian drones have been used by Russia against Ukrainian power plants "
    "and other civilian infrastructure since October.",
    "Tehran denies sending drones to Russia for use in Ukraine, saying the agreement covers only "
    "technology for civilian purposes.",
    "The United States and the European Union have answered the deal with new sanctions on "
    "Iranian drone makers and the officials behind the exports.",
    "Analysts say the drone deal deepens military ties between Tehran and Moscow, both under heavy "
    "Western sanctions.",
]
PASTED = [
    "Hungary's football team failed to qualify for the World Cup in Qatar after a late defeat.",
    "The Hungarian football federation sacked the coach after the World Cup exit on Tuesday.",
    "Fans protested outside the football federation headquarters in Budapest after the exit.",
    "The federation said a new coach would be named before the European qualifiers in March.",
]


def test_pasted_stories_in_seed_004_are_flagged_and_the_article_is_kept(fitted):
    flagged = _flagged_lines(fitted, "004")
    assert set(range(17, 31)) <= flagged  # Turkey/Syria copy, Nigeria, Hungary
    assert not flagged & set(range(1, 11))  # the Russia-Iran drone story


@pytest.mark.parametrize("prefix", ["002", "003"])
def test_long_on_theme_articles_keep_every_line(fitted, prefix):
    assert _flagged_lines(fitted, prefix) == set()


@pytest.mark.parametrize("prefix, last_article_line", [("000", 30), ("001", 17)])
def test_article_paragraphs_are_kept(fitted, prefix, last_article_line):
    assert not _flagged_lines(fitted, prefix) & set(range(1, last_article_line + 1))


def test_scores_are_in_range_and_agree_with_flags(fitted):
    for prefix in ("000", "001", "002", "003", "004"):
        blocks = _seed(prefix)[1]
        score, flags = fitted.analyse(blocks)
        assert score.shape == flags.shape == (len(blocks),)
        assert ((score >= 0) & (score <= 1)).all()
        assert (score[flags] >= fitted.threshold).all()
        np.testing.assert_array_equal(fitted.score(blocks), score)
        np.testing.assert_array_equal(fitted.flags(blocks), flags)


@pytest.mark.parametrize("fit", [True, False], ids=["fitted", "background-only"])
def test_an_appended_unrelated_story_is_flagged(fitted, fit):
    detector = fitted if fit else OffTopicDetector()
    flags = detector.flags(ARTICLE + PASTED)
    assert not flags[: len(ARTICLE)].any()
    assert flags[len(ARTICLE):].all()


def test_a_single_unrelated_paragraph_is_not_flagged(fitted):
    # Runs, not lone blocks: one odd paragraph inside an article stays.
    blocks = ARTICLE[:5] + PASTED[:1] + ARTICLE[5:]
    assert not fitted.flags(blocks).any()


def test_headings_inside_a_pasted_run_go_with_it(fitted):
    blocks = ARTICLE + PASTED[:2] + ["Sport"] + PASTED[2:]
    assert fitted.flags(blocks)[len(ARTICLE):].all()


def test_without_a_title_like_opening_nothing_is_flagged(fitted):
    navigation = ["Home", "News", "Sport", "Log in"]
    assert not fitted.flags(navigation + ARTICLE + PASTED).any()


@pytest.mark.parametrize("blocks", [[], ["Iran and Russia sign a deal on attack drones"], [""]])
def test_tiny_documents(fitted, blocks):
    score, flags = fitted.analyse(blocks)
    assert score.shape == flags.shape == (len(blocks),)
    assert not flags.any() and not score.any()


def test_partial_fit_streams_to_the_same_idf_as_fit():
    documents = [_seed(p)[1] for p in ("000", "001", "002", "003", "004")]
    whole = OffTopicDetector().fit(documents)
    streamed = OffTopicDetector()
    for document in documents:
        streamed.partial_fit([document])
    np.testing.assert_array_equal(whole.idf, streamed.idf)
    # Fitting moves the IDF away from the background-only one, and refitting starts over.
    assert not np.array_equal(whole.idf, OffTopicDetector().idf)
    np.testing.assert_array_equal(whole.fit(documents).idf, streamed.idf)


def test_the_features_of_a_small_batch_alone_give_the_numbers_of_all_of_them(monkeypatch):
    """A small batch's frequencies are added and its IDF worked out feature by feature (not
    over all 2^18): the same counts, IDF and scores, bit for bit, as over every feature."""
    from dedupe import offtopic

    documents = [_seed(p)[1] for p in ("000", "001", "002", "003", "004")]
    results = []
    for sparse in (0, 10**9):  # every batch touched feature by feature; none
        monkeypatch.setattr(offtopic, "_SPARSE", sparse)
        detector = OffTopicDetector()
        for document in documents:
            detector.partial_fit([document])
        scores = [detector.analyse(document)[0] for document in documents + [ARTICLE + PASTED]]
        results.append((detector._df.copy(), scores, detector.idf.copy()))
    (df_a, scores_a, idf_a), (df_b, scores_b, idf_b) = results
    np.testing.assert_array_equal(df_a, df_b)
    assert all(a.tobytes() == b.tobytes() for a, b in zip(scores_a, scores_b))
    assert idf_a.tobytes() == idf_b.tobytes() and scores_a[-1].max() > 0.5  # (the pasted run scored)


def test_refitting_forgets_every_earlier_fit_even_on_no_documents():
    """fit() starts over: on no documents the detector is a new one's, the IDF too (a cached
    IDF of the earlier fit used to stay); and flags follow the new fit alone."""
    documents = [_seed(p)[1] for p in ("000", "001", "002", "003", "004")]
    detector = OffTopicDetector().fit(documents)
    assert not np.array_equal(detector.idf, OffTopicDetector().idf)
    np.testing.assert_array_equal(detector.fit([]).idf, OffTopicDetector().idf)
    fresh = OffTopicDetector().fit(documents[:2])
    np.testing.assert_array_equal(detector.fit(documents[:2]).idf, fresh.idf)
    assert detector.flags(ARTICLE + PASTED).tolist() == fresh.flags(ARTICLE + PASTED).tolist()


def test_background_table_round_trip(tmp_path):
    table = build_background([ARTICLE, PASTED], tmp_path / "bg.json", min_df=1)
    assert table["n_blocks"] == len(ARTICLE) + len(PASTED)
    assert table["df"]["drones"] == 5 and "the" not in table["df"]  # stop words are not counted
    detector = OffTopicDetector(background=tmp_path / "bg.json")
    # "drones" sits in 5 of 11 background blocks, "budapest" in 1: the rarer word weighs more.
    idf = {w: detector.idf[detector._vectorizer.transform([w]).indices[0]] for w in ("drones", "budapest")}
    assert idf["budapest"] > idf["drones"]


def test_shipped_background_is_small_and_well_formed():
    path = Path(__file__).resolve().parents[1] / "src" / "dedupe" / "models" / "background-idf-v1.json"
    table = json.loads(path.read_text(encoding="utf-8"))
    assert table["format"] == "dedupe-background-idf/1"
    assert 0 < max(table["df"].values()) <= table["n_blocks"]
    assert path.stat().st_size < 500_000


@pytest.mark.parametrize(
    "kwargs",
    [
        {"threshold": 0},
        {"threshold": 1.5},
        {"threshold": "high"},
        {"window": 0},
        {"lead_words": 0},
        {"n_features": 1000},
        {"full_sim": 0},
        {"short_words": True},
        {"background_weight": -1},
        {"background": 3},
    ],
)
def test_bad_parameters_raise_config_error(kwargs):
    with pytest.raises(ConfigError):
        OffTopicDetector(**kwargs)


def test_unreadable_background_raises_config_error(tmp_path):
    (tmp_path / "bad.json").write_text("{not json", encoding="utf-8")
    for path in (tmp_path / "bad.json", tmp_path / "missing.json"):
        with pytest.raises(ConfigError, match="background"):
            OffTopicDetector(background=path)


@pytest.mark.parametrize("document", ["a string, not a list", [1, 2], None])
def test_bad_documents_raise_input_error(fitted, document):
    with pytest.raises(InputError):
        fitted.flags(document)
    with pytest.raises(InputError):
        OffTopicDetector().partial_fit([document])


def _equivalence_documents() -> list[list[str]]:
    seeds = [_seed(p)[1] for p in ("000", "001", "002", "003", "004")]
    navigation = ["Home", "News", "Sport", "Log in"]
    return [
        *seeds,
        [],
        [""],
        ["Iran and Russia sign a deal on attack drones"],
        ARTICLE + PASTED,
        [],
        ARTICLE[:5] + PASTED[:1] + ARTICLE[5:],
        ARTICLE + PASTED[:2] + ["Sport"] + PASTED[2:],
        navigation + ARTICLE + PASTED,
        ARTICLE[:1] + ["", "  "] + PASTED,
        seeds[4] + seeds[1],
        PASTED + ARTICLE,
        ARTICLE[:2],
    ]


@pytest.mark.parametrize("fit", [True, False], ids=["fitted", "background-only"])
def test_analyse_many_equals_analyse_per_document(fitted, fit):
    detector = fitted if fit else OffTopicDetector()
    documents = _equivalence_documents()
    one_by_one = [detector.analyse(document) for document in documents]
    assert any(flags.any() for _, flags in one_by_one)  # the chunk exercises the run search
    for chunk in (documents, documents[::-1], documents[3:], [documents[0]], []):
        many = detector.analyse_many(chunk)
        expected = one_by_one if chunk is documents else [detector.analyse(d) for d in chunk]
        assert len(many) == len(chunk)
        for (score, flags), (want_score, want_flags) in zip(many, expected):
            np.testing.assert_array_equal(score, want_score)  # bit for bit, not approximately
            np.testing.assert_array_equal(flags, want_flags)
            assert score.dtype == np.float64 and flags.dtype == bool
    with pytest.raises(InputError):
        detector.analyse_many([ARTICLE, "not a list"])


@pytest.mark.parametrize("compiled", [False, True], ids=["numpy", "compiled"])
def test_chunk_gram_matrices_equal_scipys_product(fitted, compiled, monkeypatch):
    from dedupe import native
    from dedupe.offtopic import _block_grams

    if compiled and native.load() is None:
        pytest.skip("the compiled kernels are not built or are turned off")
    monkeypatch.setenv("DEDUPE_NATIVE", "1" if compiled else "0")

    documents = _equivalence_documents()
    x, _ = fitted._vectors(fitted.term_counts(documents))
    starts = np.concatenate(([0], np.cumsum([len(d) for d in documents])))
    chosen = np.array([k for k, d in enumerate(documents) if d])
    matrix = x.to_scipy()
    for k, gram in zip(chosen, _block_grams(x, starts, chosen)):
        rows = matrix[starts[k]:starts[k + 1]]
        np.testing.assert_array_equal(gram, (rows @ rows.T).toarray())


def test_tf_idf_vectors_are_scipys_bit_for_bit(fitted):
    """The vectors are computed on plain arrays; the values, and each row's stored order (which
    decides the Gram matrices' sums), are those of the scipy formula they replace."""
    import scipy.sparse as sp

    documents = _equivalence_documents() + [ARTICLE + PASTED] * 3
    counts = fitted.term_counts(documents)
    x, words = fitted._vectors(counts)
    reference = counts.to_scipy().copy()
    expected_words = np.asarray(reference.sum(axis=1)).ravel()
    reference.data = (1.0 + np.log(reference.data)) * fitted.idf[reference.indices]
    norms = np.sqrt(np.asarray(reference.multiply(reference).sum(axis=1)).ravel())
    reference = sp.diags(np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)) @ reference
    np.testing.assert_array_equal(words, expected_words)
    np.testing.assert_array_equal(x.indptr, reference.indptr)
    np.testing.assert_array_equal(x.indices, reference.indices)
    np.testing.assert_array_equal(x.data, reference.data)
    assert x.nnz > 500 and (np.diff(x.indptr) > 8).sum() > 10  # long rows, where sum order shows
    some = np.array([0, 3, 4, len(documents) - 1])
    rows = counts.rows(some).to_scipy()  # selecting rows, as scipy does
    assert rows.shape == (4, counts.n_features) and (rows != counts.to_scipy()[some]).nnz == 0


def test_partial_fit_transforms_a_chunk_once(monkeypatch):
    detector = OffTopicDetector()
    calls = []
    count = detector._vectorizer.count
    monkeypatch.setattr(detector._vectorizer, "count", lambda blocks: calls.append(1) or count(blocks))
    detector.partial_fit([ARTICLE, PASTED, [], ARTICLE] * 16)
    assert len(calls) == 1
    calls.clear()
    detector.analyse_many([ARTICLE, PASTED, [], ARTICLE + PASTED] * 16)
    assert len(calls) == 1


def test_term_counts_equal_the_hashing_vectorizer():
    """The fast tokeniser must give scikit-learn's matrix exactly (features, counts, layout),
    on news text and on random strings of the characters that make tokenising hard."""
    import random

    from sklearn.feature_extraction.text import HashingVectorizer

    from dedupe.offtopic import TermCounts, _analyzer_settings

    rnd = random.Random(0)
    alphabet = "aB1_ ’'-.é\u0130ΣΟς\u2028\n\t,ﬁ\ud800"
    chunks = [ARTICLE + PASTED + ["Russia’s drones", "Fiancée's café — naïve", "", "x", "__ a_b"]]
    chunks += [["".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 30)))
                for _ in range(rnd.randint(1, 6))] for _ in range(300)]
    for n_features, cache_limit in ((2**10, 40), (2**18, 1 << 20)):  # 40: the cache is emptied often
        ours = TermCounts(n_features, cache_limit=cache_limit)
        theirs = HashingVectorizer(n_features=n_features, **_analyzer_settings())
        for blocks in chunks:
            a, b = theirs.transform(blocks), ours.transform(blocks)
            np.testing.assert_array_equal(a.indptr, b.indptr)
            np.testing.assert_array_equal(a.indices, b.indices)
            np.testing.assert_array_equal(a.data, b.data)


def test_the_stop_words_are_scikit_learns():
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS as theirs

    from dedupe.offtopic import ENGLISH_STOP_WORDS

    assert ENGLISH_STOP_WORDS == theirs


def test_background_terms_hash_to_the_hashing_vectorizers_features():
    """The shipped table's terms (and awkward ones) land on scikit-learn's feature columns."""
    from sklearn.feature_extraction.text import HashingVectorizer

    from importlib import resources

    from dedupe.offtopic import BACKGROUND_FILE, TermCounts

    table = json.loads(resources.files("dedupe").joinpath("models", BACKGROUND_FILE).read_text(encoding="utf-8"))
    terms = list(table["df"]) + ["naïve", "Σος", "x" * 300, "日本語"]
    for n_features in (2**10, 2**18):
        hasher = HashingVectorizer(n_features=n_features, analyzer=lambda term: [term], alternate_sign=False, norm=None)
        ours = [TermCounts(n_features).feature(term) for term in terms]
        assert hasher.transform(terms).indices.tolist() == ours


def _reference_best_run(detector, gram, weight, words, active):
    """The run search of one document on its own (m+1) x (m+1) grid: the plain form of what
    :meth:`OffTopicDetector._best_runs` computes for many documents on padded grids."""
    idx = np.flatnonzero(active)
    m = idx.size
    if m < detector.window:
        return None, 0.0, np.zeros(m)
    g = gram[np.ix_(idx, idx)]
    p = np.zeros((m + 1, m + 1))
    p[1:, 1:] = g.cumsum(0).cumsum(1)
    in_order = functools.partial(functools.reduce, operator.add)  # plain sums, one term after another
    t = np.array([in_order((gram[i] * weight).tolist(), 0.0) for i in range(len(gram))])
    to_total = np.concatenate(([0.0], np.cumsum(t[idx])))
    total2 = in_order((t * weight).tolist(), 0.0)
    cw = np.concatenate(([0.0], np.cumsum(words[idx])))
    a, b = np.arange(m + 1)[:, None], np.arange(m + 1)[None, :]
    rr = np.maximum(p[b, b] - p[a, b] - p[b, a] + p[a, a], 0.0)
    rt = to_total[b] - to_total[a]
    qq = np.maximum(total2 - 2 * rt + rr, 0.0)
    denom = np.sqrt(rr * qq)
    cos = np.divide(rt - rr, denom, out=np.zeros_like(denom), where=denom > 1e-12)
    w = cw[b] - cw[a]
    w_rest = np.maximum(words @ (weight > 0) - w, 0.0)
    w_eff = np.divide(w * w_rest, w + w_rest, out=np.zeros_like(w), where=w + w_rest > 0)
    expected = detector.full_sim * w_eff**2 / (w_eff**2 + detector.half_words**2 + 1e-12)
    ratio = np.divide(cos, expected, out=np.ones_like(cos), where=expected > 0)
    # both edge blocks of the run are closer to the rest of the run than to the article
    row_cum = np.zeros((m, m + 1))
    row_cum[:, 1:] = g.cumsum(1)
    to_t = to_total[1:] - to_total[:-1]
    first, ends = np.arange(m)[:, None], np.arange(m + 1)[None, :]
    belong = np.zeros((m + 1, m + 1), dtype=bool)
    belong[:m] = True
    for e in (np.broadcast_to(first, (m, m + 1)), np.clip(ends - 1, 0, m - 1).repeat(m, axis=0)):
        to_run = row_cum[e, ends] - row_cum[e, first]
        own = np.diag(g)[e]
        cos_run = (to_run - own) / np.sqrt(np.maximum(rr[:m] - 2 * to_run + own, 1e-12))
        cos_rest = (to_t[e] - to_run) / np.sqrt(np.maximum(qq[:m], 1e-12))
        belong[:m] &= cos_run >= cos_rest
    valid = (b - a >= detector.window) & (denom > 1e-12) & belong
    run_score = np.where(valid, 1.0 - np.clip(ratio, 0.0, 1.0), -1.0)
    best_to_end = np.maximum.accumulate(run_score[:, ::-1], axis=1)[:, ::-1]
    block_best = np.clip(np.maximum.accumulate(best_to_end[:m, 1:], axis=0).diagonal(), 0, 1)
    size = np.where(run_score >= detector.threshold, w + 1e-6 * run_score, -1.0)
    start, end = np.unravel_index(np.argmax(size), size.shape)
    if size[start, end] < 0:
        return None, 0.0, block_best
    return idx[start:end], float(run_score[start, end]), block_best


@pytest.mark.parametrize("window", [1, 3])
@pytest.mark.parametrize("compiled", [False, True], ids=["numpy", "compiled"])
def test_batched_run_search_equals_one_document_at_a_time(window, compiled, monkeypatch):
    """Documents of every size searched together on padded grids (numpy), or each alone by the
    compiled kernel, give bit for bit what each gives searched alone on its own grid (runs found
    and flagged by most problems)."""
    from dedupe import native
    from dedupe.offtopic import _run_sums

    if compiled and native.load() is None:
        pytest.skip("the compiled kernels are not built or are turned off")
    monkeypatch.setenv("DEDUPE_NATIVE", "1" if compiled else "0")
    detector = OffTopicDetector(window=window)
    rng = np.random.default_rng(7)
    problems = []
    for n in [0, 1, 2, 3, 5, 8, 9, 12, 16, 17, 23, 31, 40, 40, 41, 70] * 3:
        topics = np.zeros(n, np.int64)  # an article with a pasted story in it: a run to find
        start, length = rng.integers(0, max(n, 1)), rng.integers(3, 12)
        topics[start:start + length] = 1
        vocabulary = np.repeat(np.eye(2), 15, axis=1)  # the two topics share no term
        x = rng.random((n, 30)) * (rng.random((n, 30)) < 0.3) * vocabulary[topics]
        x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
        gram = x @ x.T
        weight = np.where(rng.random(n) < 0.2, 0.0, np.where(rng.random(n) < 0.2, 2.0, 1.0))
        words = rng.integers(1, 80, n).astype(float)
        problems.append((gram, weight, words, rng.random(n) < 0.85))
    if compiled:  # dd_best_run, which the compiled chunk search runs each round
        kernels = native.load()
        found = []
        for gram, weight, words, active in problems:
            idx = np.flatnonzero(active)
            if idx.size < window:
                found.append((None, 0.0, np.zeros(idx.size)))
                continue
            g, to_total, total2, cw, words_on = _run_sums(gram, weight, words, idx)
            run, best = kernels.best_run(g, np.r_[0.0, to_total], np.r_[0.0, cw], total2, words_on, window,
                                         detector.threshold, detector.full_sim, detector.half_words ** 2)
            found.append((None, 0.0, best) if run is None else (idx[run[0]:run[1]], run[2], best))
    else:
        found = detector._best_runs(problems)
    flagged = 0
    for problem, (run, score, block_best) in zip(problems, found):
        want_run, want_score, want_best = _reference_best_run(detector, *problem)
        assert (run is None) == (want_run is None)
        if run is not None:
            flagged += 1
            np.testing.assert_array_equal(run, want_run)
            assert score == want_score
        np.testing.assert_array_equal(block_best, want_best)
    assert flagged >= 10


@pytest.mark.parametrize("max_runs", [0, 1, 8])
def test_compiled_chunk_search_equals_numpys(max_runs, monkeypatch):
    """The compiled search of a chunk (every round of every document, then the short blocks'
    scores) gives what the numpy search gives, bit for bit: runs flagged, several in one
    document, none past ``max_runs``."""
    from dedupe import native

    if native.load() is None:
        pytest.skip("the compiled kernels are not built or are turned off")
    seeds = [_seed(p)[1] for p in ("000", "001", "002", "003", "004")]
    detector = OffTopicDetector(max_runs=max_runs).fit(seeds)
    short = ["Sport", "Read more", "Advertisement"]
    documents = _equivalence_documents() + [
        ARTICLE[:3] + PASTED + ARTICLE[3:] + seeds[1][2:8] + ARTICLE[:2],   # two pasted stories
        seeds[0][:6] + short + seeds[3][1:7] + short[:1] + seeds[0][6:] + seeds[4][2:9],
        short + ARTICLE + short + PASTED + short,
    ]
    compiled = detector.analyse_many(documents)
    monkeypatch.setenv("DEDUPE_NATIVE", "0")
    plain = detector.analyse_many(documents)
    runs = []
    for (score, flags), (want_score, want_flags) in zip(compiled, plain):
        np.testing.assert_array_equal(score, want_score)
        np.testing.assert_array_equal(flags, want_flags)
        assert score.dtype == np.float64 and flags.dtype == bool
        runs.append(int((np.diff(flags.astype(int), prepend=0) == 1).sum()))
    assert max(runs) == min(max_runs, 2) and sum(runs) >= min(max_runs, 4)


@pytest.mark.parametrize("compiled", [False, True], ids=["numpy", "compiled"])
def test_the_search_reads_the_substantive_blocks_alone_with_the_full_matrices_numbers(fitted, compiled,
                                                                                         monkeypatch):
    """A page of 60k short table cells and a few paragraphs had its run search on a 60k x 60k
    Gram matrix (29 GB: the whole run stopped, out of memory); a chunk's matrices were all made
    at once. Only the substantive blocks' rows are now used, in groups under a budget of
    cells, and every score and flag is the one the matrix of all the blocks gave."""
    from dedupe import native, offtopic
    from dedupe.offtopic import _Search, _block_grams, _spread_to_short_blocks_many

    if compiled and native.load() is None:
        pytest.skip("the compiled kernels are not built or are turned off")
    monkeypatch.setenv("DEDUPE_NATIVE", "1" if compiled else "0")
    table = [f"{k} {k % 7}-{k % 5}" for k in range(300)]  # short cells
    documents = _equivalence_documents() + [ARTICLE[:3] + table + ARTICLE[3:] + PASTED + table,
                                            ARTICLE + table[:50] + PASTED] * 3
    # the search as it was: every document's Gram matrix over all its blocks
    counts = fitted.term_counts(documents)
    x, words = fitted._vectors(counts)
    sizes = np.array([len(d) for d in documents])
    starts = np.concatenate(([0], np.cumsum(sizes)))
    got = fitted.analyse_many(documents)
    want = [(np.zeros(n), np.zeros(n, bool)) for n in sizes]
    searched = [k for k, (score, flags) in enumerate(got) if score.any() or flags.any()]
    assert len(searched) >= 8 and any(got[-1][1])
    substantive = words >= fitted.short_words
    per_doc = []
    for k, gram in zip(searched, _block_grams(x, starts, np.array(searched))):
        a, b = starts[k], starts[k + 1]
        before = np.cumsum(words[a:b]) - words[a:b]
        lead = before < fitted.lead_words
        per_doc.append(_Search(gram, words[a:b], substantive[a:b], lead, substantive[a:b] & ~lead, *want[k]))
    fitted._search_many(per_doc)
    for k in searched:  # (the short blocks take their neighbours' scores, document by document)
        a, b = starts[k], starts[k + 1]
        _spread_to_short_blocks_many(want[k][0], want[k][1], substantive[a:b], np.zeros(b - a, int),
                                     np.flatnonzero(substantive[a:b]))
    for (score, flags), (want_score, want_flags) in zip(got, want):
        np.testing.assert_array_equal(score, want_score)  # bit for bit
        np.testing.assert_array_equal(flags, want_flags)
    made = []  # the Gram matrices' sizes, and in how many groups they are made
    budget = 40 ** 2 * 2
    monkeypatch.setattr(offtopic, "_GRAM_BUDGET", budget)
    real = offtopic._under_budget
    monkeypatch.setattr(offtopic, "_under_budget", lambda sizes, cells: [made.append(sizes[g]) or g for g in real(sizes, cells)])
    again = fitted.analyse_many(documents)
    assert all((s ** 2).sum() <= budget or len(s) == 1 for s in made) and len(made) > 3
    # no larger than a document's substantive blocks, not the 600 blocks of the table pages
    assert max(s.max() for s in made) == max(substantive[starts[k]:starts[k + 1]].sum() for k in searched) < 200
    for (score, flags), (want_score, want_flags) in zip(again, want):
        np.testing.assert_array_equal(score, want_score)
        np.testing.assert_array_equal(flags, want_flags)
