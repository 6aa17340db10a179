"""Boilerplate and off-topic quality on labelled pages: news-dedupe beside the usual baselines.

Runs, in one process on the same pages: keep everything; keep blocks of 10+ words; jusText on
the text blocks (its own classifier and context pass, English stop list); news-dedupe with the
shipped model (``dedupe eval``) and news-dedupe held out by site (each fold of sites cleaned with
a boilerplate model trained on the other sites only, ``dedupe eval --held-out 5``). Prints a
markdown table of word-weighted content precision / recall / F1, with all labels and without the
headline/byline/date/caption blocks the gold body leaves out, and writes it with JSON figures.

    python benchmarks/quality.py ../shared/eval/aeb.dev.jsonl --out benchmarks/results/quality
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from dedupe.evaluation import caveat_mask, content_scores, evaluate, justext_keep_mask, load_labelled


def baselines(pages) -> dict:
    masks = {
        "keep everything": [np.ones(len(p.texts), bool) for p in pages],
        "keep blocks of 10+ words": [np.array([len(t.split()) >= 10 for t in p.texts], bool) for p in pages],
        "jusText on the text blocks": [justext_keep_mask(p.texts) for p in pages],
    }
    caveats = [caveat_mask(p) for p in pages]
    return {name: {"all": content_scores(pages, m), "without_caveat": content_scores(pages, m, caveats)}
            for name, m in masks.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("labelled", help="labelled pages (JSONL)")
    parser.add_argument("--folds", type=int, default=5, help="folds for the held-out-by-site run")
    parser.add_argument("--out", default="benchmarks/results/quality", help="output path prefix (.md, .json)")
    args = parser.parse_args()

    pages = list(load_labelled(args.labelled))
    started = time.perf_counter()
    rows = baselines(pages)
    rows["news-dedupe, shipped model (dedupe eval)"] = evaluate(args.labelled)
    rows[f"news-dedupe, held out by site ({args.folds} folds)"] = evaluate(args.labelled, folds=args.folds)
    lines = [f"Word-weighted content figures on {Path(args.labelled).name} ({len(pages)} pages), one run.", "",
             "| method | precision | recall | F1 | F1 without headline/byline/caption blocks |",
             "|---|---|---|---|---|"]
    for name, r in rows.items():
        a, w = r["all"], r["without_caveat"]
        lines.append(f"| {name} | {a['word_precision']:.3f} | {a['word_recall']:.3f} | **{a['word_f1']:.3f}** | "
                     f"{w['word_f1']:.3f} |")
    table = "\n".join(lines)
    print(table)
    print(f"\n({time.perf_counter() - started:.1f} s)")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".md").write_text(table + "\n", encoding="utf-8")
    out.with_suffix(".json").write_text(json.dumps(rows, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
