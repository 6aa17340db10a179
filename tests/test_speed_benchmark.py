"""benchmarks/speed.py: the ratios it prints compare the methods round by round."""

from __future__ import annotations

import doctest
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import speed  # noqa: E402


def _runs(*speeds):
    quality = {"recall": {"exact": 1.0, "near": 1.0, "syndicated": 1.0}, "precision_duplicates": 1.0}
    return {"runs": [{"paragraphs_per_second": s, "peak_rss_mb": 100.0, "index_per_100k_mb": 25.0,
                      "quality": quality} for s in speeds],
            "median_paragraphs_per_second": sorted(speeds)[len(speeds) // 2], "median_peak_rss_mb": 100.0}


def test_the_two_worker_ratio_is_the_median_of_each_rounds_ratio(tmp_path):
    (tmp_path / "meta.json").write_text(json.dumps({"blocks": 1000}))
    # the speeds of a real run (2026-12-02): the ratio of the medians (71.5k / 42.9k = 1.67x)
    # pairs runs of different rounds; within each round two workers ran 1.76x, 1.55x, 1.36x faster
    results = {"datasketch": _runs(4526, 4094, 4551), "ours": _runs(40908, 42923, 52507),
               "ours-w2": _runs(72077, 66364, 71509)}
    table = speed._table(results, tmp_path)
    assert "`--workers 2` against `--workers 1`, every detector: 1.55x (rounds: 1.76x, 1.55x, 1.36x)" in table
    assert "| 10.5x |" in table  # ours against datasketch: 9.0x, 10.5x, 11.5x (medians: 9.5x)


def test_the_docstring_examples_run():
    assert doctest.testmod(speed).failed == 0
