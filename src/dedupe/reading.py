"""Reading documents: a directory of ``.txt`` files, a JSON lines file (``.jsonl``, ``.json``,
``.ndjson`` or no suffix, such as Spark's ``part-00000``; gzipped or not, told by its first bytes),
stdin, or JSON lines from a pipe given by its path.

Every reader yields :class:`Document` objects in a deterministic order and never guesses: bytes
that are not UTF-8, a line that is not a JSON object, or an object without a string text field is
a :class:`Rejected` record naming the file and line. With ``on_error="fail"`` (the default) the
first one raises :class:`~dedupe.errors.InputError`; with ``on_error="skip"`` it is handed to the
``rejects`` callback (which writes it untouched to a rejects file and counts it) and reading goes
on.

Example
-------
>>> import json, tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "dump.jsonl"
>>> _ = path.write_text(json.dumps({"id": "a", "text": "Hello", "url": "u"}) + "\\n")
>>> [(d.id, d.text, d.record["url"]) for d in read_documents(str(path))]
[('a', 'Hello', 'u')]
>>> import shutil; shutil.rmtree(path.parent)
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
import sys
from dataclasses import dataclass, field
from functools import partial
from itertools import islice
from json.decoder import scanstring
from pathlib import Path
from typing import Callable, Iterable, Iterator, Optional
from urllib.parse import urlsplit

from .compression import DAMAGED, is_gzip_file, is_gzip_name, open_gzip
from .errors import InputError


@dataclass
class Document:
    """One input document. ``record`` is the parsed JSON object for JSONL input, ``None`` for
    text files; ``line`` is that object's line as it was read, so that the cleaned document is
    written back with every other field exactly as it came (see :func:`value_span`)."""

    id: str
    text: str
    record: Optional[dict] = None
    location: str = ""
    source: Optional[str] = None  # the site it came from, when known: templates are counted per source
    line: Optional[str] = field(default=None, repr=False, compare=False)


@dataclass
class Rejected:
    """An input unit that could not be read: where, why, and its raw bytes (kept untouched)."""

    location: str
    error: str
    raw: bytes = field(default=b"", repr=False)


RejectHandler = Callable[[Rejected], None]


@dataclass
class ReadOptions:
    text_field: str = "text"
    id_field: str = "id"
    on_error: str = "fail"  # "fail" | "skip"
    source_field: Optional[str] = None  # default: the host of a "url" field, when there is one


_DEFAULT_OPTIONS = ReadOptions()


def chunked(items: Iterable, size: int, first: Optional[int] = None) -> Iterator[list]:
    """Lists of ``size`` consecutive items (the last one shorter; the first one ``first`` long
    when given), read lazily.

    >>> list(chunked(range(7), 3, first=1))
    [[0], [1, 2, 3], [4, 5, 6]]
    """
    iterator = iter(items)
    take = size if first is None else first
    while True:
        chunk = list(islice(iterator, take))
        if not chunk:
            return
        yield chunk
        take = size


def input_kind(path: str) -> str:
    """``"stdin"``, ``"dir"``, ``"jsonl"`` or ``"stream"``: JSON lines from a path that can be
    read only once, a pipe (``<(zcat dump.jsonl.gz)``) or ``/dev/stdin``; raises InputError
    for anything else."""
    if path == "-":
        return "stdin"
    if not path:  # Path("") is the current folder
        raise InputError("the input path is empty: give a folder of .txt files, a .jsonl file, or - for stdin")
    p = Path(path)
    if p.is_dir():
        return "dir"
    if p.is_file() and (is_jsonl_name(p.name) or not Path(p.name[:-3] if is_gzip_name(p.name) else p.name).suffix):
        return "jsonl"
    if not p.exists():
        closed = _closed_descriptor(path)
        if closed == 0:
            raise InputError(f"standard input is closed: nothing to read from {path}")
        if closed is not None:
            raise InputError(f"{path} names descriptor {closed}, which this process does not have open")
        raise InputError(f"no such file or directory: {path}")
    if _is_stream(path):
        return "stream"
    raise InputError(
        f"cannot read {path}: give a directory of .txt files, a JSON lines file (.jsonl, .json, .ndjson or no "
        f"suffix; gzipped or not), or - for JSONL on stdin"
    )


def is_jsonl_name(name: str) -> bool:
    """A file name that says JSON lines: ``.jsonl``, ``.json`` or ``.ndjson``, gzipped or not,
    in any case."""
    name = name.lower()
    return (name[:-3] if is_gzip_name(name) else name).endswith((".jsonl", ".json", ".ndjson"))


def _closed_descriptor(path: str) -> Optional[int]:
    """The descriptor that ``path`` names through links (``/dev/stdin``, ``/dev/fd/3``) when
    this process does not have it open: such a link then dangles, and "no such file" would
    send the user looking for a file."""
    match = re.fullmatch(r"/proc/(?:self|\d+)/fd/(\d+)", os.path.realpath(path))
    return int(match.group(1)) if match else None


def _is_stream(path: str) -> bool:
    """A pipe, socket or terminal, or a link to this process's standard input."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or stat.S_ISCHR(mode) or names_descriptor(path, 0)


def names_descriptor(path: str, fd: int) -> bool:
    """``path`` is a link to this process's descriptor ``fd``: ``/dev/stdin`` or
    ``/proc/self/fd/0`` for 0, ``/dev/stdout`` for 1 (whatever the descriptor is open on)."""
    try:
        return os.path.islink(path) and os.path.samestat(os.stat(path), os.fstat(fd))
    except (OSError, ValueError):
        return False


def read_documents(path: str, options: ReadOptions | None = None,
                   rejects: RejectHandler | None = None) -> Iterator[Document]:
    """Documents from ``path`` (see the module docstring)."""
    options = options or ReadOptions()
    kind = input_kind(path)
    handle = _reject_handler(options, rejects)
    if kind == "dir":
        yield from _read_text_dir(Path(path), handle)
    elif kind == "stdin":
        yield from _read_jsonl_lines(standard_input(), "<stdin>", options, handle)
    else:  # a file, or a stream read once
        yield from _read_jsonl_file(Path(path), options, handle)


def read_jsonl_stream(stream, name: str, options: ReadOptions | None = None,
                      rejects: RejectHandler | None = None) -> Iterator[Document]:
    """Documents from an open binary ``stream`` of JSON lines (a spooled copy of stdin),
    read from where it stands; ``name`` stands for it in messages."""
    options = options or ReadOptions()
    yield from _read_jsonl_lines(stream, name, options, _reject_handler(options, rejects))


def standard_input():
    """Standard input's bytes, or an InputError when the process was started without it (<&-)."""
    if sys.stdin is None:
        raise InputError("standard input is closed: nothing to read")
    return sys.stdin.buffer


def _reject_handler(options: ReadOptions, rejects: RejectHandler | None) -> RejectHandler:
    if options.on_error not in ("fail", "skip"):
        raise InputError(f"on_error must be 'fail' or 'skip', not {options.on_error!r}")

    def handle(rejected: Rejected) -> None:
        if options.on_error == "fail":
            hint = " (use --on-error skip to set such input aside and go on)"
            raise InputError(rejected.error + hint, rejected.location)
        if rejects is not None:
            rejects(rejected)

    return handle


def text_files(root: Path, unreadable: Optional[list[OSError]] = None) -> list[Path]:
    """``.txt`` files below ``root``, recursively, sorted by relative path; links to directories
    are not followed (no loops). Folders that cannot be listed are appended to ``unreadable``
    (os.walk would pass over them without a word)."""
    found = []
    for dirpath, filenames in walk(root, None if unreadable is None else unreadable.append):
        found.extend(Path(dirpath) / f for f in filenames if f.lower().endswith(".txt"))  # X.TXT too
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def walk(root: Path, onerror=None) -> Iterator[tuple[str, list[str]]]:
    """``(folder, names of its files)`` for ``root`` and every folder under it, as ``os.walk``
    gives them (links to folders are listed, not entered), without its recursion: a tree 1,000
    folders deep ended in a RecursionError traceback (Python 3.11's walk recurses)."""
    stack = [os.fspath(root)]
    while stack:
        top = stack.pop()
        try:
            with os.scandir(top) as listing:
                entries = list(listing)
        except OSError as exc:
            if onerror is not None:
                onerror(exc)
            continue
        files = []
        for entry in entries:
            try:
                is_dir = entry.is_dir()
            except OSError:
                is_dir = False
            if not is_dir:
                files.append(entry.name)
            elif not entry.is_symlink():
                stack.append(entry.path)
        yield top, files


def _read_text_dir(root: Path, handle: RejectHandler) -> Iterator[Document]:
    unreadable: list[OSError] = []
    paths = text_files(root, unreadable)
    if not paths and not unreadable:
        _check_no_other_files(root)
    for exc in unreadable:
        handle(Rejected(str(exc.filename), f"cannot read folder: {exc.strerror or exc}"))
    for path in paths:
        doc_id = path.relative_to(root).as_posix()
        try:
            if not stat.S_ISREG(path.stat().st_mode):  # reading a FIFO named x.txt waits forever
                handle(Rejected(str(path), "not a regular file (a pipe, socket or device): nothing to read"))
                continue
            raw = path.read_bytes()
        except OSError as exc:
            handle(Rejected(str(path), f"cannot read file: {exc.strerror or exc}"))
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            handle(Rejected(str(path), f"not valid UTF-8 (byte {exc.start}: {raw[exc.start:exc.start + 1]!r})"))
            continue
        yield Document(id=doc_id, text=text, location=str(path))


def _check_no_other_files(root: Path) -> None:
    """An InputError where a folder without one ``.txt`` file holds other files: most likely a
    folder of JSONL files, which would otherwise clean to nothing without a word. A folder
    with no file at all is an empty dump, cleaned to an empty one."""
    others = sorted(Path(dirpath, name).relative_to(root).as_posix()
                    for dirpath, filenames in walk(root) for name in filenames
                    if not name.startswith("."))  # .DS_Store and the like
    if not others:
        return
    jsonl = [name for name in others if is_jsonl_name(name)]
    shown = ", ".join((jsonl or others)[:3]) + (", ..." if len(jsonl or others) > 3 else "")
    hint = ("give a JSON lines file itself as the input (one file a run)" if jsonl
            else "a folder is read for its .txt files, one document each")
    raise InputError(f"no .txt files in this folder, but {len(others)} other file(s) ({shown}): {hint}", str(root))


# Bytes a JSON lines file is read by. Iterating a file's lines refills its buffer, 8 KB by
# default, with a system call each time: about one per line of a news dump (articles run to a
# few KB), 1.6 s of reading the 1.8 GB dump of 300k articles against 0.4 s a megabyte at a time.
READ_BUFFER = 1 << 20


def _read_jsonl_file(path: Path, options: ReadOptions, handle: RejectHandler) -> Iterator[Document]:
    gzipped = is_gzip_file(path) if path.is_file() else is_gzip_name(path.name)
    opener = open_gzip if gzipped else partial(open, buffering=READ_BUFFER)
    try:
        with opener(path, "rb") as stream:
            yield from _read_jsonl_lines(stream, str(path), options, handle)
    except DAMAGED as exc:
        raise InputError(f"compressed file is damaged or truncated ({exc})", str(path)) from None
    except BrokenPipeError:  # (writing rejects to stdout, whose reader went: not the file's fault)
        raise
    except OSError as exc:
        raise InputError(f"cannot read file: {exc.strerror or exc}", str(path)) from None


def _read_jsonl_lines(stream, name: str, options: ReadOptions, handle: RejectHandler) -> Iterator[Document]:
    for line_no, raw in enumerate(stream, start=1):
        location = f"{name}:{line_no}"
        body = raw.rstrip(b"\r\n")
        if line_no == 1 and body.startswith(b"\xef\xbb\xbf"):
            body = body[3:]
        if not body or body.isspace():  # a blank line (isspace: no copy of a long line)
            continue
        doc = _parse_record(body, raw, location, line_no, options, handle)
        if doc is not None:
            yield doc


# A .json file is often one JSON array of the records: the whole input, not one bad line to skip.
_ARRAY_HINT = ("a JSON array, not JSON lines: dedupe reads one JSON object per line "
               "(convert the file with: jq -c '.[]' FILE > FILE.jsonl)")


def _parse_record(body: bytes, raw: bytes, location: str, line_no: int, options: ReadOptions,
                  handle: RejectHandler) -> Document | None:
    try:
        line = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        if line_no == 1 and body.startswith(b"\x1f\x8b"):
            hint = ("gzip-compressed data, not JSON lines: give a .jsonl.gz file by its path (a pipe is read as "
                    "it comes), or decompress it on the way (zcat dump.jsonl.gz | dedupe clean -)")
            raise InputError(hint, location)  # not one bad line to skip: the whole input is unread
        handle(Rejected(location, f"not valid UTF-8 (byte {exc.start} of the line)", raw))
        return None
    try:
        record = parse_json(line)
    except UnreadableJSON as exc:
        if line_no == 1 and line.strip() == "[":
            raise InputError(_ARRAY_HINT, location) from None
        handle(Rejected(location, str(exc), raw))
        return None
    if line_no == 1 and isinstance(record, list) and record and all(isinstance(r, dict) for r in record):
        raise InputError(_ARRAY_HINT, location)
    if not isinstance(record, dict):
        handle(Rejected(location, f"expected a JSON object, got {type(record).__name__}", raw))
        return None
    if options.text_field not in record:
        handle(Rejected(location, f"no {options.text_field!r} field (choose the field with --text-field)", raw))
        return None
    text = record[options.text_field]
    if not isinstance(text, str):
        kind = "null" if text is None else type(text).__name__
        handle(Rejected(location, f"field {options.text_field!r} is {kind}, not a string", raw))
        return None
    doc_id = record.get(options.id_field)
    return Document(id=str(line_no) if doc_id is None else id_text(doc_id), text=text, record=record,
                    location=location, source=source_of(record, options), line=line)


def id_text(value) -> str:
    """A document id as text: a string as it is, any other JSON value as JSON writes it (not as
    Python prints it: ``True``, ``{'x': 1}``).

    >>> id_text("a-1"), id_text(7), id_text(True), id_text({"site": "x", "n": 1})
    ('a-1', '7', 'true', '{"site": "x", "n": 1}')
    """
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):  # not a JSON value (from the Python API)
        return str(value)


def source_of(record: dict, options: ReadOptions | None = None) -> Optional[str]:
    """The site a record came from: its ``options.source_field``, or else the host of its
    ``url`` (None when neither says)."""
    options = options or _DEFAULT_OPTIONS
    if options.source_field is not None:
        value = record.get(options.source_field)
        return None if value is None else str(value)
    url = record.get("url")
    if isinstance(url, str) and "://" in url:
        return url_host(url)
    return None


def url_host(url: str) -> Optional[str]:
    """The host of a URL (``https://www.bbc.co.uk/x`` -> ``www.bbc.co.uk``), or None: no host,
    or no URL at all (``http://[::1``, an IPv6 address left open, makes ``urlsplit`` raise).

    >>> url_host("https://www.bbc.co.uk/news"), url_host("http://[::1")
    ('www.bbc.co.uk', None)
    """
    try:
        return urlsplit(url).hostname
    except ValueError:
        return None


class UnreadableJSON(ValueError):
    """A text that :func:`parse_json` cannot turn into Python values; the message says why."""


def parse_json(text: str):
    """``json.loads(text)``, every way that fails raising :class:`UnreadableJSON`: malformed
    JSON, and valid JSON that Python cannot hold as written, which ``json.loads`` reports as
    other errors (or not at all):

    - arrays or objects nested deeper than the parser's recursion limit (``RecursionError``);
    - an integer of more digits than Python converts (4300 unless the interpreter is told
      otherwise: ``ValueError``);
    - a number beyond a 64-bit float (``1e400``): it would load as ``inf`` and be written back
      as ``Infinity``, which is not JSON.

    ``NaN`` and ``Infinity`` written as such are read (``json.loads`` reads them, and they are
    written back as they came).

    >>> parse_json('{"n": 1e400}')
    Traceback (most recent call last):
    ...
    dedupe.reading.UnreadableJSON: JSON holding a number beyond a 64-bit float (1e400): it would be written back as Infinity, which is not JSON
    """
    try:
        return _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        # ("Unterminated string starting at" ends in its own "at")
        raise UnreadableJSON(f"not valid JSON ({exc.msg.removesuffix(' at')} at column {exc.colno})") from None
    except RecursionError:
        raise UnreadableJSON("JSON nested deeper than Python's parser can follow") from None
    except UnreadableJSON:
        raise
    except ValueError:  # the only other one: an integer past sys.get_int_max_str_digits()
        raise UnreadableJSON(f"JSON holding an integer of more than {sys.get_int_max_str_digits()} "
                             "digits, more than Python converts") from None


def value_span(line: str, name: str) -> Optional[tuple[int, int]]:
    """Where the string value of member ``name`` of the JSON object ``line`` lies, as ``(start,
    end)`` offsets in ``line``, quotes included: the last such member where there are several,
    the one JSON reads. None where there is none, or it is not a string, or ``line`` is not one
    JSON object. The other members are read by the json module's scanner; that string is only
    measured (reading a news article's text again cost twice the writing of its line), so
    ``line`` must be JSON that parses, as :attr:`Document.line` is.

    >>> line = '{"id":7, "text" : "old \\\\"one\\\\"", "n":1E2}'
    >>> a, b = value_span(line, "text")
    >>> line[:a] + '"new"' + line[b:]
    '{"id":7, "text" : "new", "n":1E2}'
    """
    scan = _DECODER.scan_once
    try:
        at = _skip_space(line, 0)
        if not line.startswith("{", at):
            return None
        at = _skip_space(line, at + 1)
        found = None
        more = not line.startswith("}", at)
        while more:
            if not line.startswith('"', at):
                return None
            key, at = scanstring(line, at + 1)
            at = _skip_space(line, at)
            if not line.startswith(":", at):
                return None
            at = _skip_space(line, at + 1)
            if key == name and line.startswith('"', at):
                end = _string_end(line, at)
                found = (at, end)
            else:
                end = scan(line, at)[1]
                if key == name:  # not a string
                    found = None
            at = _skip_space(line, end)
            more = line.startswith(",", at)
            if more:
                at = _skip_space(line, at + 1)
            elif not line.startswith("}", at):
                return None
        return found if _skip_space(line, at + 1) == len(line) else None
    except (ValueError, StopIteration, RecursionError):  # (UnreadableJSON is a ValueError)
        return None


def _skip_space(line: str, at: int) -> int:
    """Past JSON's white space from ``at`` (most often none, or one space: no regex for them)."""
    if line.startswith(" ", at):
        at += 1
    return at if line[at:at + 1] not in _SPACES else _SPACE.match(line, at).end()


def _string_end(line: str, start: int) -> int:
    """Where the JSON string that opens at ``start`` ends: past the first quote after it that no
    backslash escapes (an odd number of backslashes before it)."""
    at = start + 1
    while True:
        at = line.index('"', at)  # (ValueError: never closed)
        escapes = at
        while line[escapes - 1] == "\\":
            escapes -= 1
        at += 1
        if (at - 1 - escapes) % 2 == 0:
            return at


_SPACE = re.compile(r"[ \t\n\r]*")  # JSON's white space
_SPACES = frozenset(" \t\n\r")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        shown = text if len(text) <= 24 else text[:20] + "..."
        raise UnreadableJSON(f"JSON holding a number beyond a 64-bit float ({shown}): it would be written back "
                             "as Infinity, which is not JSON")
    return value


# json.loads(text, parse_float=...) builds a decoder for every call, 3.5 us a line; one serves all
_DECODER = json.JSONDecoder(parse_float=_finite_float)
