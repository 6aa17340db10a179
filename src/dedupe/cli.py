"""The ``dedupe`` command line: a thin shell over :mod:`dedupe.cleaning` and friends."""

from __future__ import annotations

import errno
import json
import os
import signal
import sys
import tempfile
from contextlib import contextmanager, nullcontext, suppress
from enum import Enum
from pathlib import Path
from typing import Iterator, Optional

import typer

from . import __version__
from .config import CleanerConfig, parse_reasons
from .errors import DedupeError
from .pipeline import Cleaner
from .reading import ReadOptions
from .writing import is_stdout

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    help="Strip duplicated paragraphs, site boilerplate and off-topic copy from scraped news, "
         "and say what was removed and why.",
)


class CrossDoc(str, Enum):
    strip = "strip"
    flag = "flag"
    keep = "keep"


class OnError(str, Enum):
    fail = "fail"
    skip = "skip"


def _version(value: bool) -> None:
    if value:
        from . import native

        if native.load() is not None:
            kernels = "compiled kernels"
        elif native.available():
            kernels = "numpy only (compiled kernels built, turned off by DEDUPE_NATIVE=0)"
        else:
            kernels = "numpy only (no compiled kernels)"
        typer.echo(f"news-dedupe {__version__}, {kernels}")
        raise typer.Exit()


@app.callback()
def main(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                      help="Show the version, and whether the compiled kernels run, and exit.")) -> None:
    """news-dedupe: clean scraped news before it enters a pipeline."""


@app.command()
def clean(
    input: str = typer.Argument(..., metavar="INPUT", help="A folder of .txt files (one document each, searched recursively), "
                                          "a JSON lines file (.jsonl, .json, .ndjson or no suffix; gzipped or "
                                          "not), - for JSONL on stdin, or a pipe of JSONL such as "
                                          "<(zcat part-*.jsonl.gz)."),
    output: Optional[str] = typer.Option(None, "-o", "--output",
                                         help="Where the cleaned documents go: a folder for .txt input, a JSONL "
                                              "file for JSONL input, - for JSONL on stdout (the default for stdin)."),
    report: Optional[str] = typer.Option(None, "--report", help="Write one JSONL line per block: action, reason, "
                                                                "score and the kept copy of each duplicate."),
    html: Optional[str] = typer.Option(None, "--html", help="Also render the report as one self-contained HTML "
                                                            "page (see `dedupe view`); - for stdout."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Write only the report (and summary), no cleaned output."),
    cross_doc: CrossDoc = typer.Option(CrossDoc.strip, "--cross-doc",
                                       help="Copies of blocks from earlier documents: strip them, flag them in "
                                            "the report only, or keep them (ignore). Site templates are "
                                            "counted from these copies and follow --strip, not this "
                                            "option; keep leaves none to count."),
    strip: str = typer.Option("all", "--strip", help="Reasons that remove blocks (comma separated, of duplicate, "
                                                     "near-duplicate, template, boilerplate, off-topic, all); "
                                                     "other findings are only flagged in the report. E.g. "
                                                     "duplicate,near-duplicate."),
    detect: str = typer.Option("all", "--detect", help="Detectors that run at all (comma separated reasons, as "
                                                       "for --strip); e.g. duplicate,near-duplicate for a fast "
                                                       "dedup-only pass."),
    workers: int = typer.Option(0, "--workers", help="Processes that sketch and score documents "
                                                     "(0: one per available core). The output does not depend on it."),
    threshold: float = typer.Option(CleanerConfig.threshold, help="Similarity (Jaccard) from which a block is a "
                                                                  "near-duplicate of an earlier document's block."),
    doc_threshold: float = typer.Option(CleanerConfig.doc_threshold, help="The same inside one document."),
    shingle_size: int = typer.Option(CleanerConfig.shingle_size, help="Words per shingle."),
    num_perm: int = typer.Option(CleanerConfig.num_perm, help="MinHash permutations."),
    seed: int = typer.Option(CleanerConfig.seed, help="MinHash seed (same seed, same signatures)."),
    model: Optional[str] = typer.Option(None, help="Boilerplate model from `dedupe train` (default: the shipped one)."),
    template_min_docs: int = typer.Option(CleanerConfig.template_min_docs,
                                          help="A short block found in this many documents of one source is a "
                                               "site template, stripped everywhere."),
    text_field: str = typer.Option("text", help="JSONL field holding the document text."),
    source_field: Optional[str] = typer.Option(None, help="JSONL field naming the site of a document (default: "
                                                          "the host of its \"url\" field); templates are "
                                                          "counted per site."),
    id_field: Optional[str] = typer.Option(None, help="JSONL field holding the document id (default: id; the line "
                                                     "number when a document has none)."),
    on_error: OnError = typer.Option(OnError.fail, "--on-error",
                                     help="Bad input (malformed JSON, missing text, bad encoding): fail with the "
                                          "file and line, or skip it, setting it aside in the rejects file (a "
                                          "JSON line untouched; a .txt file by its path)."),
    rejects: Optional[str] = typer.Option(None, help="Rejects file for --on-error skip (default: "
                                                     "OUTPUT.rejects; with the output on stdout or "
                                                     "--dry-run, NAME.rejects in the current folder, NAME "
                                                     "being the input's name up to its first dot, or "
                                                     "stdin). The summary names it."),
    overwrite: bool = typer.Option(False, help="Replace an existing, non-empty output folder."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON (on stdout, or on stderr "
                                                       "when stdout carries the documents or is closed)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar and no summary line."),
) -> None:
    """Clean a dump: strip repeated, template, boilerplate and off-topic blocks, and say why.

    Example: dedupe clean seeds -o out/seeds --report out/report.jsonl
    """
    from .cleaning import clean_path
    from .parallel import tune_process

    def run():
        tune_process()
        config = CleanerConfig(threshold=threshold, doc_threshold=doc_threshold, shingle_size=shingle_size,
                               num_perm=num_perm, seed=seed, cross_doc=cross_doc.value,
                               template_min_docs=template_min_docs,
                               strip=parse_reasons(strip), detect=parse_reasons(detect))
        if not config.strip & config.detect:
            raise _usage(f"--strip {strip} names no reason that --detect {detect} looks for: nothing would be "
                         "stripped; add the reason to --detect")
        out = output
        if out is None and not dry_run:
            if input != "-":
                raise _usage("give -o/--output for the cleaned documents, or --dry-run to write only the report")
            out = "-"
        if rejects is not None and on_error.value != "skip":
            raise _usage("--rejects is where --on-error skip sets bad input aside: add --on-error skip, or leave "
                         "--rejects out to stop at the first bad line")
        if html is not None and is_stdout(report):
            raise _usage("--html renders the report from a file: give --report a file path, or leave it out")
        page = None
        if html is not None:
            from .html_report import FirstPass, render_report

            page = FirstPass()  # the page's first pass, made from the decisions as they are written
        with _report_for(html, report) as report_path:
            try:
                summary = clean_path(
                    input, None if dry_run else out, _cleaner(config, model, workers), report_path=report_path,
                    rejects_path=rejects, read_options=ReadOptions(text_field, id_field or "id", on_error.value, source_field),
                    overwrite=overwrite, progress=not quiet and sys.stderr.isatty(),
                    other_outputs=None if html is None else {"the HTML page (--html)": html},
                    on_cleaned=None if page is None else lambda cleaned: page.add_decisions(cleaned.decisions),
                )
            except (KeyboardInterrupt, _Stopped) as stopped:  # stopped as the outputs were named: all were
                stopped.written = [path for path in getattr(stopped, "written", ()) if path != report_path or report]
                stopped.page_missing = html is not None  # (and the page's hidden report is not said)
                raise
            # a stop from here on comes after the outputs were written whole: it says so
            set_aside = summary.rejects_file if summary.rejects_file != "stdout" else None
            finished = [path for path in (None if dry_run else out, report, set_aside)
                        if not (path is None or is_stdout(path))]
            rendered = page is None
            try:
                if page is not None:
                    # titled by the report, or by the input where the report is a hidden file
                    named = None if report else f"news-dedupe report \u2014 {'stdin' if input == '-' else Path(input).name}"
                    with nullcontext(report_path) if report else _nameless(report_path) as source:
                        render_report(source, html, title=named, first_pass=page)
                    rendered = True
                    finished += [] if is_stdout(html) else [html]
                if id_field is not None and summary.documents and not summary.identified and not quiet \
                        and summary.id_field is not None:
                    print(f"dedupe: warning: no document has a {id_field!r} field (--id-field): documents are "
                          "numbered by line", file=sys.stderr)
                if source_field is not None and summary.documents and not summary.sourced and not quiet:
                    print(f"dedupe: warning: no document has a {source_field!r} field (--source-field): templates "
                          "were counted as if every document came from one site", file=sys.stderr)
                stdout_busy = sys.stdout is None or any(map(is_stdout, (out, report, html, rejects)))
                if as_json:
                    print(json.dumps(summary.to_dict()), file=sys.stderr if stdout_busy else sys.stdout)
                elif not quiet:
                    print(summary.line(), file=sys.stderr)
            except (KeyboardInterrupt, _Stopped) as stopped:
                stopped.written, stopped.page_missing = finished, not rendered
                raise

    _guarded(run)


@app.command()
def view(
    report: str = typer.Argument(..., metavar="REPORT", help="A report written by `dedupe clean --report` (.jsonl or .jsonl.gz)."),
    output: str = typer.Option(..., "-o", "--output", help="The HTML page to write (- for stdout)."),
    max_documents: int = typer.Option(200, help="Documents shown in full: half of them those with the most "
                                                "stripped text, the rest a reproducible random sample; the "
                                                "documents holding the kept copies they point to come on top "
                                                "(as many again at most)."),
    sample_seed: int = typer.Option(0, help="Seed of the random sample."),
    title: Optional[str] = typer.Option(None, help="Page title."),
) -> None:
    """Render a report as one self-contained HTML page (no network needed to open it).

    Example: dedupe view out/report.jsonl -o out/report.html
    """
    from .html_report import render_report

    def run():
        shown = render_report(report, output, max_documents=max_documents, sample_seed=sample_seed, title=title)
        typer.echo(f"wrote {'the page' if output == '-' else output}: {shown['documents_shown']:,} of "
                   f"{shown['documents_total']:,} documents, "
                   f"{shown['bytes_written'] / 1e6:.2f} MB", err=True)

    _guarded(run)


@app.command("eval")
def eval_(
    labelled: str = typer.Argument(..., metavar="LABELLED", help="Labelled pages, one JSON object a line: "
                                             '{"id": ..., "url": ..., "paragraphs": [{"text": ..., "label": '
                                             '"content" | "boilerplate" | "duplicate"}, ...]} (README, "Quality").'),
    held_out: int = typer.Option(0, "--held-out", help="Hold out by site: split pages by host into this many "
                                                        "folds and score each with a boilerplate model trained on "
                                                        "the others (0: use the shipped model)."),
    strip: str = typer.Option("all", "--strip", help="Reasons that remove blocks (comma separated)."),
    model: Optional[str] = typer.Option(None, help="A boilerplate model from `dedupe train` (default: shipped; "
                                                   "not with --held-out)."),
    as_json: bool = typer.Option(False, "--json", help="Print the figures as JSON."),
) -> None:
    """Score the cleaner on labelled pages: word-weighted content precision, recall and F1.

    Example: dedupe eval shared/eval/aeb.dev.jsonl --held-out 5
    """
    from .evaluation import evaluate

    def run():
        if held_out < 0 or held_out == 1:
            raise _usage(f"--held-out must be 0 (the shipped model) or a whole number >= 2, not {held_out}")
        if model is not None and held_out:
            raise _usage("--held-out trains a model per fold, so --model would not be scored: give one or the other")
        config = CleanerConfig(strip=parse_reasons(strip))
        loaded = None
        if model is not None:
            from .boilerplate import BoilerplateClassifier

            loaded = BoilerplateClassifier.load(model)

        def make_cleaner(boilerplate=None):
            return Cleaner(config, boilerplate=boilerplate or loaded)

        figures = evaluate(labelled, make_cleaner, folds=held_out)
        figures["model"] = None if held_out else model or "shipped"
        if as_json:
            print(json.dumps(figures, indent=2))
            return
        print(_eval_table(figures))

    _guarded(run)


def _eval_table(figures: dict) -> str:
    model = figures.get("model") or "shipped"
    lines = [f"{figures['pages']} pages" + (f", held out by site in {figures['held_out_folds']} folds"
                                            if figures["held_out_folds"] else
                                            ", shipped model" if model == "shipped" else f", model {model}"), "",
             "| scored on | word precision | word recall | word F1 | strip precision | strip recall |",
             "|---|---|---|---|---|---|"]
    for key, name in (("all", "all labels"), ("without_caveat", "without headline/byline/caption blocks")):
        f = figures[key]
        lines.append(f"| {name} | {f['word_precision']:.3f} | {f['word_recall']:.3f} | **{f['word_f1']:.3f}** | "
                     f"{f['strip_precision']:.3f} | {f['strip_recall']:.3f} |")
    lines += ["", "| reason | blocks stripped | words stripped | share not content (words) |", "|---|---|---|---|"]
    for reason, r in figures["by_reason"].items():
        lines.append(f"| {reason} | {r['blocks']:,} | {r['words']:,} | {r['precision']:.3f} |")
    return "\n".join(lines)


@app.command()
def train(
    labelled: list[str] = typer.Argument(..., metavar="LABELLED...", help="Labelled pages to learn from (JSONL, as for `dedupe eval`)."),
    output: str = typer.Option(..., "-o", "--output", help="Where to write the model (a small JSON file; - for stdout)."),
    folds: int = typer.Option(5, help="Cross-validation folds, grouped by site (0 to skip); their figures are "
                                      "printed as JSON (on stderr when the model goes to stdout)."),
) -> None:
    """Fit the boilerplate classifier to your own sites' labelled pages.

    Example: dedupe train my-sites.jsonl -o my-model.json, then dedupe clean ... --model my-model.json
    """
    from .boilerplate import train_model

    def run():
        if folds < 0 or folds == 1:
            raise _usage(f"--folds must be 0 (no cross-validation) or a whole number >= 2, not {folds}")
        cv = train_model(labelled, output, cv_folds=folds)
        typer.echo(f"wrote {'the model' if output == '-' else output}", err=True)
        if cv:  # the figures leave stdout to a model written there
            typer.echo(json.dumps(cv, indent=2), err=is_stdout(output))

    _guarded(run)


def _cleaner(config: CleanerConfig, model: Optional[str], workers: int = 1) -> Cleaner:
    boilerplate = None
    if model is not None and "boilerplate" in config.detect:
        from .boilerplate import BoilerplateClassifier

        boilerplate = BoilerplateClassifier.load(model)
    if workers < 0:
        raise _usage(f"--workers must be 0 (one per available core) or a number of processes, got {workers}")
    if workers == 0:
        from .parallel import available_cores

        workers = available_cores()
    return Cleaner(config, boilerplate=boilerplate, workers=workers)


@contextmanager
def _report_for(html: Optional[str], report: Optional[str]) -> Iterator[Optional[str]]:
    """The report's path: ``report``, or, when only the HTML page was asked for, a hidden file
    of a name of its own beside the page (on the same disk: it is as large as the report),
    gone at the end. Nothing is created here: the outputs are checked first."""
    if html is None or report is not None:
        yield report
        return
    page = Path(html)
    if is_stdout(html):  # the page goes to stdout: the report waits in the temporary folder
        path = Path(tempfile.gettempdir()) / f"dedupe-{os.urandom(6).hex()}.report.jsonl"
    else:
        path = page.parent / f".{page.name}.{os.urandom(6).hex()}.report.jsonl"
    try:
        yield str(path)
    finally:
        with suppress(OSError):  # never made (an error before it), or made under a path that is not a folder
            path.unlink()


@contextmanager
def _nameless(path: str) -> Iterator[str]:
    """A path that reads the file at ``path`` once it has no name: it is opened and unlinked,
    and read through its open descriptor (``/proc/self/fd``), so that a run killed outright
    while it reads (rendering a big report takes a while) leaves nothing behind. Where there is
    no such path, ``path`` itself (which :func:`_report_for` removes at the end)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        by_descriptor = f"/proc/self/fd/{fd}"
        if not os.path.exists(by_descriptor):
            yield path
            return
        os.unlink(path)
        yield by_descriptor
    finally:
        os.close(fd)


def _usage(message: str) -> DedupeError:
    error = DedupeError(message)
    error.exit_code = 2
    return error


class _Stopped(BaseException):
    """SIGTERM or SIGHUP, raised where the command is, so that it unwinds as from Ctrl-C: the
    temporary files and the spool of stdin removed, the worker processes stopped."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _stop(signum, frame) -> None:
    raise _Stopped(signum)


def _what_was_written(stopped: BaseException) -> str:
    """What a stopped run leaves: nothing, or (stopped as its outputs were named, or while
    rendering the page of `clean --html`) the outputs it had finished, and what had gone to
    standard output."""
    written = getattr(stopped, "written", None)
    sent = getattr(stopped, "stdout_bytes", 0)
    on_stdout = f"standard output got {sent:,} bytes before the stop: it is incomplete" if sent else ""
    if not written:
        return on_stdout or "no output was written"
    said = f"{' and '.join(written)} {'was' if len(written) == 1 else 'were'} written whole"
    said = f"{said}; the HTML page was not" if getattr(stopped, "page_missing", False) else said
    return f"{said}; {on_stdout}" if on_stdout else said


class _BestEffort:
    """Standard error that a vanished reader (``2>&1 | head``) does not turn into an error: its
    messages then go nowhere and the run goes on. A broken pipe there used to read as stdout's
    reader gone, and the run stopped at its first message with every output lost, exit 0."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except OSError:
            self._lost()
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except OSError:
            self._lost()

    def _lost(self) -> None:
        with suppress(OSError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream.fileno())  # (what the interpreter writes at exit too)
            os.close(devnull)
        self._stream = open(os.devnull, "w")

    def __getattr__(self, name):  # isatty, fileno, encoding...: the stream's own
        return getattr(self._stream, name)


def _drop_standard_output() -> None:
    """Send what is left in stdout's buffer nowhere, so that exiting does not fail on it again."""
    if sys.stdout is None:
        return
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
    except OSError:  # no descriptor left (the error may be that): stdout is closed instead
        os.close(sys.stdout.fileno())
        return
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _guarded(run) -> None:
    """Run a command, turning user errors into a one-line message and an exit code, and
    SIGINT, SIGTERM and SIGHUP into an orderly stop (exit 128 + the signal's number)."""
    # a signal the process was started ignoring stays ignored (nohup dedupe clean ...)
    previous = {signum: signal.signal(signum, _stop) for signum in (signal.SIGTERM, signal.SIGHUP)
                if signal.getsignal(signum) is not signal.SIG_IGN}
    if sys.stderr is None:  # started with 2>&-: messages go nowhere (print() would send them to stdout)
        sys.stderr = open(os.devnull, "w")
    stderr = sys.stderr
    sys.stderr = _BestEffort(stderr)
    try:
        run()
        if sys.stdout is not None:
            sys.stdout.flush()  # a full disk says so here, not in a message at exit
    except DedupeError as exc:
        typer.echo(f"dedupe: error: {exc}", err=True)
        raise typer.Exit(exc.exit_code)
    except KeyboardInterrupt as stopped:
        typer.echo(f"dedupe: interrupted; {_what_was_written(stopped)}", err=True)
        raise typer.Exit(130)
    except _Stopped as stopped:
        typer.echo(f"dedupe: stopped by {signal.Signals(stopped.signum).name}; {_what_was_written(stopped)}", err=True)
        raise typer.Exit(128 + stopped.signum)
    except BrokenPipeError:
        sys.stderr.close()
        raise typer.Exit(0)
    except MemoryError:  # (a worker's is a lost worker, said as such)
        typer.echo("dedupe: error: out of memory: free some, or run with fewer --workers", err=True)
        raise typer.Exit(1)
    except OSError as exc:  # what no step turned into an error of its own: a full disk under stdout,
        _drop_standard_output()  # the temporary folder; stdout's unwritten rest is dropped
        where = f"{exc.filename}: " if exc.filename else ""
        hint = "; raise the limit (ulimit -n) or run with fewer --workers" if exc.errno == errno.EMFILE else ""
        typer.echo(f"dedupe: error: {where}{exc.strerror or exc}{hint}", err=True)
        raise typer.Exit(3 if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG) else 1)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if isinstance(sys.stderr, _BestEffort):  # (a caller in this process gets its own stream back)
            sys.stderr = stderr
