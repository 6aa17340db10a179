"""benchmarks/stages.py: every stage it times is still where it looks for it, and the workers'
share comes back from their processes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import make_dump  # noqa: E402


def _rows(output: str, width: int) -> dict[str, list[str]]:
    """The rows of the printed tables that have ``width`` cells: the first cell -> the others."""
    rows = {}
    for line in output.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if line.startswith("| ") and len(cells) == width and not set(cells[1]) <= set("-"):
            rows[cells[0]] = cells[1:]
    return rows


def _table(output: str) -> dict[str, tuple[float, float]]:
    """The stage table: seconds in this process and in the workers."""
    return {stage: (float(a), float(b)) for stage, (a, b, _) in _rows(output, 4).items()
            if a.replace(".", "").isdigit()}


def test_the_stages_of_a_two_worker_run_are_timed_in_both_processes(corpus, tmp_path):
    # 120 documents: a first chunk of 32 here, the rest of both passes in the forked worker
    make_dump.DumpWriter(make_dump.DumpConfig(docs=120, seed=5), corpus).write(tmp_path)
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "stages.py"), "--dump", str(tmp_path),
                           "--workers", "2", "--repeats", "1"], capture_output=True, text=True, check=True)
    rows = _table(done.stdout)
    assert "--workers 2" in done.stdout.splitlines()[0]
    here = {stage for stage, (a, _) in rows.items() if a > 0}
    there = {stage for stage, (_, b) in rows.items() if b > 0}
    assert {"reading JSON lines", "index lookups and copy decisions", "deciding (decisions, cleaned text)"} <= here
    assert {"boilerplate classifier", "normalising and shingling", "off-topic term counts",
            "shipping (in the worker)"} <= there
    assert rows["index lookups and copy decisions"][1] == 0  # the index never leaves this process
    passes = _passes(done.stdout)
    assert list(passes) == ["first pass (fit)", "second pass (transform)"]
    for wall, here, workers in passes.values():  # the workers the passes share count in each
        assert wall > 0 and here > 0 and workers > 0
    idle = _idle(done.stdout)
    assert list(idle) == ["first pass (fit)", "second pass (transform)"]
    assert all(value >= 0 for row in idle.values() for value in row)
    # the worker forks only after this process has done the first chunk: it waits for it
    assert idle["first pass (fit)"][0] > 0


def _idle(output: str) -> dict[str, list[float]]:
    """The idle table: per pass, the workers' idle seconds (at the start, between tasks, at the
    end) and this process's waiting."""
    return {name: [float(c) for c in cells] for name, cells in _rows(output, 5).items() if name.endswith(")")}


def _passes(output: str) -> dict[str, tuple[float, float, float]]:
    """The per-pass table: wall, CPU in this process and in the workers."""
    return {name: tuple(float(c) for c in cells[:3]) for name, cells in _rows(output, 7).items() if name.endswith(")")}
