"""Memory and speed of dedupe.lsh.MinHashLSHIndex next to datasketch.MinHashLSH.

Inserts N random signatures in batches (the cleaner's pattern: query a document's blocks, then
add them), with a share of rows copied from earlier batches so that queries do find candidates.
Prints bytes per 100k entries (the index's ``nbytes``, and the process's RSS growth and peak),
inserts/s and queries/s; then the same for datasketch on a smaller N in the same run.

    PYTHONPATH=src .venv/bin/python benchmarks/lsh_memory.py --n 1000000 --ref-n 100000

RSS peak comes from resource.getrusage (a process-lifetime maximum), so the compact index is
measured first and datasketch second, by its RSS growth and by tracemalloc.
"""

from __future__ import annotations

import argparse
import gc
import resource
import time
import tracemalloc

import numpy as np


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def batches(n: int, batch: int, num_perm: int, dup_rate: float, seed: int = 0):
    rng = np.random.default_rng(seed)
    prev = None
    for start in range(0, n, batch):
        sig = rng.integers(0, 2**32, size=(min(batch, n - start), num_perm), dtype=np.uint32)
        if prev is not None and dup_rate:
            dup = rng.random(len(sig)) < dup_rate
            sig[dup] = prev[: dup.sum()]
        prev = sig
        yield start, sig


def bench_compact(args) -> None:
    from dedupe.lsh import MinHashLSHIndex

    gc.collect()
    rss0, peak0 = rss_bytes(), peak_rss_bytes()
    index = MinHashLSHIndex(num_perm=args.num_perm, threshold=args.threshold)
    t_query = t_add = 0.0
    hits = 0
    for start, sig in batches(args.n, args.batch, args.num_perm, args.dup_rate):
        t0 = time.perf_counter()
        found = index.query(sig)
        t1 = time.perf_counter()
        index.add(sig, np.arange(start, start + len(sig)))
        t2 = time.perf_counter()
        t_query += t1 - t0
        t_add += t2 - t1
        hits += sum(len(f) for f in found)
    n = len(index)
    per100k = 100_000 / n
    print(f"dedupe.lsh  N={n:,}  bands={index.bands} rows={index.rows}  batch={args.batch}")
    print(f"  nbytes             {index.nbytes * per100k / 2**20:8.1f} MiB / 100k entries "
          f"({index.nbytes / n:.0f} B/entry)")
    print(f"  RSS growth         {(rss_bytes() - rss0) * per100k / 2**20:8.1f} MiB / 100k entries")
    print(f"  peak RSS growth    {(peak_rss_bytes() - peak0) * per100k / 2**20:8.1f} MiB / 100k entries")
    print(f"  inserts/s          {n / t_add:10,.0f}   ({t_add / (n / args.batch) * 1e6:.0f} us per batch)")
    print(f"  queries/s          {n / t_query:10,.0f}   ({t_query / (n / args.batch) * 1e6:.0f} us per batch)")
    print(f"  candidates found   {hits:,}")


def bench_datasketch(args) -> None:
    from datasketch import MinHash, MinHashLSH
    from dedupe.lsh import optimal_bands

    params = optimal_bands(args.threshold, args.num_perm)
    gc.collect()
    rss0 = rss_bytes()
    tracemalloc.start()
    lsh = MinHashLSH(num_perm=args.num_perm, params=params)
    t_query = t_add = 0.0
    for start, sig in batches(args.ref_n, args.batch, args.num_perm, args.dup_rate):
        mhs = [MinHash(num_perm=args.num_perm, hashvalues=row, scheme="affine32") for row in sig]
        t0 = time.perf_counter()
        for m in mhs:
            lsh.query(m)
        t1 = time.perf_counter()
        for i, m in enumerate(mhs):
            lsh.insert(start + i, m, check_duplication=False)
        t2 = time.perf_counter()
        t_query += t1 - t0
        t_add += t2 - t1
        del mhs
    gc.collect()
    traced, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    n = args.ref_n
    per100k = 100_000 / n
    print(f"datasketch.MinHashLSH  N={n:,}  params={params}  (timings include tracemalloc overhead)")
    print(f"  tracemalloc        {traced * per100k / 2**20:8.1f} MiB / 100k entries")
    print(f"  RSS growth         {(rss_bytes() - rss0) * per100k / 2**20:8.1f} MiB / 100k entries")
    print(f"  inserts/s          {n / t_add:10,.0f}")
    print(f"  queries/s          {n / t_query:10,.0f}")
    del lsh


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=1_000_000, help="entries in the compact index")
    p.add_argument("--ref-n", type=int, default=100_000, help="entries in datasketch (0: skip)")
    p.add_argument("--batch", type=int, default=20)
    p.add_argument("--num-perm", type=int, default=128)
    p.add_argument("--threshold", type=float, default=0.8)
    p.add_argument("--dup-rate", type=float, default=0.05, help="share of rows copied from the previous batch")
    args = p.parse_args()
    bench_compact(args)
    if args.ref_n:
        bench_datasketch(args)


if __name__ == "__main__":
    main()
