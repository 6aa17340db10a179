"""Dump-scale speed, memory and duplicate recall: news-dedupe against the straightforward pipeline.

On one dump from ``benchmarks/make_dump.py`` (built if missing), each method runs in a fresh
process (so peak memory is its own), ``--repeats`` rounds of every method in turn, and the
medians are reported:

- ``datasketch``: the straightforward pipeline: the same normalising and word 5-gram shingles,
  ``MinHash.bulk`` per document, ``MinHashLSH`` (threshold 0.8, 128 permutations), candidates
  verified by estimated Jaccard against the stored signatures, first occurrence kept;
- ``exact``: a set of hashes of the normalised paragraphs (finds exact copies only);
- ``ours-dedup``: news-dedupe with only the copy detectors on;
- ``ours``: news-dedupe with the defaults (every detector on), ``--workers 1`` and ``--workers 2``;
  both ``ours`` methods tune their process as ``dedupe clean`` does
  (:func:`dedupe.parallel.tune_process`: glibc's malloc, one BLAS thread); the baselines run
  as their users would write them (``--tune-all`` tunes them too);
- ``ours-numpy``: the defaults on one worker without the compiled kernels (``DEDUPE_NATIVE=0``,
  as on a machine without a C compiler), which the baselines' normalising runs without too;
- ``floor``: parse each JSON line, split its paragraphs and write it back, nothing else: what
  any method pays, the ceiling on paragraphs per second in Python.

Figures: paragraphs per second end to end (raw JSONL text to decisions), peak resident memory,
index bytes per 100k indexed paragraphs, and recall / precision on the injected copies recorded in
the dump's truth file. Every ratio (against datasketch, kernels against numpy, two workers against
one) is the median of the ratios within each round, whose methods ran minutes apart at most,
not a ratio of medians that may come from different spells of the machine. Prints a markdown
table and writes it with the JSON figures.

    python benchmarks/speed.py --docs 10000 --repeats 3 --out benchmarks/results/speed
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

METHODS = {
    "datasketch": "MinHash.bulk + MinHashLSH (same shingles, threshold 0.8)",
    "exact": "exact hash of the normalised paragraph",
    "ours-dedup": "news-dedupe, copy detectors only, 1 worker",
    "ours-dedup-w2": "news-dedupe, copy detectors only, 2 workers",
    "ours": "news-dedupe, every detector (defaults), 1 worker",
    "ours-w2": "news-dedupe, every detector (defaults), 2 workers",
    "ours-numpy": "news-dedupe, every detector, 1 worker, numpy only (DEDUPE_NATIVE=0)",
    "floor": "reading, splitting and writing only, no detection (the I/O floor)",
}
NO_DETECTION = {"floor"}


def _memory() -> dict:
    status = Path("/proc/self/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return {k: int(fields[k].split()[0]) * 1024 for k in ("VmRSS", "VmHWM") if k in fields}


def _blocks(dump: Path):
    for line in dump.open(encoding="utf-8"):
        record = json.loads(line)
        yield record["id"], [b for b in record["text"].split("\n") if b.strip()]


def run_datasketch(dump: Path) -> tuple[int, set, int]:
    import numpy as np
    from datasketch import MinHash, MinHashLSH

    from dedupe.normalising import normalise

    lsh = MinHashLSH(threshold=0.8, num_perm=128)
    stored: dict[int, np.ndarray] = {}
    flagged, n = set(), 0
    for doc_id, blocks in _blocks(dump):
        shingle_sets = []
        for text in blocks:
            words = normalise(text).split() or [text.strip()]
            shingle_sets.append([" ".join(words[i:i + 5]).encode() for i in range(max(1, len(words) - 4))])
        for i, m in enumerate(MinHash.bulk(shingle_sets, num_perm=128)):
            n += 1
            hits = [k for k in lsh.query(m) if (stored[k] == m.hashvalues).mean() >= 0.8]
            if hits:
                flagged.add((doc_id, i))
            else:
                key = len(stored)
                stored[key] = m.hashvalues
                lsh.insert(key, m, check_duplication=False)
    return n, flagged, len(stored)


def run_exact(dump: Path) -> tuple[int, set, int]:
    from dedupe.normalising import normalise

    seen, flagged, n = set(), set(), 0
    for doc_id, blocks in _blocks(dump):
        for i, text in enumerate(blocks):
            n += 1
            key = hash(normalise(text))
            if key in seen:
                flagged.add((doc_id, i))
            else:
                seen.add(key)
    return n, flagged, len(seen)


def run_floor(dump: Path) -> tuple[int, set, int]:
    """What every method pays at least: parse each JSON line, split its paragraphs, write it back."""
    n = 0
    with open(os.devnull, "w", encoding="utf-8") as sink:
        for line in dump.open(encoding="utf-8"):
            record = json.loads(line)
            blocks = [b for b in record["text"].split("\n") if b.strip()]
            n += len(blocks)
            sink.write(json.dumps({**record, "text": "\n".join(blocks)}) + "\n")
    return n, set(), 0


def run_ours(dump: Path, workers: int, dedup_only: bool) -> tuple[int, set, int, dict]:
    from dedupe import Cleaner, read_documents

    params = {"detect": frozenset({"duplicate", "near-duplicate"})} if dedup_only else {}
    cleaner = Cleaner(workers=workers, **params)
    flagged, templates, n, reasons = set(), [], 0, {}
    for cleaned in cleaner.clean(read_documents(str(dump))):
        for d in cleaned.decisions:
            n += 1
            if d.reason in ("duplicate", "near-duplicate"):
                flagged.add((d.doc_id, d.block))
            elif d.reason == "template":
                templates.append((d.doc_id, d.block))
            if d.action == "strip":
                reasons[d.reason] = reasons.get(d.reason, 0) + 1
    return n, flagged, len(cleaner.index), {"index_nbytes": cleaner.index.nbytes, "stripped": reasons,
                                            "templates": templates}


def child(method: str, dump: Path, flagged_out: Path, tune_all: bool = False) -> None:
    """Run one method in this process and print its figures as JSON."""
    import dedupe  # noqa: F401 - imported before the baseline memory reading, like the libraries
    from dedupe.parallel import tune_process

    if method.startswith("ours") or tune_all:
        tune_process()
    if method in ("datasketch", "exact", "ours-numpy"):
        # the baselines normalise in plain Python, as their users would (and as before the
        # compiled kernels); ours-numpy is news-dedupe without them
        os.environ["DEDUPE_NATIVE"] = "0"

    before = _memory()
    started = time.perf_counter()
    extra: dict = {}
    if method == "datasketch":
        n, flagged, indexed = run_datasketch(dump)
    elif method == "exact":
        n, flagged, indexed = run_exact(dump)
    elif method == "floor":
        n, flagged, indexed = run_floor(dump)
    else:
        workers = 2 if method.endswith("-w2") else 1
        n, flagged, indexed, extra = run_ours(dump, workers, dedup_only=method.startswith("ours-dedup"))
    seconds = time.perf_counter() - started
    after = _memory()
    flagged_out.write_text(json.dumps({"copies": sorted(flagged), "templates": extra.pop("templates", [])}))
    growth = after["VmHWM"] - before["VmRSS"]
    print(json.dumps({
        "paragraphs": n, "seconds": seconds, "paragraphs_per_second": n / seconds,
        "peak_rss_mb": after["VmHWM"] / 2**20, "rss_growth_mb": growth / 2**20, "indexed": indexed,
        "rss_growth_per_100k_indexed_mb": growth / 2**20 / max(indexed, 1) * 1e5,
        "index_per_100k_mb": extra["index_nbytes"] / 2**20 / max(indexed, 1) * 1e5 if "index_nbytes" in extra else None,
        **{k: v for k, v in extra.items() if k != "index_nbytes"},
    }))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=10000, help="documents in the dump")
    parser.add_argument("--dump", type=Path, help="an existing make_dump.py folder (default: build one)")
    parser.add_argument("--eval", type=Path, help="the labelled pages make_dump.py recombines, when it builds "
                                                   "the dump (default: its own, ../shared/eval/aeb.dev.jsonl)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--out", default="benchmarks/results/speed", help="output path prefix (.md, .json)")
    parser.add_argument("--tune-all", action="store_true", help="tune the baselines' process too (malloc, one BLAS thread)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--flagged-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.dump, args.flagged_out, args.tune_all)
        return

    from truth import load_truth, score_duplicates

    dump_dir = args.dump or HERE / "data" / f"dump-{args.docs}"
    if not (dump_dir / "dump.jsonl").exists():
        build = [sys.executable, str(HERE / "make_dump.py"), "--docs", str(args.docs), "--out", str(dump_dir)]
        if subprocess.run(build + (["--eval", str(args.eval)] if args.eval else [])).returncode:
            sys.exit("speed.py: make_dump.py could not build the dump (above); give --dump or --eval")
    truth = load_truth(dump_dir)
    methods = args.methods.split(",")
    runs: dict[str, list] = {method: [] for method in methods}
    # Round after round of every method, so a slow spell of the machine touches all of them
    # (the ratios, --workers 2 against 1 above all, compare runs minutes apart otherwise).
    for method in [m for _ in range(args.repeats) for m in methods]:
        with tempfile.NamedTemporaryFile(suffix=".json") as flagged_file:
            proc = subprocess.run(
                [sys.executable, __file__, "--child", method, "--dump", str(dump_dir / "dump.jsonl"),
                 "--flagged-out", flagged_file.name, *(["--tune-all"] if args.tune_all else [])],
                capture_output=True, text=True, check=True)
            figures = json.loads(proc.stdout.strip().splitlines()[-1])
            found = json.loads(Path(flagged_file.name).read_text())
        figures["quality"] = score_duplicates(truth, {tuple(k) for k in found["copies"]})
        if found["templates"]:  # site lines stripped as templates, first copies included
            templates = score_duplicates(truth, {tuple(k) for k in found["templates"]})
            figures["template_recall"] = templates["recall"]["template"]
        runs[method].append(figures)
        print(f"{method}: {figures['paragraphs_per_second']:,.0f} paragraphs/s", file=sys.stderr)
    results = {method: {
        "runs": runs[method],
        "median_paragraphs_per_second": statistics.median(r["paragraphs_per_second"] for r in runs[method]),
        "median_peak_rss_mb": statistics.median(r["peak_rss_mb"] for r in runs[method]),
    } for method in methods}
    table = _table(results, dump_dir)
    print(table)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".md").write_text(table + "\n", encoding="utf-8")
    out.with_suffix(".json").write_text(json.dumps(results, indent=2), encoding="utf-8")


def _table(results: dict, dump_dir: Path) -> str:
    meta = json.loads((dump_dir / "meta.json").read_text())
    paragraphs = meta.get("blocks") or meta.get("paragraphs") or next(iter(results.values()))["runs"][0]["paragraphs"]
    lines = [f"Dump: {dump_dir.name}, {paragraphs:,} paragraphs; medians of {len(next(iter(results.values()))['runs'])} "
             f"runs per method, each in a fresh process, the methods in turn, one machine, one run of the script; "
             f"ratios are medians of the ratios within each round.", "",
             "| method | paragraphs/s | vs datasketch | peak RSS (MB) | index MB / 100k paragraphs | "
             "recall exact / near / syndicated | duplicate precision | template copies stripped |",
             "|---|---|---|---|---|---|---|---|"]
    for method, r in results.items():
        last = r["runs"][-1]
        q = last["quality"]
        rec = q["recall"]
        index = last["index_per_100k_mb"] if last["index_per_100k_mb"] is not None else last["rss_growth_per_100k_indexed_mb"]
        speedup = f"{paired_ratio(_speeds(results, method), _speeds(results, 'datasketch')):.1f}x" \
            if "datasketch" in results else "-"
        index_text = f"{index:,.1f}" + ("" if last["index_per_100k_mb"] is not None else " (RSS)")
        templates = f"{last['template_recall']:.3f}" if "template_recall" in last else "-"
        if method in NO_DETECTION:
            lines.append(f"| {METHODS[method]} | {r['median_paragraphs_per_second']:,.0f} | {speedup} | "
                         f"{r['median_peak_rss_mb']:,.0f} | - | - | - | - |")
            continue
        lines.append(
            f"| {METHODS.get(method, method)} | {r['median_paragraphs_per_second']:,.0f} | {speedup} | "
            f"{r['median_peak_rss_mb']:,.0f} | {index_text} | "
            f"{rec['exact']:.3f} / {rec['near']:.3f} / {rec['syndicated']:.3f} | {q['precision_duplicates']:.3f} | "
            f"{templates} |")
    if "ours" in results and "ours-numpy" in results:
        lines.append(f"\nCompiled kernels against numpy only, every detector, 1 worker: "
                     f"{paired_ratio(_speeds(results, 'ours'), _speeds(results, 'ours-numpy')):.2f}x")
    for one, two, what in (("ours-dedup", "ours-dedup-w2", "copy detectors only"), ("ours", "ours-w2", "every detector")):
        if one in results and two in results:
            speeds = _speeds(results, two), _speeds(results, one)
            lines.append(f"\n`--workers 2` against `--workers 1`, {what}: {paired_ratio(*speeds):.2f}x "
                         f"(rounds: {', '.join(f'{x:.2f}x' for x in round_ratios(*speeds))})")
    return "\n".join(lines)


def _speeds(results: dict, method: str) -> list[float]:
    return [run["paragraphs_per_second"] for run in results[method]["runs"]]


def round_ratios(tops: list[float], bottoms: list[float]) -> list[float]:
    return [a / b for a, b in zip(tops, bottoms)]


def paired_ratio(tops: list[float], bottoms: list[float]) -> float:
    """``tops`` against ``bottoms``, two figures measured round after round: the median of their
    ratios within each round (the methods of a round run one after the other, so a slow spell
    of the machine touches both), not the ratio of their medians, which may come from
    different rounds.

    >>> paired_ratio([30, 40, 100], [10, 40, 20])  # rounds: 3x, 1x, 5x; medians: 40 / 20
    3.0
    """
    return statistics.median(round_ratios(tops, bottoms))


if __name__ == "__main__":
    main()
