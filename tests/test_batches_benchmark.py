"""benchmarks/batches.py: a cleaner used batch after batch, measured against one run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import make_dump  # noqa: E402


def test_every_batch_size_and_the_run_at_once_clean_the_same_paragraphs(corpus, tmp_path):
    make_dump.DumpWriter(make_dump.DumpConfig(docs=60, seed=3), corpus).write(tmp_path)
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "batches.py"), "--dump", str(tmp_path),
                           "--docs", "40", "--sizes", "5,20", "--repeats", "1"],
                          capture_output=True, text=True, check=True)
    rows = [line.strip("|").split("|") for line in done.stdout.splitlines() if line.startswith("| ")][1:]
    assert [cells[0].strip() for cells in rows] == ["5", "20", "40 (all at once)"]
    assert all(float(cells[1]) > 0 and float(cells[2].replace(",", "")) > 0 for cells in rows)
    import batches

    figures = [batches.child(tmp_path, 40, size) for size in (5, 20, 40)]
    assert [f["batches"] for f in figures] == [8, 2, 1]
    assert len({f["paragraphs"] for f in figures}) == 1  # the same documents, however batched
