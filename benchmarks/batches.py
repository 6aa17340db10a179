"""A cleaner used as a pipeline step: ``clean()`` called batch after batch on one ``Cleaner``.

Each ``clean()`` is a run of its own (its own index, its own off-topic vocabulary), so what a
run costs whatever its size (fitting state, tables sized by the settings, not the text) weighs
on small batches. This prints, per batch size, the milliseconds per batch and the paragraphs
per second, beside one run over the same documents at once; medians over ``--repeats`` rounds,
each in a fresh process, after a first batch that warms the process (its tables and memos).

    python benchmarks/batches.py --dump /tmp/d10k --docs 2000 --sizes 10,50,250
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from itertools import islice
from pathlib import Path


WARM = 20  # documents cleaned first, apart, whatever the batch size


def child(dump: Path, docs: int, size: int) -> dict:
    from dedupe import Cleaner, read_documents

    documents = list(islice(read_documents(str(dump / "dump.jsonl")), WARM + docs))
    warm, documents = documents[:WARM], documents[WARM:]
    cleaner = Cleaner(workers=1)
    list(cleaner.clean(warm))
    batches = [documents[k:k + size] for k in range(0, len(documents), size)]
    paragraphs = 0
    started = time.perf_counter()
    for batch in batches:
        for cleaned in cleaner.clean(batch):
            paragraphs += len(cleaned.decisions)
    seconds = time.perf_counter() - started
    return {"batches": len(batches), "paragraphs": paragraphs, "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dump", type=Path, required=True, help="a make_dump.py folder (dump.jsonl inside)")
    parser.add_argument("--docs", type=int, default=2000, help="documents cleaned, batch after batch")
    parser.add_argument("--sizes", default="10,50,250", help="documents per batch, comma-separated")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.dump, args.docs, args.child)))
        return
    sizes = [int(s) for s in args.sizes.split(",")] + [args.docs]  # the last: the documents at once
    runs: dict[int, list] = {size: [] for size in sizes}
    for _ in range(args.repeats):
        for size in sizes:
            out = subprocess.run([sys.executable, __file__, "--dump", str(args.dump), "--docs", str(args.docs),
                                  "--child", str(size)], capture_output=True, text=True, check=True).stdout
            runs[size].append(json.loads(out.strip().splitlines()[-1]))
    print(f"{args.docs:,} documents of {args.dump.name}, one Cleaner, clean() batch after batch, 1 worker; "
          f"medians of {args.repeats} rounds\n")
    print("| documents per batch | ms per batch | paragraphs/s |")
    print("|---|---|---|")
    for size in sizes:
        seconds = statistics.median(r["seconds"] for r in runs[size])
        first = runs[size][0]
        label = f"{size:,}" + (" (all at once)" if size == args.docs else "")
        print(f"| {label} | {seconds / first['batches'] * 1000:.1f} | {first['paragraphs'] / seconds:,.0f} |")


if __name__ == "__main__":
    main()
