"""Where a cleaning run's time goes, stage by stage, in this process and in the workers.

Runs the benchmark's own pipeline (``speed.run_ours``: ``Cleaner(workers=N)`` over a dump, every
detector on unless ``--copies-only``), with each stage's function wrapped in a timer of the
calling thread's CPU time (``time.thread_time``). Only the outermost timed call counts, so a
stage that calls another is not counted twice, and what no stage claims is ``other`` (Python
between the stages, writing the replay spool, the benchmark's own loop over the decisions, the
pool's bookkeeping). Worker processes time themselves the same way and leave their sums in a
temporary folder.

Whole functions are timed, never lines: a line profiler charges every line that calls Python
code for the profiler's own work, which gave the line making the decisions (a dataclass per
block) 207 ms of the 10k dump, five times what it costs (``timeit``: 178 ns a block, 40 ms).

    python benchmarks/stages.py --dump /tmp/d10k --workers 1
    python benchmarks/stages.py --dump /tmp/d10k --workers 2

Each of ``--repeats`` runs is a fresh process. Prints a markdown table, medians over the runs:
seconds per stage in this process and in the workers, and the wall time, CPU time and idle
core-seconds (``workers x wall - CPU``). Then, per pass: wall, CPU, idle, system time and page
faults; and, with workers, where the idle time lies: the workers' idle seconds before their
first task, between tasks and after their last (from each task's start and end, which every
worker writes down), and this process's seconds waiting on a result that is not back.
"""

from __future__ import annotations

import argparse
import collections
import functools
import json
import multiprocessing
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# (module, attribute path, stage): where each stage is reached. A name imported into another
# module is patched there too (``from .segmenting import segment`` binds its own copy).
STAGES = [
    ("dedupe.reading", "_parse_record", "reading JSON lines"),
    ("dedupe.pipeline", "_Replay._replayed", "replaying the documents in the second pass"),
    ("dedupe.parallel", "segment_chunk", "segmenting"),
    ("dedupe.segmenting", "Segments.with_texts", "cutting the block texts of shipped offsets"),
    ("dedupe.shingling", "Shingler.shingle", "normalising and shingling"),
    ("dedupe.minhash", "MinHasher.signatures", "MinHash"),
    ("dedupe.parallel", "local_copies", "copies inside documents"),
    ("dedupe.offtopic", "OffTopicDetector.term_counts", "off-topic term counts"),
    ("dedupe.offtopic", "OffTopicDetector.block_frequencies", "off-topic vocabulary"),
    ("dedupe.offtopic", "OffTopicDetector.add_frequencies", "off-topic vocabulary"),
    ("dedupe.boilerplate", "BoilerplateClassifier.predict_proba_many", "boilerplate classifier"),
    ("dedupe.offtopic", "OffTopicDetector.analyse_many", "off-topic scoring"),
    ("dedupe.parallel", "pack_counts", "term counts kept for the second pass"),
    ("dedupe.parallel", "unpack_counts", "term counts kept for the second pass"),
    ("dedupe.pipeline", "Cleaner._copies_of_chunk", "index lookups and copy decisions"),
    ("dedupe.pipeline", "_Spread.record", "template counts"),
    ("dedupe.pipeline", "Cleaner._decide", "deciding (decisions, cleaned text)"),
    ("dedupe.parallel", "OrderedPool._send", "shipping chunks to the workers"),
    ("dedupe.parallel", "OrderedPool._receive", "shipping results back"),
    ("dedupe.parallel", "Shipped.documents", "shipping results back"),
    ("dedupe.parallel", "_InSlot.put", "shipping (in the worker)"),
    ("dedupe.parallel", "_InSlot.take", "shipping (in the worker)"),
]
FLUSHED_AFTER = "shipping (in the worker)"  # a worker writes its sums after putting each result
GENERATORS = {"_Replay._replayed", "Cleaner._decide"}


class Timers:
    """CPU seconds per stage in this process; only the outermost timed call counts."""

    def __init__(self, folder: str):
        self.seconds: collections.Counter = collections.Counter()
        self.depth = 0
        self.main = self.pid = os.getpid()
        self.folder = folder  # where a worker process leaves its sums

    def _add(self, stage: str, seconds: float) -> None:
        if os.getpid() != self.pid:  # a forked worker: its sums start afresh
            self.seconds, self.pid = collections.Counter(), os.getpid()
        self.seconds[stage] += seconds
        if stage == FLUSHED_AFTER and self.pid != self.main:  # a worker's last step of an item
            Path(self.folder, f"{self.pid}.json").write_text(json.dumps(self.seconds))

    def function(self, f, stage: str):
        @functools.wraps(f)
        def timed(*args, **kwargs):
            if self.depth:
                return f(*args, **kwargs)
            self.depth += 1
            started = time.thread_time()
            try:
                return f(*args, **kwargs)
            finally:
                self.depth -= 1
                self._add(stage, time.thread_time() - started)
        return timed

    def generator(self, f, stage: str):
        @functools.wraps(f)
        def timed(*args, **kwargs):
            items = f(*args, **kwargs)
            while True:
                if self.depth:
                    try:
                        item = next(items)
                    except StopIteration:
                        return
                else:
                    self.depth += 1
                    started = time.thread_time()
                    try:
                        item = next(items)
                    except StopIteration:
                        return
                    finally:
                        self.depth -= 1
                        self._add(stage, time.thread_time() - started)
                yield item  # the consumer's time is not the stage's
        return timed


def install(timers: Timers) -> None:
    import importlib

    for module_name, path, stage in STAGES:
        owner = importlib.import_module(module_name)
        *parents, name = path.split(".")
        for part in parents:
            owner = getattr(owner, part)
        wrap = timers.generator if path in GENERATORS else timers.function
        setattr(owner, name, wrap(getattr(owner, name), stage))


def install_timeline(folder: str, waits: list) -> None:
    """Timestamps for the idle table: each worker appends the start and end of each of its tasks
    to a file of its own in ``folder``; this process appends to ``waits`` every span it spends
    blocked on a result that is not back yet. ``time.perf_counter`` is the system's monotonic
    clock, the same in every process."""
    from dedupe import parallel

    call, receive = parallel._call, parallel.OrderedPool._receive

    @functools.wraps(call)  # the pool sends the function by name: the workers find this one
    def timed_call(*args):
        started = time.perf_counter()
        try:
            return call(*args)
        finally:
            with open(Path(folder, f"tasks-{os.getpid()}.txt"), "a") as out:
                out.write(f"{started} {time.perf_counter()}\n")

    def timed_receive(self, sent):
        if sent[0].ready():
            return receive(self, sent)
        started = time.perf_counter()
        try:
            return receive(self, sent)
        finally:
            waits.append((started, time.perf_counter()))

    parallel._call, parallel.OrderedPool._receive = timed_call, timed_receive


def idle_in(span: tuple[float, float], tasks: dict[str, list], waits: list) -> dict:
    """Within one pass (``span``: its start and end), the workers' idle seconds before their
    first task, between tasks and after their last (summed over the workers, each counted from
    the pass's start, forked or not), and this process's seconds waiting on them."""
    lo, hi = span
    start = between = end = 0.0
    for spans in tasks.values():
        mine = sorted((a, b) for a, b in spans if lo <= a < hi)
        if not mine:
            start += hi - lo
            continue
        start += mine[0][0] - lo
        between += sum(max(a - b, 0.0) for (_, b), (a, _) in zip(mine, mine[1:]))
        end += max(hi - mine[-1][1], 0.0)
    waiting = sum(min(b, hi) - max(a, lo) for a, b in waits if a < hi and b > lo)
    return {"start": start, "between": between, "end": end, "waiting": waiting}


def _usage() -> dict:
    """CPU seconds, system seconds and minor page faults of this process and of its workers: those
    reaped (``RUSAGE_CHILDREN``) and those still running (``/proc``: the cleaner's two passes
    share one set of workers, joined only at the end)."""
    mine, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    user, system, faults = children.ru_utime, children.ru_stime, children.ru_minflt
    for user_now, system_now, faults_now in map(_running, multiprocessing.active_children()):
        user, system, faults = user + user_now, system + system_now, faults + faults_now
    return {"wall": time.perf_counter(),
            "cpu_here": mine.ru_utime + mine.ru_stime, "cpu_workers": user + system,
            "sys_here": mine.ru_stime, "sys_workers": system,
            "faults_here": mine.ru_minflt, "faults_workers": faults}


def _running(process) -> tuple[float, float, int]:
    """User and system seconds and minor faults of a running child (zeros once it is gone).
    ``stat`` counts CPU time in clock ticks (10 ms): a worker's share of a short pass could read
    0, so the CPU time is taken from ``schedstat`` (nanoseconds on the CPU) where there is one,
    and only the split into system time from ``stat``."""
    try:
        fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        tick = os.sysconf("SC_CLK_TCK")  # fields 10, 14 and 15 of proc(5), counted after the ")"
        user, system, faults = int(fields[11]) / tick, int(fields[12]) / tick, int(fields[7])
    except (OSError, IndexError, ValueError):
        return 0.0, 0.0, 0
    try:
        on_cpu = int(Path(f"/proc/{process.pid}/schedstat").read_text().split()[0]) / 1e9
    except (OSError, IndexError, ValueError):
        return user, system, faults
    return max(on_cpu - system, 0.0), system, faults


def time_passes(passes: dict, spans: dict | None = None) -> None:
    """Record each pass of the cleaner (``fit``, ``transform``) in ``passes``: what
    :func:`_usage` counts, from its start to its end (the workers' running totals included, so
    each pass gets its own share of the workers the two passes share)."""
    from dedupe.pipeline import Cleaner

    def record(name: str, before: dict) -> None:
        after = _usage()
        passes.setdefault(name, collections.Counter()).update({k: v - before[k] for k, v in after.items()})
        if spans is not None:
            spans[name] = (before["wall"], after["wall"])

    fit, transform = Cleaner._fit, Cleaner._transform  # what fit(), transform() and clean() run

    def timed_fit(self, documents, same_documents):
        before = _usage()
        try:
            return fit(self, documents, same_documents)
        finally:
            record("first pass (fit)", before)

    def timed_transform(self, documents, same_documents):
        before = _usage()
        try:
            yield from transform(self, documents, same_documents)
        finally:
            record("second pass (transform)", before)

    Cleaner._fit, Cleaner._transform = timed_fit, timed_transform


def measure(dump: Path, workers: int, copies_only: bool) -> dict:
    """One timed run in this process: stage seconds here and in the workers, wall and CPU."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from dedupe.parallel import tune_process
    import speed

    tune_process()
    with tempfile.TemporaryDirectory(prefix="stages-") as folder:
        timers = Timers(folder)
        install(timers)
        passes: dict = {}
        spans: dict = {}
        waits: list = []
        time_passes(passes, spans)
        install_timeline(folder, waits)
        before = _usage()
        paragraphs, *_ = speed.run_ours(dump / "dump.jsonl", workers, copies_only)
        run = {k: v - before[k] for k, v in _usage().items()}
        here = dict(timers.seconds)
        there: collections.Counter = collections.Counter()
        for file in Path(folder).glob("*.json"):
            there.update(json.loads(file.read_text()))
        tasks = {file.name: [tuple(map(float, line.split())) for line in file.read_text().splitlines()]
                 for file in Path(folder).glob("tasks-*.txt")}
        tasks.update({f"never started {k}": [] for k in range(workers - 1 - len(tasks))})
        idle = {name: idle_in(span, tasks, waits) for name, span in spans.items()}
    wall, cpu_here, cpu_there = run["wall"], run["cpu_here"], run["cpu_workers"]
    here[OTHER] = max(cpu_here - sum(here.values()), 0.0)
    if workers > 1:
        there[OTHER] = max(cpu_there - sum(there.values()), 0.0)
    return {"paragraphs": paragraphs, "wall": wall, "cpu_here": cpu_here, "cpu_workers": cpu_there,
            "here": here, "workers": dict(there), "passes": {k: dict(v) for k, v in passes.items()},
            "idle": idle}


OTHER = "other (between the stages)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dump", type=Path, required=True, help="a make_dump.py folder (dump.jsonl inside)")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--copies-only", action="store_true", help="only the copy detectors, as speed.py's ours-dedup")
    parser.add_argument("--repeats", type=int, default=3, help="runs, each in a fresh process; medians are shown")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.dump, args.workers, args.copies_only)))
        return

    command = [sys.executable, __file__, "--child", "--dump", str(args.dump), "--workers", str(args.workers),
               *(["--copies-only"] if args.copies_only else [])]
    runs = [json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout)
            for _ in range(args.repeats)]

    def median(values) -> float:
        return statistics.median(values)

    wall, cpu_here, cpu_there = (median(r[k] for r in runs) for k in ("wall", "cpu_here", "cpu_workers"))
    paragraphs = runs[0]["paragraphs"]
    names = {stage for r in runs for stage in (*r["here"], *r["workers"])}
    here = {s: median(r["here"].get(s, 0.0) for r in runs) for s in names}
    there = {s: median(r["workers"].get(s, 0.0) for r in runs) for s in names}
    stages = sorted(names, key=lambda s: -(here[s] + there[s]))
    kind = "copy detectors only" if args.copies_only else "every detector"
    print(f"{args.dump.name}, {paragraphs:,} paragraphs, {kind}, --workers {args.workers}, medians of "
          f"{args.repeats} runs: {wall:.2f} s wall, {paragraphs / wall:,.0f} paragraphs/s; CPU {cpu_here:.2f} s "
          f"in this process, {cpu_there:.2f} s in the workers; idle "
          f"{median(_idle(r, args.workers) for r in runs):.2f} core-seconds")
    total = sum(here.values()) + sum(there.values())
    _print_table(["stage", "this process (s)", "workers (s)", "share of the CPU"],
                 [[stage, f"{here[stage]:.3f}", f"{there[stage]:.3f}", f"{100 * (here[stage] + there[stage]) / total:.1f}%"]
                  for stage in stages])
    _print_passes(runs, args.workers)


def _idle(usage: dict, workers: int) -> float:
    """Core-seconds no process used: ``workers x wall - CPU`` of a run or of one pass."""
    return workers * usage["wall"] - usage["cpu_here"] - usage["cpu_workers"]


def _print_passes(runs: list[dict], workers: int) -> None:
    """Per pass, medians over the runs: wall, CPU, the idle core-seconds, system time and minor
    page faults, in this process and in the workers; with workers, where they were idle (see
    :func:`idle_in`). A run of the copy detectors alone makes one pass through ``clean()``,
    neither ``fit`` nor ``transform``: no tables then."""
    names = [name for name in ("first pass (fit)", "second pass (transform)") if name in runs[0]["passes"]]
    if not names:
        return
    rows = []
    for name in names:
        p = _medians(runs, "passes", name)
        idle = statistics.median(_idle(r["passes"][name], workers) for r in runs)
        rows.append([name, f"{p['wall']:.2f}", f"{p['cpu_here']:.2f}", f"{p['cpu_workers']:.2f}", f"{idle:.2f}",
                     f"{p['sys_here']:.2f} / {p['sys_workers']:.2f}",
                     f"{p['faults_here']:,.0f} / {p['faults_workers']:,.0f}"])
    _print_table(["pass", "wall (s)", "CPU here (s)", "CPU workers (s)", "idle (core-s)",
                  "system here / workers (s)", "minor faults here / workers"], rows)
    if workers == 1:
        return
    rows = [[name, *(f"{value:.3f}" for value in _medians(runs, "idle", name).values())] for name in names]
    _print_table(["pass", "workers idle before their first task (s)", "between tasks (s)", "after their last (s)",
                  "this process waiting on them (s)"], rows)


def _print_table(header: list[str], rows: list[list[str]]) -> None:
    print("\n| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")


def _medians(runs: list[dict], table: str, name: str) -> dict:
    """Each figure of ``runs[...][table][name]``, the median over the runs."""
    return {k: statistics.median(r[table][name][k] for r in runs) for k in runs[0][table][name]}


if __name__ == "__main__":
    main()
