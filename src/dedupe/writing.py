"""Writing cleaned documents, reports and rejects without ever leaving half a file.

Every file is written to a temporary file in its folder (one without a name, where the system
allows) and renamed into place when complete (``os.replace`` is atomic on one filesystem); a
directory of cleaned ``.txt`` files is built in a temporary sibling directory and renamed as a
whole. An interrupted run therefore leaves either the previous state or the complete new
output, never a truncated file. Output paths are checked against the input first: the cleaner
refuses to write over (or inside) what it reads.

Example
-------
>>> import tempfile, pathlib
>>> target = pathlib.Path(tempfile.mkdtemp()) / "out.jsonl"
>>> with AtomicFile(target) as f:
...     _ = f.write("{}\\n")
>>> target.read_text()
'{}\\n'
>>> import shutil; shutil.rmtree(target.parent)
"""

from __future__ import annotations

import errno
import io
import json
import os
import re
import select
import shutil
import stat
import sys
import tempfile
from contextlib import contextmanager, suppress
from json.encoder import encode_basestring  # the escaper json.dumps(..., ensure_ascii=False) uses
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Iterator, Optional

from . import native
from .compression import gzip_writer, is_gzip_name
from .errors import OutputError
from .reading import names_descriptor, walk

try:
    import fcntl
except ImportError:  # not a POSIX system: no locks, so nothing left by a killed run is removed
    fcntl = None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _usual_mode(path: Path, directory: bool = False) -> None:
    """mkstemp/mkdtemp create private files; outputs get the mode a plain open() would give."""
    os.chmod(path, (0o777 if directory else 0o666) & ~_umask())


class AtomicFile:
    """A text file that appears at ``path`` only once it is completely written.

    It is written into a file without a name in the target's folder (Linux's ``O_TMPFILE``),
    which is given its name when complete, so a run killed outright (SIGKILL, the OOM killer)
    leaves nothing behind; where that is not possible, into a hidden sibling renamed at the end.

    A path that is a device or a pipe (``/dev/null``, a FIFO) is written straight into: renaming
    a file over it would replace the device with that file, and what a pipe's reader has
    received cannot be taken back anyway."""

    def __init__(self, path: str | os.PathLike, binary: bool = False):
        # through a symbolic link: the file it names is replaced and the link stays (a file
        # renamed over the link's own path would replace the link, as with /dev/stdout)
        self.path = Path(os.path.realpath(path)) if os.path.islink(path) else Path(path)
        self.binary = binary
        self._fd: int | None = None
        self._unnamed = False  # _fd is a file without a name, linked at the end
        self._tmp: Path | None = None
        self._file: io.IOBase | None = None
        self._raw = None
        self._made: list[Path] = []  # the folders made for it, removed again if it is not written

    def __enter__(self):
        try:
            if self.path.exists() and not (self.path.is_file() or self.path.is_dir()):
                self._fd = os.open(self.path, os.O_WRONLY)
            else:
                self._made = [folder for folder in (self.path.parent, *self.path.parent.parents) if not folder.exists()]
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._fd = _unnamed_file(self.path.parent)
                self._unnamed = self._fd is not None
                if self._fd is None:
                    self._fd, self._tmp = self._hidden_sibling()
                if self.path.is_file():  # a file replaced keeps its mode (a private 600 stays private)
                    os.fchmod(self._fd, stat.S_IMODE(self.path.stat().st_mode))
        except OSError as exc:
            raise OutputError(f"cannot write {self.path}: {exc.strerror or exc}") from None
        # the name is given through the descriptor
        raw = self._raw = io.BufferedWriter(_NamedInErrors(self._fd, str(self.path)))
        if is_gzip_name(self.path.name):
            raw = gzip_writer(raw)  # (an output or report of a dump is gigabytes: see compression.py)
        self._file = raw if self.binary else io.TextIOWrapper(raw, encoding="utf-8", newline="")
        return self._file

    def __exit__(self, exc_type, exc, tb):
        assert self._file is not None and self._fd is not None
        try:
            self._file.close()
            self._raw.close()
            if exc_type is None and self._unnamed:
                self._tmp = self._named()
            if exc_type is None and self._tmp is not None:
                os.replace(self._tmp, self.path)
        except OSError as err:
            self._discard()
            raise OutputError(f"cannot write {self.path}: {err.strerror or err}") from None
        finally:
            os.close(self._fd)
        if exc_type is not None:
            self._discard()
        return False

    def _discard(self) -> None:
        if self._tmp is not None:
            self._tmp.unlink(missing_ok=True)
        for folder in self._made:  # deepest first; one that another file went into stays
            with suppress(OSError):
                folder.rmdir()

    def _named(self) -> Path:
        """The finished unnamed file linked under a hidden name of its own, to be renamed over
        the target (a link cannot replace a file); copied there where it cannot be linked."""
        folder = os.open(self.path.parent, getattr(os, "O_PATH", os.O_RDONLY) | os.O_DIRECTORY)
        try:
            while True:
                tmp = self.path.parent / f".{self.path.name}.{os.urandom(6).hex()}.tmp"
                try:  # a folder descriptor: os.link follows the /proc link only through linkat
                    os.link(f"/proc/self/fd/{self._fd}", tmp.name, dst_dir_fd=folder, follow_symlinks=True)
                    return tmp
                except FileExistsError:
                    continue
                except OSError as exc:
                    if exc.errno not in (errno.EXDEV, errno.EPERM, errno.ENOENT, errno.EOPNOTSUPP, errno.EINVAL):
                        raise
                    return self._copied()
        finally:
            os.close(folder)

    def _copied(self) -> Path:
        fd, self._tmp = self._hidden_sibling()  # removed if the copy fails
        with open(fd, "wb") as copy, open(f"/proc/self/fd/{self._fd}", "rb") as done:
            shutil.copyfileobj(done, copy, 1 << 20)
        return self._tmp

    def _hidden_sibling(self) -> tuple[int, Path]:
        """A new hidden file beside the target, with the mode a plain open() would give it."""
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        _usual_mode(Path(tmp))
        return fd, Path(tmp)


class _NamedInErrors(io.FileIO):
    """A descriptor's file whose write errors name ``name`` (a full disk said only "No space
    left on device", not which output)."""

    def __init__(self, fd: int, name: str):
        super().__init__(fd, "wb", closefd=False)
        self._target = name

    def write(self, data):
        try:
            return super().write(data)
        except OSError as exc:
            if exc.filename is None:
                exc.filename = self._target
            raise


class _TemporarySpace(io.FileIO):
    """A temporary file's descriptor whose write errors say where the file is, and what to do:
    a full temporary folder said only "No space left on device", as if an output had no room."""

    def write(self, data):
        try:
            return super().write(data)
        except OSError as exc:
            raise OutputError(f"cannot write to the temporary folder {tempfile.gettempdir()}: "
                              f"{exc.strerror or exc}; set TMPDIR to a folder with room") from None


def temporary_file(prefix: str, buffering: int = io.DEFAULT_BUFFER_SIZE) -> io.BufferedRandom:
    """A file without a name in the temporary folder (gone when closed, or when the process is
    killed), to spool to and read back; an error in writing it is an :class:`OutputError`
    that names the folder."""
    with tempfile.TemporaryFile(prefix=prefix, buffering=0) as made:
        fd = os.dup(made.fileno())
    return io.BufferedRandom(_TemporarySpace(fd, "rb+"), buffering)


def _unnamed_file(folder: Path) -> Optional[int]:
    """A descriptor of a new file without a name in ``folder`` (mode 666 less the umask), or
    None where the system or the filesystem makes none."""
    flag = getattr(os, "O_TMPFILE", None)
    if flag is None or not os.path.isdir("/proc/self/fd"):  # no way to name it at the end
        return None
    try:
        return os.open(folder, flag | os.O_WRONLY, 0o666)
    except OSError as exc:
        if exc.errno in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL, errno.ENOENT):  # not supported here
            return None
        raise


def check_outputs(input_path: str, outputs: dict[str, Optional[str]], *, folder: Optional[str] = None,
                  overwrite: bool = False) -> None:
    """Refuse, before any work, outputs that would destroy the input, one another or a folder.

    ``outputs`` maps what each output is ("the report") to its path (None: not written, ``-``:
    standard output); ``folder`` is the key of the one that is a folder of text files, which
    replaces what is at its path as a whole at the end. Refused, with what to change:

    - an output that is the input (a symlink to it included) or lies inside the input folder;
    - a folder output that holds the input (replacing it deletes the input), that is a file, or
      that is an existing folder with files in it (unless ``overwrite``);
    - two outputs at one path (the second would replace the first without a word), or both on
      standard output (their lines would be interleaved);
    - a file inside the folder output (the folder, swapped in at the end, takes it away), or
      under another output's path (a file);
    - a file output at an existing folder, or at a path ending with ``/``; a folder output
      named as a JSON lines file (``cleaned.jsonl``);
    - a folder output that is the current folder or holds it (it would be replaced under the
      user's feet);
    - a path that cannot be written: under a file, or in a folder without write permission
      (found now, not after the minutes of a first pass).

    >>> check_outputs("dump.jsonl", {"the cleaned output": "out.jsonl", "the report": "out.jsonl"})
    Traceback (most recent call last):
    ...
    dedupe.errors.OutputError: the cleaned output and the report are one file (out.jsonl): give each its own path
    """
    on_stdout = [what for what, path in outputs.items() if is_stdout(path)]
    if on_stdout and sys.stdout is None:  # (found now, not after the minutes of a first pass)
        raise OutputError(f"standard output is closed, where {on_stdout[0]} would go: give it a file path")
    if len(on_stdout) > 1:
        raise OutputError(f"{' and '.join(on_stdout)} would both go to standard output (-), one into the other: "
                          "give all but one a file path")
    written = {what: path for what, path in outputs.items() if path is not None and not is_stdout(path)}
    if on_stdout:
        _check_stdout(on_stdout[0], input_path)
    try:
        src = None if input_path == "-" else Path(input_path).resolve()
        _check_each(src, input_path, written, folder, overwrite)
    except OSError as exc:  # a folder on the way that cannot be searched: stat() itself is refused
        raise OutputError(f"an output path cannot be checked, so cannot be written: {exc.filename}: "
                          f"{exc.strerror or exc}") from None
    except RuntimeError as exc:  # Path.resolve() on links that lead to one another
        raise OutputError(f"an output path cannot be written: {exc}") from None


def _check_stdout(what: str, input_path: str) -> None:
    """Standard output, where ``what`` goes, is not the input file (``1<>dump.jsonl``,
    ``>>dump.jsonl``: the input was overwritten or appended to as it was read), nor a file in
    the input folder."""
    try:
        out = os.fstat(1)
        if not stat.S_ISREG(out.st_mode):
            return
        if input_path == "-":
            same = os.path.samestat(out, os.fstat(0))
        elif os.path.isdir(input_path):
            folder = os.path.realpath(input_path)
            same = os.path.realpath("/proc/self/fd/1").startswith(folder + os.sep)
        else:
            same = os.path.samestat(out, os.stat(input_path))
    except OSError:  # stdout or the input is not there: said where each is opened
        return
    if same:
        where = ("the file on standard input" if input_path == "-" else
                 f"a file in the input folder {input_path}" if os.path.isdir(input_path) else f"the input file {input_path}")
        raise OutputError(f"{what} goes to standard output, which is {where}: redirect it somewhere else, "
                          "or give -o a path of its own")


def _holds_text_files(folder: Optional[Path]) -> bool:
    """Whether ``folder`` holds a .txt file (one without says so itself when it is read)."""
    return folder is not None and any(name.lower().endswith(".txt") for _, names in walk(folder) for name in names)


def _check_each(src: Optional[Path], input_path: str, written: dict[str, str], folder: Optional[str],
                overwrite: bool) -> None:
    seen: dict[Path, str] = {}
    for what, path in written.items():
        if not path:
            raise OutputError(f"{what} has an empty path")
        dst = Path(path).resolve()
        if src is not None and dst == src:
            raise OutputError(f"{what} {path} is the input: write it somewhere else")
        if src is not None and src.is_dir() and src in dst.parents:
            raise OutputError(f"{what} {path} is inside the input folder {input_path}: choose a path outside it")
        if dst in seen:
            raise OutputError(f"{seen[dst]} and {what} are one file ({path}): give each its own path")
        seen[dst] = what
        _check_writable(what, path, dst)
        if what != folder and path.endswith(("/", os.sep)):
            raise OutputError(f"{what} {path} ends with /, a folder, but is written as one file: name the file "
                              "(in that folder, if you like)")
        if what == folder:
            if Path(path).suffix.lower() in (".jsonl", ".json", ".ndjson", ".gz") and _holds_text_files(src):
                raise OutputError(f"output {path} is named as a JSON lines file, but a folder of .txt files is "
                                  "cleaned into a folder of .txt files: give a folder name, e.g. -o cleaned")
            if src is not None and dst in src.parents:
                raise OutputError(f"output folder {path} holds the input {input_path}, which replacing it would "
                                  "delete: choose a folder outside it")
            here = Path.cwd().resolve()
            if dst == here or dst in here.parents:
                raise OutputError(f"output folder {path} is the current folder or holds it, and is replaced as a "
                                  "whole at the end: choose a new folder, e.g. -o cleaned")
            if dst.exists() and not dst.is_dir():
                raise OutputError(f"output {path} exists and is not a folder")
            if dst.is_dir() and any(dst.iterdir()) and not overwrite:
                raise OutputError(f"output folder {path} exists and is not empty: pass --overwrite to replace it")
        elif dst.is_dir():
            raise OutputError(f"{what} {path} is a folder: give a file path")
    for dst, outer in seen.items():  # one output under another's path
        for what, path in written.items():
            if dst in Path(path).resolve().parents:
                if outer == folder:
                    raise OutputError(f"{what} {path} is inside the output folder {written[folder]}, which is "
                                      "replaced as a whole at the end: put it outside")
                raise OutputError(f"{what} {path} lies under {outer} {written[outer]}, which is written as a file: "
                                  "give them paths side by side")


def _check_writable(what: str, path: str, dst: Path) -> None:
    """``dst`` (``path`` resolved) can be made: its nearest existing folder takes new files, or
    it is itself a device or pipe that takes writes."""
    if dst.exists() and not (dst.is_file() or dst.is_dir()):  # a device, a FIFO: written into
        if not os.access(dst, os.W_OK):
            raise OutputError(f"{what} {path} cannot be written: permission denied")
        return
    folder = dst.parent
    while not folder.exists():
        folder = folder.parent
    if not folder.is_dir():
        raise OutputError(f"{what} {path} cannot be written: {folder} is a file, not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"{what} {path} cannot be written: no permission to write in {folder}")


class TextDirWriter:
    """Writes documents as ``<out>/<doc id>`` text files, the folder appearing whole at the end."""

    def __init__(self, out_dir: str | os.PathLike):
        # through a link, the folder it names is replaced and the link stays (renaming the link
        # over the empty folder that sets the old one aside failed, after all the work)
        self.out_dir = Path(os.path.realpath(out_dir)) if os.path.islink(out_dir) else Path(out_dir)
        self._tmp: Path | None = None
        self._held: int | None = None  # a descriptor of _tmp, locked while this run builds it

    def __enter__(self):
        self.out_dir.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = Path(tempfile.mkdtemp(prefix=f".{self.out_dir.name}.", suffix=".tmp", dir=self.out_dir.parent))
        self._held = _locked(self._tmp)
        if self._held is not None:  # where no lock is to be had, another run's folder may be at work unlocked
            _remove_abandoned(self.out_dir)
        _usual_mode(self._tmp, directory=True)
        return self

    def write(self, doc_id: str, text: str) -> None:
        assert self._tmp is not None
        # told from the id's own parts (resolving every path cost each file more the deeper it
        # lay: 900 folders down, writing took three times the run); the folder is this run's own
        parts = PurePosixPath(doc_id).parts
        if not parts or PurePosixPath(doc_id).is_absolute() or ".." in parts or "\0" in doc_id:
            raise OutputError(f"document id {doc_id!r} would be written outside the output folder")
        target = self._tmp.joinpath(*parts)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(target, "w", encoding="utf-8", newline="") as f:
                f.write(text)
        except OSError as exc:  # a full disk: named as the output it is, not the hidden folder
            raise OutputError(f"cannot write {self.out_dir / doc_id}: {exc.strerror or exc}") from None

    def __exit__(self, exc_type, exc, tb):
        assert self._tmp is not None
        try:
            return self._finish(exc_type)
        finally:
            if self._held is not None:
                os.close(self._held)  # the lock goes with it

    def _finish(self, exc_type) -> bool:
        if exc_type is not None:
            _remove_tree(self._tmp)
            return False
        old = None
        try:
            if self.out_dir.exists():  # set aside under a name of its own (a fixed one may be left over)
                old = Path(tempfile.mkdtemp(prefix=f".{self.out_dir.name}.", suffix=".old", dir=self.out_dir.parent))
                os.replace(self.out_dir, old)
            os.replace(self._tmp, self.out_dir)
        except OSError as err:
            if old is not None and not self.out_dir.exists() and old.exists():
                os.replace(old, self.out_dir)  # the folder as it was
            elif old is not None:
                with suppress(OSError):  # the empty folder made to take the old one
                    old.rmdir()
            _remove_tree(self._tmp)
            raise OutputError(f"cannot replace {self.out_dir}: {err.strerror or err}") from None
        if old is not None:  # held locked, so that another run does not take it for abandoned
            held = _locked(old)
            try:
                _remove_tree(old)
            finally:
                if held is not None:
                    os.close(held)
        return False


def _locked(folder: Path) -> Optional[int]:
    """A descriptor of ``folder`` holding an exclusive lock on it (flock), which the system
    releases when the process ends, however it ends; None where locks are not to be had."""
    if fcntl is None:
        return None
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def _remove_abandoned(out_dir: Path) -> None:
    """Removes the hidden folders that runs killed outright (SIGKILL, the OOM killer) left while
    building ``out_dir``: those of its name that no living process holds locked (see
    :func:`_locked`). A folder set aside while the output was being replaced (``.old``) goes
    too once ``out_dir`` is there (the new output took its place); before, it may be the only
    copy of the previous output, and is left alone."""
    kinds = "tmp|old" if out_dir.is_dir() else "tmp"
    pattern = re.compile(rf"\.{re.escape(out_dir.name)}\.[a-z0-9_]{{8}}\.(?:{kinds})")
    try:
        names = [entry.name for entry in os.scandir(out_dir.parent)
                 if pattern.fullmatch(entry.name) and entry.is_dir(follow_symlinks=False)]
    except OSError:
        return
    for name in names:
        held = _locked(out_dir.parent / name)
        if held is None:  # a run at work on it, or no lock to be had: left as it is
            continue
        try:
            _remove_tree(out_dir.parent / name)
        finally:
            os.close(held)


def _remove_tree(path: Path) -> None:
    """``shutil.rmtree``, through read-only folders of the user's own (a replaced output folder
    that was made read-only stayed behind, hidden, and blocked the next replacement)."""
    def writable_then_again(function, name, _):
        try:
            os.chmod(os.path.dirname(name), 0o700)
            function(name)
        except OSError:
            pass

    if sys.version_info >= (3, 12):  # onerror is deprecated there
        shutil.rmtree(path, onexc=writable_then_again)
    else:
        shutil.rmtree(path, onerror=writable_then_again)


def is_stdout(path: Optional[str]) -> bool:
    """``path`` is ``-``, or another name of this process's standard output: a link to it such
    as ``/dev/stdout`` or ``/proc/self/fd/1`` (written as ``-`` is, whatever stdout is: a
    file opened for appending, a pipe, a terminal)."""
    return path == "-" or bool(path) and sys.stdout is not None and names_descriptor(path, 1)


@contextmanager
def output_file(path: str, others_written: bool = False) -> Iterator[BinaryIO]:
    """A binary file to write ``path`` through: an :class:`AtomicFile`, or standard output for
    ``-`` (what was printed before comes first).

    ``others_written``: the run also writes files, which must not be lost because the reader of
    stdout stopped early (``--report - | head``): the rest of stdout is then dropped, with a
    note on stderr, and the run goes on. Otherwise a broken pipe ends the run."""
    if not is_stdout(path):
        with AtomicFile(path, binary=True) as file:
            yield file
        return
    if sys.stdout is None:
        raise OutputError("standard output is closed: give -o FILE")
    sys.stdout.flush()
    try:
        stream = _Descriptor(sys.stdout.fileno())
    except (AttributeError, OSError, ValueError):  # a stream put in its place (a test's): written as it is
        stream = getattr(sys.stdout, "buffer", None) or _TextSink(sys.stdout)
    counted = stream
    if others_written:
        stream = _UnlessReaderGone(stream)
    try:
        yield stream
        stream.flush()
    except BaseException as stopped:  # a stop, an error: what already went out is said with it
        stopped.stdout_bytes = getattr(counted, "written", 0)
        raise


class _Descriptor:
    """Standard output written through its descriptor, in pieces of 8 KiB, every byte: a short
    write is followed by the rest, and a descriptor left non-blocking by the process before
    (a pipe shared with another program) is waited on until it takes more. Python's own
    stream lost the rest of a short write under PYTHONUNBUFFERED=1 (2,000 documents written,
    10 lines read), and without it ended the run with "write could not complete without
    blocking". ``written`` counts the bytes that went out."""

    PIECE = io.DEFAULT_BUFFER_SIZE  # (as Python's own stream writes)

    def __init__(self, fd: int):
        os.fstat(fd)  # (a closed descriptor is refused here, not at the first write)
        self.fd = fd
        self.pending: list[bytes] = []
        self.size = 0
        self.written = 0

    def write(self, data: bytes) -> int:
        self.pending.append(data)
        self.size += len(data)
        if self.size >= self.PIECE:
            self.flush()
        return len(data)

    def flush(self) -> None:
        if not self.pending:
            return
        data = memoryview(b"".join(self.pending))
        self.pending, self.size = [], 0
        while data:
            try:
                sent = os.write(self.fd, data)
            except BlockingIOError:
                select.select([], [self.fd], [])
                continue
            except InterruptedError:
                continue
            data = data[sent:]
            self.written += sent


class JsonlWriter:
    """Writes JSON records one per line to a file (atomically) or to stdout (``-``).

    Each line is what ``json.dumps(record, ensure_ascii=False)`` gives, in UTF-8 (a lone
    surrogate as its ``\\uXXXX`` escape, as ``json.dumps`` writes it by default). A long string
    value (a document's text) is escaped by the compiled kernels, where they were built: the
    json module's encoder reads it character by character, which was a tenth of ``dedupe
    clean``'s time on a dump of 100k articles with the copy detectors alone.
    """

    LONG = 256  # characters from which a string value goes to the compiled escaper

    def __init__(self, path: str, others_written: bool = False):
        self.path = path
        self._output = output_file(path, others_written)
        self._file = None
        # json.dumps(..., ensure_ascii=False) builds an encoder per call; one serves every line
        self._encode = json.JSONEncoder(ensure_ascii=False).encode
        kernels = native.load()
        self._escape = None if kernels is None else kernels.json_string

    def __enter__(self):
        self._file = self._output.__enter__()
        return self

    def line(self, record: dict) -> bytes:
        """The record's line, newline included."""
        if self._escape is not None and any(type(v) is str and len(v) >= self.LONG for v in record.values()):
            try:
                return b"{" + b", ".join(map(self._item, record.items())) + b"}\n"
            except (UnicodeEncodeError, TypeError):  # a lone surrogate, a key that is not text:
                pass  # the json module says what it says of them
        # a lone surrogate (a "\ud800" escape in the input: valid JSON, not valid Unicode) is
        # written back as that escape, which reads back as the same string; UTF-8 has no bytes
        # for it (and the only characters UTF-8 cannot encode are those surrogates)
        return (self._encode(record) + "\n").encode("utf-8", "backslashreplace")

    def _item(self, item: tuple) -> bytes:
        key, value = item
        if type(key) is not str:
            raise TypeError("json writes the key as text")
        if type(value) is str and len(value) >= self.LONG:
            return f"{self._encode(key)}: ".encode("utf-8") + self.string(value)
        return f"{self._encode(key)}: {self._encode(value)}".encode("utf-8")

    def string(self, value: str) -> bytes:
        """The JSON string of ``value``, as :meth:`line` writes it."""
        if self._escape is not None and len(value) >= self.LONG:
            try:
                return self._escape(value.encode("utf-8"))
            except UnicodeEncodeError:  # a lone surrogate: written as its escape, below
                pass
        return encode_basestring(value).encode("utf-8", "backslashreplace")

    def write(self, record: dict) -> None:
        self._file.write(self.line(record))

    def write_spliced(self, line: str, span: Optional[tuple[int, int]] = None, value: Optional[str] = None) -> None:
        """A JSON line as it was read (:attr:`dedupe.reading.Document.line`), and with the JSON
        string of ``value`` in place of what lies at ``span`` (see
        :func:`dedupe.reading.value_span`): the rest of the line as it came, byte for byte."""
        if span is None:
            self._file.write(line.encode("utf-8") + b"\n")
            return
        a, b = span
        self._file.write(line[:a].encode("utf-8") + self.string(value) + line[b:].encode("utf-8") + b"\n")

    def write_lines(self, lines: str) -> None:
        """Lines already made, as :meth:`line` makes them (see :func:`dedupe.report.report_lines`)."""
        self._file.write(lines.encode("utf-8", "backslashreplace"))

    def __exit__(self, exc_type, exc, tb):
        return self._output.__exit__(exc_type, exc, tb)


class _UnlessReaderGone:
    """Standard output that drops what is written once its reader has gone (a broken pipe)."""

    def __init__(self, stream):
        self.stream = stream
        self.gone = False

    def write(self, data: bytes) -> int:
        self._call(self.stream.write, data)
        return len(data)

    def flush(self) -> None:
        self._call(self.stream.flush)

    def _call(self, method, *args) -> None:
        if self.gone:
            return
        try:
            method(*args)
        except BrokenPipeError:
            self.gone = True
            # what is still buffered, and whatever else prints, goes nowhere (not an error at exit)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
            print("dedupe: the reader of standard output stopped reading; the rest of it is dropped, "
                  "the files are still written", file=sys.stderr)


class _TextSink:
    """A text stream without a byte buffer (one a test put in place of stdout), written bytes."""

    def __init__(self, stream):
        self.stream = stream

    def write(self, data: bytes) -> None:
        self.stream.write(data.decode("utf-8"))

    def flush(self) -> None:
        self.stream.flush()
