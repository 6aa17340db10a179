"""The benchmark dump generator (benchmarks/make_dump.py) and its truth (benchmarks/truth.py)."""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import make_dump  # noqa: E402
from truth import TruthLine, jaccard, load_truth, score_duplicates  # noqa: E402


# High rates so that every kind of copy shows up in a 30-document dump.
CONFIG = dict(docs=30, seed=3, exact_rate=0.15, near_rate=0.15, syndicated_rate=0.2)


def write(corpus, out: Path, **overrides) -> dict:
    cfg = make_dump.DumpConfig(**{**CONFIG, **overrides})
    return make_dump.DumpWriter(cfg, corpus).write(out)


def read_dump(out: Path) -> tuple[dict[str, list[str]], dict[str, int]]:
    docs, order = {}, {}
    for n, line in enumerate((out / "dump.jsonl").read_text(encoding="utf-8").splitlines()):
        rec = json.loads(line)
        assert set(rec) == {"id", "source", "text"}
        docs[rec["id"]] = rec["text"].split("\n")
        order[rec["id"]] = n
    return docs, order


def test_same_arguments_give_identical_files(corpus, tmp_path):
    write(corpus, tmp_path / "a")
    write(corpus, tmp_path / "b")
    write(corpus, tmp_path / "c", seed=4)
    for name in ("dump.jsonl", "truth.jsonl", "meta.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert (tmp_path / "a" / "dump.jsonl").read_bytes() != (tmp_path / "c" / "dump.jsonl").read_bytes()


def test_every_truth_line_points_at_an_earlier_block_with_the_recorded_relation(corpus, tmp_path):
    meta = write(corpus, tmp_path)
    docs, order = read_dump(tmp_path)
    lines = [json.loads(x) for x in (tmp_path / "truth.jsonl").read_text().splitlines()]
    kinds = [t["kind"] for t in lines]
    assert {k: kinds.count(k) for k in meta["truth_lines"]} == meta["truth_lines"]
    assert all(meta["truth_lines"][k] > 0 for k in ("exact", "near", "syndicated", "template"))
    assert len({(t["doc_id"], t["block"]) for t in lines}) == len(lines)
    for t in lines:
        copy = docs[t["doc_id"]][t["block"]]
        of = t["of"]
        original = docs[of["doc_id"]][of["block"]]
        assert (order[of["doc_id"]], of["block"]) < (order[t["doc_id"]], t["block"])
        j = jaccard(copy, original)
        assert t["jaccard"] == pytest.approx(j, abs=1e-4)
        if t["kind"] in ("exact", "template"):
            assert copy == original
        elif t["kind"] == "near":
            assert copy != original and j >= 0.8
        else:
            assert j >= 0.8


def test_documents_are_non_empty_lines_and_untruthed_blocks_are_distinct(corpus, tmp_path):
    meta = write(corpus, tmp_path)
    docs, _ = read_dump(tmp_path)
    assert list(docs) == [f"doc-{i:09d}" for i in range(30)]
    blocks = [b for d in docs.values() for b in d]
    assert len(blocks) == meta["blocks"]
    assert all(b.strip() and b == b.strip() and "\r" not in b for b in blocks)
    truth = load_truth(tmp_path)
    free = [b for d, lines in docs.items() for i, b in enumerate(lines) if (d, i) not in truth]
    assert len(free) == len(set(free))   # anything repeated is in the truth


def test_score_duplicates_counts_hits_misses_and_false_positives():
    truth = {("d2", 0): TruthLine("exact", "d1", 0, 1.0),
             ("d2", 1): TruthLine("near", "d1", 1, 0.85),
             ("d3", 0): TruthLine("syndicated", "d1", 2, 1.0),
             ("d3", 5): TruthLine("template", "d1", 5, 1.0)}
    perfect = score_duplicates(truth, set(truth))
    assert perfect["recall"]["duplicates"] == 1.0 and perfect["precision"] == 1.0
    s = score_duplicates(truth, {("d2", 0), ("d1", 1), ("d1", 5), ("d9", 9)})
    assert s["recall"] == {"exact": 1.0, "near": 0.0, "syndicated": 0.0, "template": 0.0,
                           "duplicates": pytest.approx(1 / 3, abs=1e-6)}
    assert s["precision"] == 0.25
    assert s["false_positives"] == {"originals": 1, "template_originals": 1, "other": 1}
    assert s["near_recall_by_jaccard"]["[0.8, 0.9)"] == 0.0


def test_near_edits_change_the_text_but_keep_jaccard_at_least_0_8(corpus):
    markov = make_dump.MarkovText(corpus)
    texts, _ = markov.generate(np.random.default_rng(0), 200)
    editor = make_dump.NearEditor(["harbour", "council", "reportedly"])
    rnd = random.Random(0)
    results = [(t, *editor.edit(t, rnd)) for t in texts]
    assert all(new != old and j >= 0.8 and j == jaccard(old, new) for old, new, j in results)
    assert any(j < 1.0 for _, _, j in results)   # some edits do change words


def test_bad_parameters_are_reported_without_traceback(capsys, tmp_path):
    assert make_dump.main(["--docs", "0", "--out", str(tmp_path)]) == 2
    assert "--docs" in capsys.readouterr().err
    assert make_dump.main(["--docs", "5", "--out", str(tmp_path), "--eval",
                           str(tmp_path / "missing.jsonl")]) == 2
    assert "--eval" in capsys.readouterr().err
