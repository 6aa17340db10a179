"""One very long document: time and peak memory of cleaning it alone.

A scraped page can hold tens of thousands of lines (a forum thread, a table, a log pasted into
an article). In-document copies are looked for among all of a document's blocks, so this is
where a quadratic step would show. The document is ``--lines`` lines of random words (8 to 30
each, from a 5,000-word vocabulary), every 97th line an exact repeat of an earlier line and
every 89th a near repeat (one word changed), so the copy finder has work to do.

    .venv/bin/python benchmarks/long_document.py --lines 20000

Prints the seconds, the peak RSS and what was stripped, as JSON.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import time
from collections import Counter


def long_document(lines: int, seed: int = 1) -> str:
    rnd = random.Random(seed)
    vocabulary = [f"w{i}" for i in range(5000)]
    out = [" ".join(rnd.choice(vocabulary) for _ in range(rnd.randint(8, 30))) for _ in range(lines)]
    for t in range(0, lines, 97):
        out[t] = out[t // 2]
    for t in range(5, lines, 89):
        words = out[t // 3].split()
        words[len(words) // 2] = "zz"
        out[t] = " ".join(words)
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=20000)
    args = parser.parse_args()

    from dedupe import Cleaner, Document

    text = long_document(args.lines)
    started = time.perf_counter()
    cleaned = Cleaner(workers=1).clean_document(Document("long", text))
    seconds = time.perf_counter() - started
    print(json.dumps({
        "lines": args.lines, "seconds": round(seconds, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "stripped": dict(Counter(d.reason for d in cleaned.decisions if d.action == "strip")),
    }))


if __name__ == "__main__":
    main()
