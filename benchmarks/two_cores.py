"""How much of this machine's own two-core ceiling ``--workers 2`` reaches.

``--workers 2`` is measured against ``--workers 1`` (the issue's target is 1.6x). What two
processes can gain on a machine at all depends on the machine: on shared or virtual cores, two
busy processes slow each other down (shared caches, memory bandwidth, a hypervisor's neighbours).
This measures that ceiling with the same work, in the same run:

- ``one``: one ``dedupe clean --workers 1`` over the first half of the dump, alone;
- ``pair``: two ``dedupe clean --workers 1`` at once, one per half of the dump (no sharing at all
  between them, so they show the most two processes gain here);
- ``w1`` and ``w2``: the whole dump with ``--workers 1`` and ``--workers 2``.

The ceiling is ``2 x one / pair`` (two halves in the time one took would be 2.0x); the speed-up
is ``w1 / w2``, and its share of the ceiling is what the pipeline's own costs (the main process,
passing chunks between processes) take away. Each command runs ``--repeats`` times, the four
interleaved; medians are reported, and the ratios are medians of the ratios within each round.

    .venv/bin/python benchmarks/two_cores.py --dump /tmp/d10k        # a make_dump.py folder

Prints a markdown table and the figures as JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from speed import paired_ratio


def timed(*commands: list[str]) -> float:
    """Seconds until every command (started together) has finished."""
    started = time.perf_counter()
    running = [subprocess.Popen(c, stdout=subprocess.DEVNULL) for c in commands]
    if any(p.wait() for p in running):
        raise SystemExit(f"a command failed: {commands}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dump", type=Path, required=True, help="a make_dump.py folder (dump.jsonl inside)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="two-cores-") as tmp:
        tmp = Path(tmp)
        lines = (args.dump / "dump.jsonl").read_bytes().splitlines(keepends=True)
        halves = [tmp / "first.jsonl", tmp / "second.jsonl"]
        halves[0].write_bytes(b"".join(lines[: len(lines) // 2]))
        halves[1].write_bytes(b"".join(lines[len(lines) // 2:]))

        def clean(path: Path, workers: int, out: str) -> list[str]:
            return [sys.executable, "-m", "dedupe", "clean", str(path), "-o", str(tmp / out),
                    "--overwrite", "-q", "--workers", str(workers)]

        runs: dict[str, list[float]] = {"one": [], "pair": [], "w1": [], "w2": []}
        for _ in range(args.repeats):
            runs["one"].append(timed(clean(halves[0], 1, "a.jsonl")))
            runs["pair"].append(timed(clean(halves[0], 1, "a.jsonl"), clean(halves[1], 1, "b.jsonl")))
            runs["w1"].append(timed(clean(args.dump / "dump.jsonl", 1, "w1.jsonl")))
            runs["w2"].append(timed(clean(args.dump / "dump.jsonl", 2, "w2.jsonl")))

    median = {name: statistics.median(times) for name, times in runs.items()}
    ceiling = 2 * paired_ratio(runs["one"], runs["pair"])
    speedup = paired_ratio(runs["w1"], runs["w2"])
    print("| figure | value |\n|---|---|")
    print(f"| one half alone, 1 worker (s) | {median['one']:.2f} |")
    print(f"| both halves at once, 1 worker each (s) | {median['pair']:.2f} |")
    print(f"| this machine's two-process ceiling (2 x one / pair) | {ceiling:.2f}x |")
    print(f"| whole dump, --workers 1 / --workers 2 (s) | {median['w1']:.2f} / {median['w2']:.2f} |")
    print(f"| --workers 2 speed-up | {speedup:.2f}x ({speedup / ceiling:.0%} of the ceiling) |")
    print(json.dumps({"seconds": runs, "medians": median, "ceiling": ceiling, "speedup": speedup}))


if __name__ == "__main__":
    main()
