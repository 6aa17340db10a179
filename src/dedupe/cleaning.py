"""Cleaning files end to end: the job behind ``dedupe clean``.

:func:`clean_path` reads a directory of ``.txt`` files, a JSONL(.gz) file or stdin, runs a
:class:`~dedupe.pipeline.Cleaner` over it and writes, each atomically:

- the cleaned documents, mirroring the input (a folder of ``.txt`` files with the same relative
  names, or JSONL with the text field's value replaced and the rest of each line as it came,
  byte for byte; ``-`` is stdout);
- the per-block report (``report_path``);
- the rejected input lines, untouched (``rejects_path``, only with ``on_error="skip"``).
"""

from __future__ import annotations

import os
import shutil
import sys
from contextlib import ExitStack, nullcontext
from functools import partial
from pathlib import Path
from typing import Callable, Iterable, Iterator, Optional

from tqdm import tqdm

from .errors import InputError, OutputError
from .parallel import stops_held
from .pipeline import Cleaner, CleanedDocument
from .reading import (READ_BUFFER, Document, ReadOptions, Rejected, input_kind, read_documents, read_jsonl_stream,
                      standard_input, value_span)
from .report import Summary, report_lines
from .writing import JsonlWriter, TextDirWriter, check_outputs, is_stdout, output_file, temporary_file


def default_rejects_path(input_path: str, output_path: Optional[str]) -> str:
    base = output_path if not (output_path is None or is_stdout(output_path)) else (
        "stdin" if input_path == "-" else Path(input_path).name.split(".")[0])
    return f"{base.rstrip('/')}.rejects"


def clean_path(
    input_path: str,
    output_path: Optional[str],
    cleaner: Cleaner,
    *,
    report_path: Optional[str] = None,
    rejects_path: Optional[str] = None,
    read_options: ReadOptions | None = None,
    overwrite: bool = False,
    progress: bool = False,
    other_outputs: Optional[dict[str, str]] = None,
    on_cleaned: Optional[Callable[[CleanedDocument], None]] = None,
) -> Summary:
    """Clean ``input_path`` into ``output_path`` (``None``: write only the report).
    ``other_outputs``: what the caller writes from the results (the command line's HTML page),
    by what it is: checked with the rest before any work (see :func:`~dedupe.writing.check_outputs`).
    ``on_cleaned`` is called with each cleaned document, in order, once it is written."""
    read_options = read_options or ReadOptions()
    kind = input_kind(input_path)
    if read_options.on_error == "skip" and rejects_path is None:
        rejects_path = default_rejects_path(input_path, output_path)
    # the caller's own outputs first: one it makes from this run's (the report behind an HTML
    # page, beside it) fails where the page would, and the message names the page
    outputs = {**(other_outputs or {}), "the cleaned output (-o)": output_path, "the report (--report)": report_path,
               "the rejects file (--rejects)": rejects_path}
    check_outputs(input_path, outputs, folder="the cleaned output (-o)" if kind == "dir" else None, overwrite=overwrite)
    # stdout's reader may stop early (| head); the files are written all the same
    files = any(path is not None and not is_stdout(path) for path in outputs.values())

    summary = Summary(id_field=None if kind == "dir" else read_options.id_field)
    # The outputs are given their names together at the very end, once the worker processes
    # have stopped, with the stop signals held: a run stopped before then leaves none, and one
    # stopped while they are named leaves them all, and says so (see _named_together).
    with ExitStack() as outputs:
        with ExitStack() as stack:
            read = partial(read_documents, input_path, read_options)
            if kind in ("stdin", "stream") and cleaner.two_pass:
                read = _spool_stream(stack, input_path, read_options)  # the second pass reads it again
            rejects = _RejectsSink(outputs, rejects_path, summary, files)
            if cleaner.two_pass:
                stack.enter_context(cleaner.shared_workers())  # both passes on the same processes
                # read twice, the spool of stdin (ours alone) or a file that stays as it was gives the
                # second pass the first's very documents; a folder of files is checked text by text
                stays = _Unchanged(input_path) if kind == "jsonl" else None
                same = kind in ("stdin", "stream") or stays is not None
                cleaner.fit(_progress(stack, read(rejects), progress, "indexing"), same_documents=same)
                second = read(None)  # rejects counted once
                cleaned_docs = cleaner.transform(second if stays is None else stays.checked(second),
                                                 same_documents=same)
            else:
                cleaned_docs = cleaner.clean(read(rejects))
            write = _document_sink(outputs, kind, output_path, read_options, files)
            report = outputs.enter_context(JsonlWriter(report_path, files)) if report_path else None
            for cleaned in _progress(stack, cleaned_docs, progress, "cleaning"):
                summary.add(cleaned)
                write(cleaned)
                if report is not None:
                    report.write_lines(report_lines(cleaned))
                if on_cleaned is not None:
                    on_cleaned(cleaned)
        named = [path for path in (output_path, report_path, summary.rejects_file)
                 if path is not None and path != "stdout" and not is_stdout(path)]
        summary.finish()  # (before: a stop in it would come after the outputs were named)
        _named_together(outputs, named)
    return summary


def _named_together(outputs: ExitStack, paths: list[str]) -> None:
    """Close ``outputs``, which gives each its name, with the stop signals held; a stop that
    came meanwhile is raised after, carrying ``written``: the ``paths``, now whole."""
    try:
        with stops_held():
            outputs.close()
    except BaseException as stop:
        if not isinstance(stop, Exception):  # KeyboardInterrupt, or what a signal handler raises
            stop.written = paths
        raise


def _progress(stack: ExitStack, items, enabled: bool, what: str):
    """tqdm on a terminal, nothing in pipes or under --quiet."""
    return stack.enter_context(tqdm(items, desc=what, unit=" docs", disable=not enabled, file=sys.stderr,
                                    dynamic_ncols=True, mininterval=0.5))


def _spool_stream(stack: ExitStack, input_path: str, options: ReadOptions) -> Callable[..., Iterator[Document]]:
    """Standard input (``-``) or a stream that can be read once (a pipe), copied to a temporary
    file without a name (none is left behind, even by a killed run); returns what reads its
    documents, from the start, each time it is called."""
    spool = stack.enter_context(temporary_file("dedupe-stdin-", READ_BUFFER))
    name = "<stdin>" if input_path == "-" else input_path
    try:
        with nullcontext(standard_input()) if input_path == "-" else open(input_path, "rb") as source:
            shutil.copyfileobj(source, spool, READ_BUFFER)
    except OSError as exc:
        if input_path == "-":
            raise
        raise InputError(f"cannot read: {exc.strerror or exc}", input_path) from None

    def read(rejects: Optional[_RejectsSink]) -> Iterator[Document]:
        spool.seek(0)  # when the pass starts reading: the passes read one after the other
        yield from read_jsonl_stream(spool, name, options, rejects)

    return read


class _Unchanged:
    """A file that must not change while it is read twice: its device, inode, size and times,
    taken before the first read, are those after the last."""

    def __init__(self, path: str):
        self.path = path
        self.stamp = self._stamp()

    def _stamp(self) -> Optional[tuple]:
        try:
            st = os.stat(self.path)
        except OSError:  # removed (or its folder) meanwhile
            return None
        return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns

    def checked(self, documents: Iterable[Document]) -> Iterator[Document]:
        """``documents``, and an InputError after the last where the file changed meanwhile;
        an error in reading a file that changed is said to be that (a file cut short while it
        was read reads as a broken JSON line, one removed as a missing file)."""
        try:
            yield from documents
        except InputError:
            if self._stamp() != self.stamp:
                raise self._changed() from None
            raise
        if self._stamp() != self.stamp:
            raise self._changed()

    def _changed(self) -> InputError:
        return InputError("the file changed or was removed while it was being cleaned, between or during its "
                          "two reads: clean a copy that stays as it is", self.path)


def _document_sink(stack: ExitStack, kind: str, output_path: Optional[str], options: ReadOptions, files: bool):
    if output_path is None:
        return lambda cleaned: None
    if kind == "dir" and not is_stdout(output_path):
        writer = stack.enter_context(TextDirWriter(output_path))
        return lambda cleaned: writer.write(cleaned.document.id, cleaned.text)
    jsonl = stack.enter_context(JsonlWriter(output_path, files))
    field = options.text_field

    def write(cleaned: CleanedDocument) -> None:
        doc = cleaned.document
        if doc.record is None:
            jsonl.write({"id": doc.id, field: cleaned.text})
            return
        if doc.line is not None:  # the line as it came, the cleaned text in place of the text
            if cleaned.text is doc.text:  # nothing stripped
                jsonl.write_spliced(doc.line)
                return
            span = value_span(doc.line, field)  # (the line the text was read from)
            if span is not None:
                jsonl.write_spliced(doc.line, span, cleaned.text)
                return
        jsonl.write({**doc.record, field: cleaned.text})

    return write


class _RejectsSink:
    """Counts rejected input and writes it untouched; the file appears only if something was
    rejected, and only once the run completes."""

    def __init__(self, stack: ExitStack, path: Optional[str], summary: Summary, files: bool = False):
        self.stack, self.path, self.summary, self.files = stack, path, summary, files
        self.file = None

    def __call__(self, rejected: Rejected) -> None:
        self.summary.rejected += 1
        print(f"skipped {rejected.location}: {rejected.error}", file=sys.stderr)
        if self.path is None:
            return
        if self.file is None:
            self.file = self.stack.enter_context(output_file(self.path, self.files))
            self.summary.rejects_file = "stdout" if is_stdout(self.path) else self.path
        # a file's path stands for it: its bytes as the system has them (a name that is not
        # UTF-8 comes in with surrogate escapes, which strict UTF-8 cannot write)
        raw = rejected.raw or os.fsencode(rejected.location + "\n")
        try:
            self.file.write(raw if raw.endswith(b"\n") else raw + b"\n")
        except BrokenPipeError:  # on stdout, whose reader went: as for any output there
            raise
        except OSError as exc:  # not the input's fault, as the reader would say it was
            raise OutputError(f"cannot write the rejects file {self.path}: {exc.strerror or exc}") from None
