"""Benchmark: render a synthetic 1M-block `dedupe clean` report to HTML.

Writes a realistic report to a temp file (~50k documents of ~20 blocks, ~15% stripped across
reasons, duplicates pointing to earlier documents, template clusters with Zipf-like sizes, ~300
source hosts), renders it in a fresh interpreter and prints seconds, page size and peak memory
(max RSS of the rendering process, which includes the interpreter and numpy).

    .venv/bin/python benchmarks/report_render.py                 # 1M blocks, 50k documents
    .venv/bin/python benchmarks/report_render.py --blocks 100000 --documents 5000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

# Share of blocks per outcome: ~15% stripped, ~1% flagged, the rest kept.
OUTCOMES = {
    "keep": 0.84, "flag": 0.01, "duplicate": 0.05, "near-duplicate": 0.03,
    "template": 0.03, "boilerplate": 0.025, "off-topic": 0.015,
}
WORDS = ("the a of to in and said government minister report police city market year people new "
         "after over more than week could would president election court company million share "
         "price water health school study climate energy border talks deal attack vote party").split()


def make_report(path: Path, n_blocks: int, n_docs: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    sizes = rng.multinomial(n_blocks - n_docs, np.full(n_docs, 1.0 / n_docs)) + 1  # >= 1 block each
    outcome_names = list(OUTCOMES)
    outcomes = rng.choice(len(outcome_names), size=n_blocks, p=list(OUTCOMES.values()))
    lengths = np.clip(rng.lognormal(4.8, 0.7, size=n_blocks), 10, 3000).astype(int)
    word_ids = rng.integers(0, len(WORDS), size=n_blocks * 4)
    templates = [f"Template {t}: " + " ".join(WORDS[(t * 7 + k) % len(WORDS)] for k in range(12))
                 for t in range(400)]
    template_of = np.minimum(rng.zipf(1.6, size=n_blocks), len(templates)) - 1
    hosts = [f"https://www.site{h:03d}.example/news/" for h in range(300)]
    doc_host = rng.integers(0, len(hosts), size=n_docs)
    scores = rng.beta(8, 2, size=n_blocks)

    i = 0
    with open(path, "w", encoding="utf-8") as fh:
        for d in range(n_docs):
            doc_id = f"{d:06d}_{(d * 2654435761) % 2**32:08x}.txt"
            source = hosts[doc_host[d]] + doc_id
            pos = 0
            for b in range(int(sizes[d])):
                kind = outcome_names[outcomes[i]]
                if kind == "template":
                    text = templates[template_of[i]]
                else:
                    w = word_ids[4 * (i % (n_blocks - 1)): 4 * (i % (n_blocks - 1)) + 4]
                    words = " ".join(WORDS[k] for k in w)
                    text = (f"Block {b} of {doc_id}: {words} " * (1 + lengths[i] // 40))[: lengths[i]]
                row = {"doc_id": doc_id, "block": b, "start": pos, "end": pos + len(text), "text": text,
                       "action": "keep", "reason": None, "score": None, "duplicate_of": None,
                       "cluster": None, "source": source}
                if kind != "keep":
                    row["reason"] = "near-duplicate" if kind == "flag" else kind
                    row["action"] = "keep" if kind == "flag" else "strip"
                    row["score"] = round(float(scores[i]), 3)
                if kind in ("duplicate", "near-duplicate", "flag") and d > 0:
                    src = int(rng.integers(max(0, d - 5000), d))  # an earlier document holds the copy
                    row["duplicate_of"] = {"doc_id": f"{src:06d}_{(src * 2654435761) % 2**32:08x}.txt",
                                           "block": int(rng.integers(0, sizes[src]))}
                    row["cluster"] = int(i)
                elif kind == "template":
                    row["cluster"] = 1_000_000 + int(template_of[i])
                fh.write(json.dumps(row, ensure_ascii=False))
                fh.write("\n")
                pos += len(text) + 1
                i += 1


def _peak_rss_mb() -> float:
    """Peak resident memory of this process. ru_maxrss survives exec on Linux, so it would report
    the generating parent's peak; VmHWM belongs to the new address space only."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def render_child(report: str, out: str) -> None:
    """Run in a fresh interpreter so max RSS is the renderer's alone."""
    from dedupe.html_report import render_report

    t0 = time.perf_counter()
    info = render_report(report, out)
    info["seconds"] = time.perf_counter() - t0
    info["max_rss_mb"] = _peak_rss_mb()
    print(json.dumps(info))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--blocks", type=int, default=1_000_000)
    ap.add_argument("--documents", type=int, default=50_000)
    ap.add_argument("--keep", type=Path, help="also copy the HTML page here")
    ap.add_argument("--render-child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.render_child:
        render_child(*args.render_child)
        return
    with tempfile.TemporaryDirectory() as tmp:
        report, out = Path(tmp) / "report.jsonl", Path(tmp) / "report.html"
        t0 = time.perf_counter()
        make_report(report, args.blocks, args.documents)
        print(f"generated {args.blocks:,} blocks / {args.documents:,} documents "
              f"({report.stat().st_size / 1e6:.0f} MB JSONL) in {time.perf_counter() - t0:.1f} s")
        proc = subprocess.run([sys.executable, __file__, "--render-child", str(report), str(out)],
                              capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
        if proc.returncode:
            sys.exit(proc.stderr)
        info = json.loads(proc.stdout)
        print(f"render: {info['seconds']:.1f} s, page {info['bytes_written'] / 1e6:.2f} MB, "
              f"peak memory (max RSS) {info['max_rss_mb']:.0f} MB")
        print(f"shown {info['documents_shown']} of {info['documents_total']:,} documents "
              f"({info['documents_top']} top, {info['documents_sample']} sample, {info['documents_linked']} linked), "
              f"{info['blocks_shown']:,} of {info['blocks_total']:,} blocks")
        if args.keep:
            args.keep.write_bytes(out.read_bytes())


if __name__ == "__main__":
    main()
