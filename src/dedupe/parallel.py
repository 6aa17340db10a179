"""Running the per-document stages on several cores, in order, with bounded memory.

Two kinds of work are free of shared state and go to worker processes: sketching (segment,
normalise, shingle, MinHash: a pure function of the text) and scoring blocks with the fitted
detectors (boilerplate, off-topic: a pure function of the document's blocks and the fitted
models). The index, the copy decisions and the writing stay in the main process, which receives
results in input order, so any number of workers gives output identical to one. A chunk's
results travel as one array per field (:class:`Shipped`), and its blocks as their offsets
alone: the main process holds the texts and cuts the blocks' texts from them.

:class:`OrderedPool` runs ``workers`` processes in all, this one included (it takes a chunk
itself whenever the oldest result is not back), keeps a bounded number of chunks in flight, so a
dump is never read ahead into memory, and passes each chunk's arrays through memory shared with
the forked processes (:class:`_Slots`); with ``workers=1`` it runs everything inline. :class:`CountSpool` carries
the off-topic term counts a worker made in the first pass over to the worker that scores the
same chunk in the second, through a temporary file the main process owns.

Example
-------
>>> with OrderedPool(lambda x: x * 2, workers=1) as pool:
...     list(pool.map([1, 2, 3]))
[2, 4, 6]
"""

from __future__ import annotations

import copy
import gc
import hashlib
import inspect
import mmap
import multiprocessing
import multiprocessing.pool
import os
import pickle
import signal
import sys
import tempfile
import threading
import time
from collections import deque
from contextlib import contextmanager, nullcontext
from itertools import chain
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, NamedTuple, Optional

import numpy as np

from .deciding import Sketch, local_copies
from .errors import ConfigError, DedupeError
from .minhash import MinHasher
from .normalising import Lines
from .segmenting import segment_chunk
from .shingling import Shingler
from .writing import temporary_file

if TYPE_CHECKING:
    from .offtopic import OffTopicDetector


def available_cores() -> int:
    """Cores this process may run on (the default number of workers)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


# glibc's malloc hands the 1-16 MB numpy temporaries of a chunk back to the kernel (through
# mmap, or by trimming the heap) and page-faults them in again for the next chunk: on the 10k
# benchmark dump, an eighth of the workers' time went to the kernel. Keeping them costs a few MB.
_MMAP_THRESHOLD = 16 << 20  # arrays above this still come and go by mmap
_TRIM_THRESHOLD = 128 << 20  # free heap kept for the next chunk
_TOP_PAD = 16 << 20  # grow the heap in steps of this


def tune_allocator() -> bool:
    """Make glibc's malloc keep freed chunk-sized arrays for reuse (see above). A process-wide
    setting, so only the command line calls it; a program using the API may call it once
    itself. Worker processes forked afterwards inherit it. Returns False where it does not
    apply (not glibc) and changes nothing there."""
    import ctypes
    import platform

    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        # M_MMAP_THRESHOLD first: setting any of these turns off glibc's own adjustment of it
        return all(libc.mallopt(option, value) == 1 for option, value in
                   ((-3, _MMAP_THRESHOLD), (-1, _TRIM_THRESHOLD), (-2, _TOP_PAD)))
    except (OSError, AttributeError):
        return False


def single_threaded_blas() -> bool:
    """Keep numpy's BLAS in the calling thread. The products the detectors take (a chunk's
    blocks times a model's 43 weights, a document's Gram matrix with a vector) are far too small
    to gain from more threads, and OpenBLAS's threads spin for a while after each call: in
    ``--workers 2`` the main process's BLAS thread took 2.7% of the run's CPU samples, on the
    core the other worker needs. Like :func:`tune_allocator`, a process-wide setting that only
    the command line makes; forked workers inherit it. Returns False where threadpoolctl (a
    dependency, installed with scikit-learn anyway) is missing or finds no BLAS to limit."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return False
    blas = ThreadpoolController().select(user_api="blas")
    blas.limit(limits=1)
    return bool(blas.lib_controllers)


# Python's cyclic collector runs every 700 new containers (tuples, lists, objects): a chunk makes
# tens of thousands (blocks, decisions) that live until the chunk is written, so the collector
# walked them again and again, 0.17-0.20 s of the 10k benchmark dump's 5 s on one worker (its main
# process: the part two workers cannot share), for a few thousand objects of cyclic garbage in
# the whole run. Every 50,000: 0.013 s.
_COLLECTOR_THRESHOLDS = (50_000, 10, 10)


def tune_process() -> None:
    """What ``dedupe clean`` sets for its process: :func:`tune_allocator`,
    :func:`single_threaded_blas`, and a garbage collector that runs less often (see
    ``_COLLECTOR_THRESHOLDS``). Worker processes forked afterwards inherit all three."""
    tune_allocator()
    single_threaded_blas()
    gc.set_threshold(*_COLLECTOR_THRESHOLDS)


_worker_state: dict = {}  # per worker process: the objects its initializer received


_STOPS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


@contextmanager
def stops_held() -> Iterator[None]:
    """Hold a stop signal (Ctrl-C, SIGTERM, SIGHUP) that comes inside the block, and act on it
    at its end, as its handler would have. Giving the outputs their names at the end of a run
    is such a block (see :func:`dedupe.cleaning.clean_path`). Starting and stopping the pool are too: the
    exception a handler raises inside the pool's constructor left the pool half made, unknown
    to this object, and at exit multiprocessing ended its worker while the pool's own thread
    started another, which no one stopped (it waited for work for ever, holding the caller's
    pipes). Masking the signals would not do: any thread may take a process's signal
    (numpy's BLAS threads among them), and Python then runs the handler in this one at once."""
    if threading.current_thread() is not threading.main_thread():  # handlers run in the main thread only
        yield
        return
    held: list[int] = []
    handlers = {signum: signal.getsignal(signum) for signum in _STOPS}
    for signum, handler in handlers.items():
        if handler not in (signal.SIG_IGN, None):
            signal.signal(signum, lambda signum, frame: held.append(signum))
    try:
        yield
    finally:
        for signum, handler in handlers.items():
            if handler not in (signal.SIG_IGN, None):
                signal.signal(signum, handler)
        if held:
            handler = handlers[held[0]]
            if callable(handler):
                handler(held[0], None)
            else:  # SIG_DFL: what the signal does by default (SIGTERM ends the process)
                signal.raise_signal(held[0])


def _init_worker(state: dict) -> None:
    # the command line's handlers turn the stop signals into an orderly stop of the main
    # process, which then ends the workers (see _Pool); a worker that gets one simply ends.
    # Ctrl-C reaches every process of the terminal's group: the main one stops the workers
    # (before, each worker also raised KeyboardInterrupt, and printed its name under the
    # one-line message).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for signum in _STOPS:
        if signum != signal.SIGINT and signal.getsignal(signum) is not signal.SIG_IGN:  # nohup: stays ignored
            signal.signal(signum, signal.SIG_DFL)
    _worker_state.clear()
    _worker_state.update(state)
    _worker_state["version"] = 0


def _call(task: "_Task"):
    if task.version != _worker_state["version"]:  # the pool was switched to another function
        offset, size = task.function_at
        _worker_state["f"] = pickle.loads(os.pread(_worker_state["functions"].fileno(), size, offset))
        _worker_state["version"] = task.version
    function = _worker_state["f"]
    if task.slot is None:
        return function(task.item)
    slots: _Slots = _worker_state["slots"]
    result = function(task.item if task.packed is None else task.packed.take(slots))
    return _InSlot.put(slots, task.slot, result) or result


class _Task(NamedTuple):
    """An item for a worker process: ``packed`` in a slot (results go back through the same
    slot) or, too big for one (or with no shared memory), travelling as ``item``; and the
    function it is for (see :meth:`OrderedPool.switch`)."""

    slot: Optional[int]
    packed: Optional["_InSlot"]
    item: object
    version: int
    function_at: Optional[tuple[int, int]]


MAX_WORKERS = 256  # beyond some 8 the main process (index, decisions, writing) is the limit anyway


class WorkerLost(DedupeError):
    """A worker process ended in the middle of a run (killed, or out of memory)."""


class _Pool(multiprocessing.pool.Pool):
    """multiprocessing's pool, with a terminate() that always ends: the stock one could wait for
    ever on a worker that a SIGTERM did not end (see :meth:`Process`), and on a lock that a
    dead worker holds (see :meth:`_help_stuff_finish`). Both hung ``dedupe clean`` after
    Ctrl-C, SIGTERM or a lost worker; both are private parts of the pool, unchanged from
    Python 3.8 to 3.13."""

    def __init__(self, *args, **kwargs):
        try:
            super().__init__(*args, **kwargs)
        except BaseException:  # a thread could not start (memory): the started workers would wait
            handler = getattr(self, "_worker_handler", None)  # for tasks for ever, unless ended here,
            if handler is not None and handler.is_alive():  # and the thread that replaces the dead
                handler._state = multiprocessing.pool.TERMINATE  # ones must stop first
                self._change_notifier.put(None)
                handler.join()
            for process in self._pool:
                process.kill()
                process.join()
            raise

    @staticmethod
    def Process(ctx, *args, **kwds):
        # the pool's worker loop, quiet when this process is gone (see _worker_unless_orphaned)
        kwds["args"] = (kwds.pop("target"),) + tuple(kwds.get("args", ()))
        process = ctx.Process(*args, target=_worker_unless_orphaned, **kwds)
        # terminate() ends the workers with SIGKILL: a SIGTERM sent to a worker that the system
        # has not yet run since its fork (on a busy machine) reaches Python's handler of the
        # forking process, which the fork then clears: the worker lived on, waiting for work,
        # and terminate() waited on it for ever. A worker holds nothing that needs its exit.
        process.terminate = process.kill
        return process

    @staticmethod
    def _help_stuff_finish(inqueue, task_handler, size):
        # a worker waits for its next task holding the task queue's read lock: one killed while
        # idle (kill -9, the OOM killer) keeps it for good, and the stock version took the lock
        # before emptying the queue. Not taken within a second: the queue is emptied anyway.
        inqueue._rlock.acquire(timeout=1.0)
        while task_handler.is_alive() and inqueue._reader.poll():
            inqueue._reader.recv()
            time.sleep(0)


def _worker_unless_orphaned(worker: Callable, *args) -> None:
    """Run the pool's ``worker`` loop in a worker process; end it quietly, with exit status 1,
    once the pipe back to this process is broken: this process was killed (SIGKILL, the OOM
    killer) and nobody reads the results, whose sending would print a BrokenPipeError
    traceback under the shell's "Killed"."""
    try:
        worker(*args)
    except (BrokenPipeError, ConnectionResetError):
        sys.exit(1)


class _Slots:
    """Memory shared with the worker processes (an anonymous mapping made before they fork), cut
    into one slot per item in flight: an item's arrays travel in its slot, and its results come
    back through the same slot. A pipe carries each way only a few hundred bytes of pickle: a
    chunk's results (some 3 MB of sketches) through the pool's pipe kept the sender waiting on
    the receiver's reads, a quarter of a worker's time on the benchmark dump."""

    def __init__(self, count: int, size: int):
        self.size = size
        self._map = mmap.mmap(-1, count * size)
        self._view = memoryview(self._map)
        self.free = list(range(count - 1, -1, -1))

    def view(self, slot: int) -> memoryview:
        return self._view[slot * self.size:(slot + 1) * self.size]

    def close(self) -> None:
        try:
            self._view.release()
            self._map.close()
        except BufferError:  # a view still held (an error on the way out): unmapped when it goes
            pass


class _InSlot(NamedTuple):
    """An object pickled (protocol 5) with its buffers (numpy arrays) in a slot of :class:`_Slots`."""

    slot: int
    pickled: bytes
    spans: list

    @classmethod
    def put(cls, slots: "_Slots", slot: int, obj) -> Optional["_InSlot"]:
        """``obj`` written to ``slot``, or None when its buffers do not fit (it then travels whole)."""
        buffers: list = []
        pickled = pickle.dumps(obj, protocol=5, buffer_callback=buffers.append)
        view, spans, at = slots.view(slot), [], 0
        for buffer in buffers:
            raw = buffer.raw()
            if at + raw.nbytes > len(view):
                return None
            view[at:at + raw.nbytes] = raw
            spans.append((at, raw.nbytes))
            at += (raw.nbytes + 63) & ~63
        return cls(slot, pickled, spans)

    def take(self, slots: "_Slots"):
        """The object back, its buffers copied out of the slot (which is then free again)."""
        view = slots.view(self.slot)
        return pickle.loads(self.pickled, buffers=[bytearray(view[a:a + n]) for a, n in self.spans])


_NOTHING = object()  # the end of a stream


class Texts(list):
    """A chunk's texts: a list of strings that pickles as one UTF-8 array and each text's length
    in bytes, so that it travels to a worker in shared memory (see :class:`_Slots`), not by pipe."""

    def __reduce__(self):
        encoded = [text.encode("utf-8", "surrogatepass") for text in self]
        return _texts_from, (np.frombuffer(b"".join(encoded), np.uint8),
                             np.fromiter(map(len, encoded), np.int64, len(encoded)))


def _texts_from(utf8: np.ndarray, sizes: np.ndarray) -> Texts:
    # each text decoded on its own: decoded whole, the chunk took the width of its widest
    # character (one emoji: four bytes a character) and every slice was narrowed back (a chunk
    # of the benchmark dump with an emoji: 5.8 ms against 0.95 ms; the same without one)
    data = memoryview(utf8)
    ends = np.cumsum(sizes).tolist()
    return Texts(str(data[a:b], "utf-8", "surrogatepass") for a, b in zip([0, *ends], ends))


class OrderedPool:
    """Apply a function to a stream of items on ``workers`` processes in all, this one
    included, yielding results in input order with a bounded number of items in flight.

    This process starts ``workers - 1`` others and computes items itself whenever the oldest
    result is not back yet, so no core waits while another has work (on two cores, two
    processes of work instead of three competing for them: this one runs the index and the
    decisions between items, which the others cannot). ``local``, if given, is what this process
    calls instead of ``function`` (the same computation, with results shaped for this process).

    ``function`` must be picklable by reference (a module-level function or a bound method of a
    picklable object); it is sent once to each process, not with every item.

    The first item always runs in this process, and the others are forked after it: they
    inherit what it built (character tables, the token memos of the chunk's words), which each
    of them would otherwise build again from cold (a chunk's work five times over). A stream of
    one item (a small input, one chunk of documents) never starts them at all (starting them
    was a third of ``dedupe clean``'s time on a handful of documents).

    One pool can serve several streams, one after the other, with another function for each
    (:meth:`switch`): the processes stay, and each loads the new function once, on its first
    item after the switch. The cleaner's two passes share one pool so: forking again for the
    second pass copied the pages of the first pass's index and counts the main process wrote to
    afterwards, and left the new worker waiting for this process's first item.
    """

    def __init__(self, function: Callable, workers: int = 1, local: Callable | None = None):
        self.function = function
        self.local = local or function
        self.workers = max(1, int(workers))
        self._pool = None
        self._slots: Optional[_Slots] = None
        self._functions = None  # the functions switched to, pickled, for the running processes
        self._version = 0
        self._function_at: Optional[tuple[int, int]] = None
        self._processes: list = []
        self._owner = os.getpid()

    def __enter__(self):
        return self

    _SLOT_SIZE = 32 << 20  # address space; only what an item uses is touched

    def _start(self) -> None:
        methods = multiprocessing.get_all_start_methods()
        forking = "fork" in methods
        context = multiprocessing.get_context("fork" if forking else "spawn")
        # shared memory and open files are inherited through fork only; elsewhere everything
        # goes by pipe, and a switch starts the processes afresh
        try:
            self._slots = _Slots(self._sent_cap, self._SLOT_SIZE) if forking else None
        except OSError as exc:
            raise ConfigError(f"cannot map {self._sent_cap * self._SLOT_SIZE >> 20:,} MB of shared address space "
                              f"for {self.workers} workers ({exc.strerror or exc}): use fewer") from None
        self._functions = temporary_file("dedupe-functions-") if forking else None
        self._owner = os.getpid()
        with stops_held():
            try:
                self._pool = _Pool(self.workers - 1, initializer=_init_worker,
                                   initargs=({"f": self.function, "slots": self._slots, "functions": self._functions},),
                                   context=context)
            except (RuntimeError, OSError) as exc:  # no thread or process to be had: memory, ulimit -u
                raise ConfigError(f"cannot start {self.workers - 1} worker process(es) ({exc}): use fewer") from None
            self._processes = list(self._pool._pool)  # the pool's own list: it replaces the dead in it
        self._version, self._function_at = 0, None

    def switch(self, function: Callable, local: Callable | None = None) -> None:
        """Items from now on go to ``function`` (``local`` in this process), with the processes
        already running, which unpickle it (see the class's notes)."""
        self.function, self.local = function, local or function
        if self._pool is None:
            return
        if self._functions is None:  # not forked: start afresh on the next stream
            self._stop(failed=False)
            return
        pickled = pickle.dumps(function, protocol=pickle.HIGHEST_PROTOCOL)
        offset = self._functions.seek(0, os.SEEK_END)
        self._functions.write(pickled)
        self._functions.flush()
        self._version += 1
        self._function_at = (offset, len(pickled))

    @property
    def _sent_cap(self) -> int:
        return 4 * (self.workers - 1)  # items the other processes hold: never short of work

    def _send(self, item) -> tuple:
        """Hands ``item`` to the processes; returns what :meth:`_receive` needs."""
        slots = self._slots
        slot = slots.free.pop() if slots is not None and slots.free else None
        packed = None if slot is None else _InSlot.put(slots, slot, item)
        task = _Task(slot, packed, item if packed is None else None, self._version, self._function_at)
        return self._pool.apply_async(_call, (task,)), slot

    def _receive(self, sent: tuple):
        handle, slot = sent
        while not handle.ready():  # a process killed with an item (by the OOM killer, kill -9)
            handle.wait(self._CHECK_EVERY)  # takes it along: the pool starts another, and the
            self._check_processes()  # item's result would be waited on for ever
        result = handle.get()
        if isinstance(result, _InSlot):
            result = result.take(self._slots)
        if slot is not None:
            self._slots.free.append(slot)
        return result

    def map(self, items: Iterable) -> Iterator:
        items = iter(items)
        if self.workers == 1:
            yield from map(self.local, items)
            return
        queue: deque = deque()  # (sent to the processes, result or its handle)
        if self._pool is None:  # the first item runs here, and the processes fork after it
            first = next(items, _NOTHING)
            if first is _NOTHING:
                return
            done = self.local(first)
            second = next(items, _NOTHING)
            if second is _NOTHING:
                yield done
                return
            self._start()
            items = chain((second,), items)
            queue.append((False, done))
        sent_cap = self._sent_cap
        cap = sent_cap + 2  # ... and the items done here, not yet yielded
        sent, more = 0, True
        while True:
            while more and sent < sent_cap and len(queue) < cap:
                item = next(items, _NOTHING)
                if item is _NOTHING:
                    more = False
                else:
                    queue.append((True, self._send(item)))
                    sent += 1
            if not queue:
                return
            remote, head = queue[0]
            if remote and not head[0].ready() and more and len(queue) < cap:
                item = next(items, _NOTHING)  # rather than wait, do the next item here
                if item is _NOTHING:
                    more = False
                else:
                    queue.append((False, self.local(item)))
                continue
            queue.popleft()
            if remote:
                sent -= 1
                yield self._receive(head)
            else:
                yield head

    _CHECK_EVERY = 0.5  # seconds

    def _check_processes(self) -> None:
        for process in self._processes:
            if process.exitcode is not None:
                code = process.exitcode
                if code < 0:
                    name = signal.Signals(-code).name if -code in signal.valid_signals() else "?"
                    how = f"was killed by signal {-code} ({name})"
                else:
                    how = f"exited with status {code}"
                hint = " (out of memory? run again with fewer --workers)" if code == -signal.SIGKILL else ""
                raise WorkerLost(f"a worker process {how}; the run stops{hint}")

    def _stop(self, failed: bool) -> None:
        if self._pool is None:
            return
        if os.getpid() != self._owner:  # a forked copy (a run left to the garbage collector, collected
            self._pool = self._slots = self._functions = None  # in a child): the pool is its parent's
            return
        # a stop in the middle of terminate() would leave it half done; close() waits for the
        # work in hand, which Ctrl-C must be able to cut short
        with stops_held() if failed else nullcontext():
            if failed:
                self._pool.terminate()
            else:
                self._pool.close()
            self._pool.join()
            self._pool = None
            for resource in (self._slots, self._functions):
                if resource is not None:
                    resource.close()
            self._slots = self._functions = None

    def __exit__(self, exc_type, exc, tb):
        self._stop(failed=exc_type is not None)
        return False


class CountSpool:
    """The off-topic term counts of the first pass, kept for the second in one temporary file
    (unlinked at once, so nothing is left behind, even by a killed run): counting terms is a
    fifth of the work of each pass, and both passes count the same blocks.

    Workers pack a chunk's counts (:func:`pack_counts`, a few bytes per word, with a digest of
    the texts); the main process :meth:`put` s them in stream order and :meth:`get` s them back
    for the same chunk of the second pass, where :func:`unpack_counts` returns them only for the
    very same texts. A chunk that could not be kept (a full disk) is simply counted afresh.
    """

    def __init__(self):
        self._file = tempfile.TemporaryFile(prefix="dedupe-counts-")
        self._where: dict[int, tuple[int, int]] = {}
        self._end = 0

    def put(self, number: int, payload) -> None:
        try:
            self._file.seek(self._end)
            self._file.write(payload)
        except OSError:
            return
        self._where[number] = (self._end, len(payload))
        self._end += len(payload)

    def get(self, number: int) -> Optional[np.ndarray]:
        if number not in self._where:
            return None
        offset, size = self._where[number]
        self._file.seek(offset)
        return np.frombuffer(self._file.read(size), np.uint8)

    def close(self) -> None:
        self._file.close()


def _digest(texts: list[str]) -> np.ndarray:
    """A digest of a chunk's texts (their blocks follow from them), from each text's length and
    Python's string hash (SipHash of the text, no encoding: a tenth of the cost of hashing the
    UTF-8). Processes forked from one another hash alike; one started otherwise (spawn) does
    not, and then simply counts the chunk afresh."""
    n = len(texts)
    keys = np.concatenate((np.fromiter(map(len, texts), np.int64, n), np.fromiter(map(hash, texts), np.int64, n)))
    return np.frombuffer(hashlib.sha256(keys.tobytes()).digest()[:16], np.uint8)


_PACK_HEAD = 4  # int64s before the digest: nnz, len(indptr), n_features, bytes per count
_DIGEST_BYTES = 16


def pack_counts(texts: Optional[list[str]], counts) -> np.ndarray:
    """The term counts of the blocks of a chunk's ``texts`` (a
    :class:`~dedupe.offtopic.TermMatrix` of whole numbers) as bytes (a uint8 array): a head of
    four int64s, the texts' digest, then the counts (uint16, or uint32 past 65535), the columns
    (int32) and the row pointers (int64), each as it lies in memory and padded to 8 bytes, so
    :func:`unpack_counts` reads them in place. A raw layout, not ``np.savez``: the zip cost a
    third of a pass's packing and unpacking. ``texts=None``: no digest (zeros), for counts that
    go back to the very same documents (see :meth:`~dedupe.pipeline.Cleaner.fit`; hashing the
    texts of both passes cost 1.5% of a run)."""
    wide = counts.nnz > 0 and counts.data.max() >= 2**16
    data = counts.data.astype(np.uint32 if wide else np.uint16)
    head = np.array([counts.nnz, len(counts.indptr), counts.n_features, data.itemsize], np.int64)
    digest = np.zeros(_DIGEST_BYTES, np.uint8) if texts is None else _digest(texts)
    parts = [head, digest, data, np.ascontiguousarray(counts.indices, np.int32),
             np.ascontiguousarray(counts.indptr, np.int64)]
    return np.concatenate([np.pad(part.view(np.uint8), (0, _padded_size(part.nbytes) - part.nbytes))
                           for part in parts])


def unpack_counts(payload, texts: Optional[list[str]]):
    """The counts :func:`pack_counts` packed, if they were packed for exactly these texts
    (``texts=None``: known to be, unchecked)."""
    if payload is None:
        return None
    from .offtopic import TermMatrix

    payload = np.frombuffer(payload, np.uint8)
    at = 8 * _PACK_HEAD + _DIGEST_BYTES
    nnz, n_rows, n_features, width = payload[:8 * _PACK_HEAD].view(np.int64).tolist()
    if texts is not None and not np.array_equal(payload[8 * _PACK_HEAD:at], _digest(texts)):
        return None
    data = payload[at:at + width * nnz].view(np.uint32 if width == 4 else np.uint16).astype(np.float64)
    at += _padded_size(width * nnz)
    indices = payload[at:at + 4 * nnz].view(np.int32)
    at += _padded_size(4 * nnz)
    return TermMatrix(data, indices, payload[at:at + 8 * n_rows].view(np.int64), n_features)


def _padded_size(nbytes: int) -> int:
    return nbytes + -nbytes % 8


class ChunkWork:
    """What a worker does with the texts of a chunk of documents: segment them, sketch and/or
    score their blocks, and count the chunk's vocabulary for an off-topic detector being fitted.

    Items are ``(texts, kept)``: ``kept`` holds the chunk's off-topic term counts from the
    first pass (:class:`CountSpool`) or None. Returns ``(blocks, per-document results, vocabulary)``: the chunk's blocks as
    :class:`~dedupe.segmenting.Segments`; per document ``(sketch or None, scores or None)``; the
    vocabulary is ``(features, blocks, packed counts or None)`` for ``fitting`` (see
    :meth:`~dedupe.offtopic.OffTopicDetector.block_frequencies`) or None. With ``blocks=False``
    the blocks stay in the worker (None is returned): a pass that only counts need not ship
    every paragraph back.

    With ``shipped=True`` the results go to another process, as :class:`Shipped` (its
    :meth:`~Shipped.documents` gives the list back) and the blocks without their texts: the
    receiver holds the documents and cuts the texts from them, which costs less than pickling
    them, and much less than segmenting again.
    """

    def __init__(self, sketcher: "Sketcher | None" = None, scorer: "Scorer | None" = None,
                 fitting: "OffTopicDetector | None" = None, blocks: bool = True, keep_counts: bool = False,
                 shipped: bool = False, same_documents: bool = False):
        self.sketcher, self.scorer, self.fitting, self.blocks = sketcher, scorer, fitting, blocks
        self.keep_counts = keep_counts  # pack the fitting's term counts for the second pass
        self.shipped = shipped
        # the second pass gets the first's very documents (clean()'s spool, a file read twice):
        # the kept counts need no digest of the texts
        self.same_documents = same_documents

    def for_another_process(self) -> "ChunkWork":
        """The same work, its results shaped to travel (see ``shipped``)."""
        other = copy.copy(self)
        other.shipped = True
        return other

    def __call__(self, item: tuple[list[str], Optional[np.ndarray]]) -> tuple[object, ...]:
        texts, kept = item
        digested = None if self.same_documents else texts  # the texts the kept counts are checked against
        segments = segment_chunk(texts)
        block_texts = segments.per_document()
        lines = None  # the blocks encoded once, for the sketches and the counts alike
        if self.sketcher is not None or self.fitting is not None:
            lines = Lines.of_documents(texts, block_texts, segments.whole.tolist())
        sketches = self.sketcher(block_texts, lines) if self.sketcher is not None else [None] * len(texts)
        scores = [None] * len(texts)
        if self.scorer is not None:
            counts = unpack_counts(kept, digested)
            if counts is not None and counts.shape[0] != len(segments.starts):  # not the texts promised:
                counts = None  # count afresh, and the block counts say what changed (Cleaner.transform)
            scores = self.scorer(block_texts, counts)
        vocabulary = None
        if self.fitting is not None and not hasattr(self.fitting, "term_counts"):  # a detector of one's own
            vocabulary = (*self.fitting.block_frequencies(block_texts), None)
        elif self.fitting is not None:
            counts = self.fitting.term_counts(block_texts, lines)
            packed = pack_counts(digested, counts) if self.keep_counts else None
            vocabulary = (*self.fitting.block_frequencies(block_texts, counts), packed)
        if not self.blocks:
            segments = None
        elif self.shipped:
            segments = segments.offsets()
        if self.shipped:
            return segments, Shipped(len(texts), _stacked(sketches), _stacked(scores)), vocabulary
        return segments, list(zip(sketches, scores)), vocabulary


def _stacked(items: list) -> Optional[tuple]:
    """Per-document tuples of per-block arrays (or None in a field) as one array per field,
    with the type of the tuples and each document's block count; None when the items are."""
    if not items or items[0] is None:
        return None
    columns = [None if first is None else np.concatenate([item[k] for item in items])
               for k, first in enumerate(items[0])]
    given = [k for k, column in enumerate(columns) if column is not None]  # (scores of no detector: none)
    sizes = np.array([len(item[given[0]]) for item in items] if given else [0] * len(items), np.int64)
    return type(items[0]), sizes, columns


def _unstacked(stacked: Optional[tuple], n: int) -> list:
    if stacked is None:
        return [None] * n
    kind, sizes, columns = stacked
    bounds = np.concatenate(([0], np.cumsum(sizes))).tolist()
    spans = list(zip(bounds, bounds[1:]))
    fields = [[None] * n if column is None else [column[a:b] for a, b in spans] for column in columns]
    make = getattr(kind, "_make", kind)  # a named tuple, or a plain tuple
    return [make(values) for values in zip(*fields)]


class Shipped(NamedTuple):
    """A chunk's per-document sketches and scores as they travel between processes: one array
    per field for the whole chunk. Pickling costs some 7 microseconds an array, so a chunk of
    256 documents with six arrays each cost more to ship array by array than its bytes do."""

    n_documents: int
    sketches: Optional[tuple]
    scores: Optional[tuple]

    def documents(self) -> list[tuple]:
        """Per document ``(sketch or None, scores or None)``, as :class:`ChunkWork` gives them in
        the same process."""
        return list(zip(_unstacked(self.sketches, self.n_documents), _unstacked(self.scores, self.n_documents)))


class Sketcher:
    """Shingle and MinHash the blocks of a chunk of documents, and find the copies inside each
    document (:func:`dedupe.deciding.local_copies`): a pure function of the texts.

    Returns one :class:`~dedupe.deciding.Sketch` per document.
    """

    def __init__(self, config):
        self.config = config
        self._shingler: Shingler | None = None
        self._minhasher: MinHasher | None = None

    def __getstate__(self):
        return {"config": self.config, "_shingler": None, "_minhasher": None}

    def __call__(self, documents: list[list[str]], lines: Lines | None = None) -> list[Sketch]:
        """One sketch per document, given as its block texts (and ``lines``, all of them as one
        :class:`~dedupe.normalising.Lines`, when the caller has it)."""
        if self._shingler is None:
            self._shingler = Shingler(self.config.shingle_size)
            self._minhasher = MinHasher(self.config.num_perm, self.config.seed)
        flat = [text for blocks in documents for text in blocks] if lines is None else lines
        batch = self._shingler.shingle(flat)
        sigs = self._minhasher.signatures(batch.hashes, batch.offsets)
        sizes = np.diff(batch.offsets)
        out, lo = [], 0
        for blocks in documents:
            hi = lo + len(blocks)
            out.append(Sketch(batch.words[lo:hi], sizes[lo:hi], batch.exact[lo:hi], sigs[lo:hi],
                              numbers=batch.numbers[lo:hi]))
            lo = hi
        # (the numbers serve the copies inside each document, found here: they do not travel)
        return [sketch._replace(numbers=None) for sketch in local_copies(out, self.config)]


class Scorer:
    """The single-block detectors over a chunk of documents (what workers run in pass 2).

    Returns, per document, ``(boilerplate, offtopic, offtopic_flags, words)``, each an array
    or None (``words``, the words of each block, come with the boilerplate scores: what
    :func:`dedupe.deciding.in_body` needs).
    """

    def __init__(self, boilerplate=None, offtopic=None):
        self.boilerplate, self.offtopic = boilerplate, offtopic

    @property
    def active(self) -> bool:
        return self.boilerplate is not None or self.offtopic is not None

    def __call__(self, documents: list[list[str]], counts=None) -> list[tuple]:
        """Scores per document. ``counts``: the off-topic term counts of all the documents'
        blocks, if known."""
        n = len(documents)
        bp = words = [None] * n
        ot = [(None, None)] * n
        if self.boilerplate is not None:
            many = getattr(self.boilerplate, "predict_proba_many", None)
            if many is not None and "with_words" in inspect.signature(many).parameters:
                bp, stacked = many(documents, with_words=True)
                words = np.split(stacked, np.cumsum([len(d) for d in documents])[:-1])
            else:  # a detector of another kind: its scores, the words counted here
                bp = many(documents) if many else [self.boilerplate.predict_proba(d) for d in documents]
                words = [np.array([len(b.split()) for b in d], np.int64) for d in documents]
        if self.offtopic is not None:
            many = getattr(self.offtopic, "analyse_many", None)
            if many is None:
                ot = [self.offtopic.analyse(d) for d in documents]
            else:
                ot = many(documents) if counts is None else many(documents, counts=counts)
        return [(b, s, f, w) for b, (s, f), w in zip(bp, ot, words)]
