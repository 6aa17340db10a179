"""Render a ``dedupe clean`` JSONL report as ONE self-contained HTML page.

The report has one JSON object per block, in input order, each document's blocks contiguous::

    {"doc_id": "a.txt", "block": 3, "text": "...", "action": "strip", "reason": "duplicate",
     "score": 1.0, "duplicate_of": {"doc_id": "b.txt", "block": 0}, "cluster": 17}

Reports can hold tens of millions of lines, so nothing holds the whole file: two streaming passes.

*Pass 1* (:class:`SummaryBuilder`, :class:`DocumentPicker`) computes the summary - blocks and
characters per reason, stripped share per source host, a score histogram per reason and the
largest "template" clusters - and picks the documents to show:

- ``k_top = (max_documents + 1) // 2`` documents with the most stripped characters (a min-heap of size
  ``k_top``; ties go to the earlier document);
- a reproducible uniform sample for the rest: every document ``i`` draws ``u_i ~ U(0, 1)`` from
  ``random.Random(sample_seed)`` in input order and the ``max_documents`` smallest keys are kept
  (a bounded max-heap, i.e. a keyed reservoir sample). After the pass the documents already in
  the top list are dropped from it and the first ``max_documents - |top|`` keys fill the page, so
  the sample is exactly uniform over the remaining documents and identical from run to run;
- documents holding the kept copies that shown duplicates point to (at most ``max_documents``),
  so every "copy of" link lands on the page. Only candidates still in a heap keep their link
  targets, so memory is O(max_documents x blocks per document), never O(report).

``dedupe clean --html`` makes pass 1 from its decisions as it writes the report
(:class:`FirstPass`), so only pass 2 reads the report.

*Pass 2* (:class:`_PageWriter`) renders only those documents, and parses only their lines (the
others are passed over by the id that begins each line); links are resolved once all shown
blocks are known, so a link to a later document works as well as one to an earlier document.

Everything from the report is escaped with :func:`html.escape`; the page carries its own CSS and
a few lines of JS (reason filters, search by document id) and loads nothing from the network.

Example::

    >>> import json, tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> rows = [dict(doc_id="a", block=0, text="Hello world", action="keep"),
    ...         dict(doc_id="b", block=0, text="Hello world", action="strip", reason="duplicate",
    ...              score=1.0, duplicate_of={"doc_id": "a", "block": 0})]
    >>> _ = (d / "r.jsonl").write_text("\\n".join(json.dumps(r) for r in rows))
    >>> info = render_report(d / "r.jsonl", d / "r.html")
    >>> info["documents_shown"], info["documents_total"], info["blocks_total"]
    (2, 2, 2)
    >>> 'href="#b-0-0"' in (d / "r.html").read_text()
    True
    >>> import shutil; shutil.rmtree(d)
"""

from __future__ import annotations

import heapq
import html
import itertools
import json
import math
import os
import random
from collections import Counter
from json.decoder import scanstring
from operator import itemgetter
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from .compression import DAMAGED, is_gzip_file, open_gzip
from .errors import ConfigError, InputError
from .reading import UnreadableJSON, parse_json, url_host
from .writing import check_outputs, output_file

__all__ = ["render_report", "Block", "read_blocks", "FirstPass", "SummaryBuilder", "DocumentPicker"]

# Colours of the reasons the cleaner emits; any other reason takes one of FALLBACK_COLOURS.
REASON_COLOURS = {
    "duplicate": "#d62728",
    "near-duplicate": "#ff7f0e",
    "template": "#9467bd",
    "boilerplate": "#6c757d",
    "off-topic": "#1f77b4",
}
FALLBACK_COLOURS = ("#8c564b", "#e377c2", "#17becf", "#bcbd22", "#2ca02c")
UNSPECIFIED = "unspecified"  # a stripped block whose report line has "reason": null

SCORE_BINS = 20  # histogram bins over [0, 1]
TEXT_CHARS = 200  # characters of a block shown on its one line; keeps the page small
TEMPLATE_CHARS = 300  # characters kept per template cluster for the "frequent templates" list
TOP_TEMPLATES = 10
TOP_SOURCES = 25
MAX_BLOCKS_PER_DOC = 400  # beyond this only blocks that a shown link points to are rendered
_FLUSH_SCORES = 65536  # scores buffered per reason before numpy bins them


class Block:
    """One report line, validated. ``dup`` is ``(doc_id, block)`` of the kept copy or None."""

    __slots__ = ("doc_id", "block", "text", "action", "reason", "score", "dup", "cluster", "source")

    def __init__(self, doc_id, block, text, action, reason, score, dup, cluster, source):
        self.doc_id, self.block, self.text, self.action = doc_id, block, text, action
        self.reason, self.score, self.dup, self.cluster = reason, score, dup, cluster
        self.source = source

    @property
    def stripped(self) -> bool:
        return self.action == "strip"

    @property
    def label(self) -> str | None:
        """Reason to colour by: the reason, UNSPECIFIED for a bare strip, None for a plain keep."""
        if self.reason is not None:
            return self.reason
        return UNSPECIFIED if self.stripped else None


def _parse_block(obj: object, where: str) -> Block:
    if not isinstance(obj, dict):
        raise InputError("each report line must be a JSON object", where)
    doc_id, block, text, action = obj.get("doc_id"), obj.get("block"), obj.get("text"), obj.get("action")
    if not isinstance(doc_id, str):
        raise InputError('"doc_id" must be a string; is this a `dedupe clean --report` file?', where)
    if not isinstance(block, int) or isinstance(block, bool):
        raise InputError('"block" must be an integer block index', where)
    if not isinstance(text, str):
        raise InputError('"text" must be a string', where)
    if action not in ("keep", "strip"):
        raise InputError(f'"action" must be "keep" or "strip", not {action!r}', where)
    reason = obj.get("reason")
    if reason is not None and not isinstance(reason, str):
        reason = str(reason)
    score = obj.get("score")
    if isinstance(score, bool) or not isinstance(score, (int, float)) or not _finite(score):
        score = None  # a missing or non-numeric score is simply not plotted
    dup = obj.get("duplicate_of")
    if isinstance(dup, dict) and isinstance(dup.get("doc_id"), str) and isinstance(dup.get("block"), int):
        dup = (dup["doc_id"], dup["block"])
    else:
        dup = None
    cluster = obj.get("cluster")
    if isinstance(cluster, bool) or not isinstance(cluster, (int, str)):
        cluster = None
    source = obj.get("source")
    source = _host(source) if isinstance(source, str) and source else None
    return Block(doc_id, block, text, action, reason, score, dup, cluster, source)


def _finite(number) -> bool:
    try:
        return math.isfinite(number)
    except OverflowError:  # an integer beyond any float
        return False


def _host(source: str) -> str:
    """A URL's host (``https://www.bbc.co.uk/x`` -> ``www.bbc.co.uk``); any other string as is."""
    if "://" in source:
        return url_host(source) or source
    return source


def read_blocks(path: str | os.PathLike) -> Iterator[Block]:
    """Stream a JSONL report (optionally ``.gz``) as :class:`Block` objects, one line at a time.

    Blank lines are skipped; a line that is not a valid report entry raises :class:`InputError`
    naming ``path:line``.
    """
    path = Path(path)
    return (_parse_line(path, lineno, line) for lineno, line in _report_lines(path))


def _report_lines(path: Path) -> Iterator[tuple[int, str]]:
    """``(line number, line)`` of the report's lines that are not blank."""
    opener = open_gzip if is_gzip_file(path) else open
    try:
        fh = opener(path, "rt", encoding="utf-8")
    except FileNotFoundError:
        raise InputError("report file not found; pass the file written by `dedupe clean --report`",
                         str(path)) from None
    except OSError as exc:
        raise InputError(f"cannot open the report: {exc.strerror or exc}", str(path)) from None
    with fh:
        lineno = 0
        try:
            for lineno, line in enumerate(fh, 1):
                if not line.isspace():  # (no copy of the line, as strip() made)
                    yield lineno, line
        except UnicodeDecodeError:
            raise InputError("the report is not UTF-8 text", f"{path}:{lineno + 1}") from None
        except (OSError, *DAMAGED) as exc:  # a truncated or damaged .gz file
            raise InputError(f"cannot read the report: {exc}", f"{path}:{lineno + 1}") from None


def _parse_line(path: Path, lineno: int, line: str) -> Block:
    try:
        obj = parse_json(line)
    except UnreadableJSON as exc:
        raise InputError(f"{exc}; the report must be JSON Lines", f"{path}:{lineno}") from None
    return _parse_block(obj, f"{path}:{lineno}")


_LEADING_ID = '{"doc_id": "'  # how the lines `dedupe clean` writes begin


def _leading_id(line: str) -> str | None:
    """The ``doc_id`` of a line that begins as `dedupe clean` writes them, read without parsing
    the rest of the line; None for any other line."""
    if not line.startswith(_LEADING_ID):
        return None
    try:
        return scanstring(line, len(_LEADING_ID))[0]
    except ValueError:  # not JSON: parsing the line says what is wrong
        return None


def _documents(blocks: Iterable[Block]) -> Iterator[tuple[int, str, Iterator[Block]]]:
    """Group the stream into ``(doc_index, doc_id, blocks)``; blocks are consumed lazily."""
    for idx, (doc_id, group) in enumerate(itertools.groupby(blocks, key=lambda b: b.doc_id)):
        yield idx, doc_id, group


def _skimmed_documents(path: Path) -> Iterator[tuple[int, str, Iterator[Block]]]:
    """:func:`_documents` of the report, each line parsed only when its block is taken: the
    second pass shows a few hundred documents of a report that may hold millions, and parsing
    every line was half of its time. Grouped by :func:`_leading_id`, so only for a report whose
    every such id is the line's ``doc_id`` (which the first pass checks: a hand-made line may
    name it twice, and JSON's value is the last)."""
    lines = ((_leading_id(line), lineno, line) for lineno, line in _report_lines(path))
    keyed = ((doc_id if doc_id is not None else _parse_line(path, lineno, line).doc_id, lineno, line)
             for doc_id, lineno, line in lines)
    for idx, (doc_id, group) in enumerate(itertools.groupby(keyed, key=itemgetter(0))):
        yield idx, doc_id, (_parse_line(path, lineno, line) for _, lineno, line in group)


# --------------------------------------------------------------------------------------------
# Pass 1
# --------------------------------------------------------------------------------------------


class SummaryBuilder:
    """Streaming totals for the summary: O(#reasons x #sources + #template clusters) memory.

    Per reason r: ``blocks[r]``/``chars[r]`` count stripped blocks, ``flagged[r]`` blocks kept but
    flagged. ``hist[r]`` counts scores in SCORE_BINS equal bins over [0, 1] (clipped into range).
    """

    def __init__(self) -> None:
        self.documents = 0
        self.blocks_total = 0
        self.chars_total = 0
        self.blocks = Counter()
        self.chars = Counter()
        self.flagged = Counter()
        self.sources: dict[str, list] = {}  # host -> [blocks, chars, Counter(reason -> chars)]
        self.templates: dict[object, list] = {}  # cluster -> [count, first text]
        self.hist: dict[str, np.ndarray] = {}
        self._pending: dict[str, list[float]] = {}
        self.edges = np.linspace(0.0, 1.0, SCORE_BINS + 1)

    def add(self, b: Block) -> None:
        n = len(b.text)
        self.blocks_total += 1
        self.chars_total += n
        label = b.label
        if label is not None:
            if b.stripped:
                self.blocks[label] += 1
                self.chars[label] += n
            else:
                self.flagged[label] += 1
            if b.score is not None:
                buf = self._pending.setdefault(label, [])
                buf.append(b.score)
                if len(buf) >= _FLUSH_SCORES:
                    self._flush(label)
            if label == "template" and b.stripped:
                key = b.cluster if b.cluster is not None else ("text", b.text[:TEMPLATE_CHARS])
                entry = self.templates.get(key)
                if entry is None:
                    self.templates[key] = [1, b.text[:TEMPLATE_CHARS]]
                else:
                    entry[0] += 1
        if b.source is not None:
            entry = self.sources.get(b.source)
            if entry is None:
                entry = self.sources[b.source] = [0, 0, Counter()]
            entry[0] += 1
            entry[1] += n
            if b.stripped:
                entry[2][label] += n

    def _flush(self, label: str) -> None:
        scores = np.clip(np.asarray(self._pending.pop(label), dtype=np.float64), 0.0, 1.0)
        counts, _ = np.histogram(scores, bins=self.edges)
        self.hist[label] = self.hist.get(label, 0) + counts

    def finish(self) -> "SummaryBuilder":
        for label in list(self._pending):
            self._flush(label)
        return self

    def reasons(self) -> list[str]:
        """Reasons seen, known ones in their usual order, then the rest by stripped blocks."""
        seen = set(self.blocks) | set(self.flagged)
        known = [r for r in REASON_COLOURS if r in seen]
        rest = sorted(seen - set(known), key=lambda r: (-self.blocks[r], r))
        return known + rest

    @property
    def blocks_stripped(self) -> int:
        return sum(self.blocks.values())

    @property
    def chars_stripped(self) -> int:
        return sum(self.chars.values())


class _DocStats:
    __slots__ = ("idx", "doc_id", "blocks", "stripped_blocks", "stripped_chars", "targets", "source")

    def __init__(self, idx: int, doc_id: str):
        self.idx, self.doc_id = idx, doc_id
        self.blocks = self.stripped_blocks = self.stripped_chars = 0
        self.targets: list[tuple[str, int]] = []  # kept copies this document's blocks point to
        self.source: str | None = None


class DocumentPicker:
    """Bounded selection of the documents to show (see the module docstring for the maths).

    >>> p = DocumentPicker(max_documents=2, sample_seed=0)
    >>> for i, chars in enumerate([0, 50, 10, 0]):
    ...     s = _DocStats(i, f"d{i}"); s.stripped_chars = chars; p.offer(s)
    >>> sel = p.finish(); sel.top, len(sel.sample)
    ([1], 1)

    One document shown is the one stripped most (it was a random one):

    >>> p = DocumentPicker(max_documents=1, sample_seed=0)
    >>> for i, chars in enumerate([0, 50, 10, 0]):
    ...     s = _DocStats(i, f"d{i}"); s.stripped_chars = chars; p.offer(s)
    >>> sel = p.finish(); sel.top, sel.sample
    ([1], [])
    """

    def __init__(self, max_documents: int, sample_seed: int):
        self.max_documents = max_documents
        self.k_top = (max_documents + 1) // 2  # (one document: the one stripped most)
        self._rng = random.Random(sample_seed)
        self._top: list[tuple[int, int, int]] = []  # min-heap (stripped_chars, -idx, idx)
        self._sample: list[tuple[float, int]] = []  # max-heap (-u, idx)
        self._stats: dict[int, _DocStats] = {}  # only documents currently held by a heap
        self._in_top: set[int] = set()
        self._in_sample: set[int] = set()

    def offer(self, doc: _DocStats) -> None:
        u = self._rng.random()  # drawn for every document, so the sample depends on the seed only
        keep = False
        if self.k_top and doc.stripped_chars > 0:
            item = (doc.stripped_chars, -doc.idx, doc.idx)
            if len(self._top) < self.k_top:
                heapq.heappush(self._top, item)
                self._in_top.add(doc.idx)
                keep = True
            elif item > self._top[0]:
                self._evict(heapq.heapreplace(self._top, item)[2], self._in_top)
                self._in_top.add(doc.idx)
                keep = True
        if len(self._sample) < self.max_documents:
            heapq.heappush(self._sample, (-u, doc.idx))
            self._in_sample.add(doc.idx)
            keep = True
        elif -u > self._sample[0][0]:
            self._evict(heapq.heapreplace(self._sample, (-u, doc.idx))[1], self._in_sample)
            self._in_sample.add(doc.idx)
            keep = True
        if keep:
            self._stats[doc.idx] = doc

    def _evict(self, idx: int, members: set[int]) -> None:
        members.discard(idx)
        if idx not in self._in_top and idx not in self._in_sample:
            self._stats.pop(idx, None)

    def finish(self) -> "Selection":
        top = sorted(self._in_top)
        by_key = sorted(self._sample, reverse=True)  # smallest u first
        need = self.max_documents - len(top)
        sample = sorted([idx for _, idx in by_key if idx not in self._in_top][:need])
        chosen = {i: self._stats[i] for i in top + sample}
        # Documents holding kept copies: those the top documents point to first, then the sample's,
        # in order of mention, capped at max_documents so the page stays small.
        linked: dict[str, None] = {}
        capped = False
        shown_ids = {s.doc_id for s in chosen.values()}
        for i in top + sample:
            for doc_id, _ in chosen[i].targets:
                if doc_id in shown_ids or doc_id in linked:
                    continue
                if len(linked) < self.max_documents:
                    linked[doc_id] = None
                else:
                    capped = True
        return Selection(top, sample, chosen, list(linked), capped)


class Selection:
    """Which documents pass 2 renders: ``top`` and ``sample`` by index, ``linked`` by doc_id."""

    def __init__(self, top: list[int], sample: list[int], chosen: dict[int, _DocStats], linked: list[str],
                 capped: bool = False):
        self.top, self.sample, self.chosen, self.linked = top, sample, chosen, linked
        self.capped = capped  # True when more documents held kept copies than could be shown
        self.last = max(chosen, default=-1)
        self.linked_set = set(linked)
        self.top_set = set(top)  # asked of every document shown: the list made a long page quadratic
        self.targets = {t for s in chosen.values() for t in s.targets}


class FirstPass:
    """The first pass's findings, gathered block by block in the report's order: the summary,
    the documents to show, and whether the second pass may skim the report (see
    :func:`_skimmed_documents`). A document is a run of blocks with one ``doc_id``, as
    :func:`_documents` groups them.

    ``dedupe clean --html`` feeds it the decisions as it writes them (:meth:`add_decisions`),
    and the page is rendered without reading the report a first time (which took longer than
    writing it). Without it, :func:`render_report` reads the report to feed it.
    """

    def __init__(self, max_documents: int = 200, sample_seed: int = 0):
        self.max_documents, self.sample_seed = max_documents, sample_seed
        self.summary = SummaryBuilder()
        self.picker = DocumentPicker(max_documents, sample_seed)
        self.skimmable = True
        self._stats: _DocStats | None = None
        self._documents = 0

    def add(self, b: Block) -> None:
        stats = self._stats
        if stats is None or b.doc_id != stats.doc_id:
            self._close()
            stats = self._stats = _DocStats(self._documents, b.doc_id)
            self._documents += 1
        self.summary.add(b)
        stats.blocks += 1
        if stats.source is None:
            stats.source = b.source
        if b.stripped:
            stats.stripped_blocks += 1
            stats.stripped_chars += len(b.text)
        if b.dup is not None:
            stats.targets.append(b.dup)

    def add_decisions(self, decisions) -> None:
        """Adds the blocks of the report lines that :func:`dedupe.report.report_lines` writes for
        ``decisions`` (:class:`~dedupe.pipeline.BlockDecision`), read as :func:`read_blocks`
        would read them. Save for one case the readers never make: a string holding two
        surrogates in a row, which its line reads back as the one character they encode (the
        readers join such escapes on reading); its block keeps the two."""
        for d in decisions:
            self.add(_block_of_decision(d))

    def _close(self) -> None:
        if self._stats is not None:
            self.summary.documents += 1
            self.picker.offer(self._stats)
            self._stats = None

    def finish(self) -> tuple[SummaryBuilder, Selection]:
        self._close()
        return self.summary.finish(), self.picker.finish()


def _block_of_decision(d) -> Block:
    """:func:`_parse_block` of ``d.to_record()`` read back from its report line."""
    doc_id = d.doc_id
    if not (type(doc_id) is str and type(d.block) is int and type(d.text) is str and d.action in ("keep", "strip")):
        # not as the cleaner makes them: read back as the reader reads them (or refuses them)
        return _parse_block(json.loads(json.dumps(d.to_record())), f"block {d.block!r} of document {doc_id!r}")
    score = d.score
    if score is not None:
        score = round(float(score), 4)
        if not _finite(score):
            score = None
    of = d.duplicate_of
    dup = (of.doc_id, of.block) if of is not None and isinstance(of.doc_id, str) and isinstance(of.block, int) else None
    cluster = None if isinstance(d.cluster, bool) or not isinstance(d.cluster, (int, str)) else d.cluster
    reason = d.reason if d.reason is None or isinstance(d.reason, str) else str(d.reason)
    source = _host(d.source) if isinstance(d.source, str) and d.source else None
    return Block(doc_id, d.block, d.text, d.action, reason, score, dup, cluster, source)


def _pass1(report: Path, max_documents: int, sample_seed: int) -> FirstPass:
    first = FirstPass(max_documents, sample_seed)
    for lineno, line in _report_lines(report):
        block = _parse_line(report, lineno, line)
        if first.skimmable:
            leading = _leading_id(line)
            first.skimmable = leading is None or leading == block.doc_id
        first.add(block)
    return first


# --------------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------------

_e = html.escape


def _fmt(n: int) -> str:
    return f"{n:,}"


def _pct(part: float, whole: float) -> str:
    return f"{100.0 * part / whole:.1f}%" if whole else "0.0%"


class _Palette:
    """Reason -> CSS class (``r0``, ``r1``...) and colour; classes never depend on reason text."""

    def __init__(self, reasons: list[str]):
        self.cls: dict[str, str] = {}
        self.colour: dict[str, str] = {}
        fallback = itertools.cycle(FALLBACK_COLOURS)
        for i, r in enumerate(reasons):
            self.cls[r] = f"r{i}"
            self.colour[r] = REASON_COLOURS.get(r) or next(fallback)

    def css(self) -> str:
        rules = []
        for r, c in self.cls.items():
            col = self.colour[r]
            rules.append(f".{c}{{--c:{col}}}body.hide-{c} .b.{c}{{display:none}}")
        return "\n".join(rules)


_CSS = """
*{box-sizing:border-box}
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#222;background:#fafafa}
header,main{max-width:1200px;margin:0 auto;padding:12px 20px}
h1{font-size:22px;margin:8px 0}h2{font-size:17px;margin:18px 0 8px;border-bottom:1px solid #ddd}
.cards{display:flex;flex-wrap:wrap;gap:10px}.card{background:#fff;border:1px solid #ddd;border-radius:6px;padding:8px 14px}
.card b{display:block;font-size:20px}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(520px,1fr));gap:14px}
.panel{background:#fff;border:1px solid #ddd;border-radius:6px;padding:10px}
table{border-collapse:collapse;width:100%}td,th{padding:3px 6px;text-align:left;vertical-align:middle}
th{font-weight:600;border-bottom:1px solid #ddd}td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.sw{display:inline-block;width:10px;height:10px;border-radius:2px;background:var(--c,#999);margin-right:5px}
.bar{height:12px;background:#eee;border-radius:2px;min-width:120px;display:flex;overflow:hidden}
.bar>i{display:block;height:100%;background:var(--c,#999)}
.hist{display:flex;align-items:flex-end;height:44px;gap:1px;border-bottom:1px solid #999;min-width:200px}
.hist>i{flex:1;background:var(--c,#999);min-height:0}
.ax{display:flex;justify-content:space-between;font-size:11px;color:#777}
.tpl{font-family:ui-monospace,monospace;font-size:12px;white-space:pre-wrap;word-break:break-word}
.note{color:#555;background:#fff8e1;border:1px solid #f0d98c;border-radius:6px;padding:8px 12px}
.controls{position:sticky;top:0;z-index:5;background:#fafafa;border-bottom:1px solid #ddd;padding:8px 0;display:flex;flex-wrap:wrap;gap:8px;align-items:center}
.controls label{border:1px solid #ccc;border-radius:12px;padding:1px 9px;background:#fff;cursor:pointer;user-select:none}
.controls input[type=search]{padding:3px 8px;min-width:260px;border:1px solid #bbb;border-radius:4px}
.doc{background:#fff;border:1px solid #ddd;border-radius:6px;margin:12px 0;padding:6px 10px}
.doc h3{font-size:14px;margin:2px 0 6px;word-break:break-all}.doc h3 small{font-weight:400;color:#666}
.doc.hit{outline:3px solid #fbc02d}
.b{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:12px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis;padding:0 4px;border-left:4px solid transparent}
.b>i{font-style:normal;color:#999;display:inline-block;min-width:3.2em;text-align:right;margin-right:8px}
.b.s{border-left-color:var(--c);background:#f6f6f6;background:color-mix(in srgb,var(--c) 9%,#fff)}
.b.s del{color:var(--c);text-decoration:line-through}
.b.f{border-left-color:var(--c);text-decoration:underline dotted var(--c)}
.b:target{background:#fff59d;outline:2px solid #fbc02d}
.b a,.b .nl{float:right;position:relative;margin-left:10px;padding-left:4px;color:#1565c0;background:inherit}.b .nl{color:#999}
.gap{color:#999;font-style:italic;font-size:12px;padding-left:4px}
"""

# Filters toggle a hide-<class> class on <body>; the search box jumps through matching doc ids.
_JS = """
document.querySelectorAll('input[data-c]').forEach(function(cb){
  cb.addEventListener('change',function(){document.body.classList.toggle('hide-'+cb.dataset.c,!cb.checked);});
});
(function(){
  var box=document.getElementById('q'),out=document.getElementById('qn'),hits=[],at=-1;
  var docs=[].slice.call(document.querySelectorAll('section.doc'));
  function find(){
    var q=box.value.trim().toLowerCase();
    docs.forEach(function(d){d.classList.remove('hit');});
    hits=q?docs.filter(function(d){return d.dataset.doc.toLowerCase().indexOf(q)>=0;}):[];
    at=-1;out.textContent=q?hits.length+' match'+(hits.length==1?'':'es'):'';
    hits.forEach(function(d){d.classList.add('hit');});
  }
  function next(){if(!hits.length)return;at=(at+1)%hits.length;hits[at].scrollIntoView({block:'start'});
    out.textContent=(at+1)+' / '+hits.length;}
  box.addEventListener('input',function(){find();next();});
  box.addEventListener('keydown',function(ev){if(ev.key==='Enter'){ev.preventDefault();next();}});
})();
"""


def _summary_html(s: SummaryBuilder, pal: _Palette) -> str:
    out = []
    out.append('<div class="cards">')
    for label, value in (
        # a document without text has no block, so no line in the report: the summary of
        # `dedupe clean` counts it, the page (made from the report) cannot
        ("documents with text", _fmt(s.documents)),
        ("blocks", _fmt(s.blocks_total)),
        ("blocks stripped", f"{_fmt(s.blocks_stripped)} ({_pct(s.blocks_stripped, s.blocks_total)})"),
        # the blocks' own characters, from the report: the summary of `dedupe clean` counts the
        # documents' (their line breaks and blank lines too), so the two differ a little
        ("characters in blocks", _fmt(s.chars_total)),
        ("block characters stripped", f"{_fmt(s.chars_stripped)} ({_pct(s.chars_stripped, s.chars_total)})"),
        ("blocks flagged (kept)", _fmt(sum(s.flagged.values()))),
    ):
        out.append(f'<div class="card">{_e(label)}<b>{value}</b></div>')
    out.append("</div>")

    reasons = s.reasons()
    out.append('<div class="grid">')
    # Per reason: counts and the stripped share of all characters as a bar.
    out.append('<div class="panel"><h2>Stripped per reason</h2><table id="by-reason"><tr><th>reason</th>'
               '<th>blocks</th><th>characters</th><th>share of characters</th><th>flagged</th></tr>')
    max_chars = max(s.chars.values(), default=0) or 1
    for r in reasons:
        c = pal.cls[r]
        width = 100.0 * s.chars[r] / max_chars
        out.append(
            f'<tr class="{c}" data-reason="{_e(r)}"><td><span class="sw"></span>{_e(r)}</td>'
            f'<td class="n">{_fmt(s.blocks[r])}</td><td class="n">{_fmt(s.chars[r])}</td>'
            f'<td><div class="bar" title="{_pct(s.chars[r], s.chars_total)} of all characters">'
            f'<i style="width:{width:.1f}%"></i></div> {_pct(s.chars[r], s.chars_total)}</td>'
            f'<td class="n">{_fmt(s.flagged[r])}</td></tr>'
        )
    if not reasons:
        out.append('<tr><td colspan="5">nothing stripped or flagged</td></tr>')
    out.append("</table></div>")

    # Score distribution per reason: one small column chart each.
    out.append('<div class="panel"><h2>Score distribution per reason</h2><table>')
    for r in reasons:
        counts = s.hist.get(r)
        if counts is None or not counts.sum():
            continue
        peak = counts.max()
        cols = "".join(
            f'<i style="height:{100.0 * n / peak:.0f}%" title="{lo:.2f}-{lo + 1 / SCORE_BINS:.2f}: {_fmt(int(n))}"></i>'
            for lo, n in zip(s.edges[:-1], counts)
        )
        out.append(f'<tr class="{pal.cls[r]}"><td><span class="sw"></span>{_e(r)}<br><small>{_fmt(int(counts.sum()))} scored</small></td>'
                   f'<td><div class="hist">{cols}</div><div class="ax"><span>0</span><span>0.5</span><span>1</span></div></td></tr>')
    out.append("</table></div>")

    # Stripped share per source host, stacked by reason.
    if s.sources:
        ranked = sorted(s.sources.items(), key=lambda kv: (-kv[1][1], kv[0]))
        out.append('<div class="panel"><h2>Stripped share per source</h2><table id="by-source">'
                   '<tr><th>source</th><th>blocks</th><th>characters stripped, by reason</th></tr>')
        for host, (nb, nc, per) in ranked[:TOP_SOURCES]:
            stripped = sum(per.values())
            segs = "".join(
                f'<i class="{pal.cls[r]}" style="width:{100.0 * per[r] / nc:.2f}%" title="{_e(r)}: {_pct(per[r], nc)}"></i>'
                for r in reasons if per.get(r)
            ) if nc else ""
            out.append(f'<tr><td>{_e(host)}</td><td class="n">{_fmt(nb)}</td>'
                       f'<td><div class="bar">{segs}</div> {_pct(stripped, nc)}</td></tr>')
        if len(ranked) > TOP_SOURCES:
            out.append(f'<tr><td colspan="3"><small>{_fmt(len(ranked) - TOP_SOURCES)} smaller sources not listed</small></td></tr>')
        out.append("</table></div>")

    # Most frequent templates.
    if s.templates:
        top = heapq.nlargest(TOP_TEMPLATES, s.templates.items(), key=lambda kv: kv[1][0])
        peak = top[0][1][0]
        c = pal.cls.get("template", "")
        out.append('<div class="panel"><h2>Most frequent templates</h2><table id="templates">'
                   '<tr><th>blocks</th><th></th><th>text</th></tr>')
        for key, (count, text) in top:
            cl = "" if isinstance(key, tuple) else f" title=\"cluster {_e(str(key))}\""
            out.append(f'<tr class="{c}"{cl}><td class="n">{_fmt(count)}</td>'
                       f'<td><div class="bar" style="min-width:60px"><i style="width:{100.0 * count / peak:.0f}%"></i></div></td>'
                       f'<td class="tpl">{_e(text)}</td></tr>')
        if len(s.templates) > TOP_TEMPLATES:
            out.append(f'<tr><td colspan="3"><small>{_fmt(len(s.templates))} template clusters in all</small></td></tr>')
        out.append("</table></div>")
    out.append("</div>")
    return "\n".join(out)


class _Link:
    """A duplicate's link, resolved after pass 2 once every rendered block is known."""

    __slots__ = ("target", "same_doc")

    def __init__(self, target: tuple[str, int], same_doc: bool):
        self.target, self.same_doc = target, same_doc


class _PageWriter:
    """Pass 2: renders the selected documents into a list of HTML parts and links."""

    def __init__(self, sel: Selection, pal: _Palette):
        self.sel, self.pal = sel, pal
        self.parts: list[object] = []
        self.anchors: dict[tuple[str, int], str] = {}  # (doc_id, block) -> anchor id
        self.pending_linked = set(sel.linked)
        self.shown_linked: list[int] = []
        self.blocks_shown = 0

    def wanted(self, idx: int, doc_id: str) -> str | None:
        if idx in self.sel.chosen:
            return "most stripped" if idx in self.sel.top_set else "random sample"
        if doc_id in self.pending_linked:
            self.pending_linked.discard(doc_id)
            return "holds kept copies"
        return None

    def done(self, idx: int) -> bool:
        """True once nothing later in the file can be needed."""
        return not self.pending_linked and idx >= self.sel.last

    def document(self, idx: int, doc_id: str, why: str, blocks: Iterable[Block]) -> None:
        head = len(self.parts)
        self.parts.append(None)  # header filled in once the document's counts are known
        n = stripped = chars = hidden = 0
        source = None
        for b in blocks:
            n += 1
            source = source or b.source
            if b.stripped:
                stripped += 1
                chars += len(b.text)
            if n > MAX_BLOCKS_PER_DOC and (doc_id, b.block) not in self.sel.targets:
                hidden += 1
                continue
            if hidden:
                self.parts.append(f'<div class="gap">&hellip; {_fmt(hidden)} blocks not shown</div>')
                hidden = 0
            self._block(idx, b)
        if hidden:
            self.parts.append(f'<div class="gap">&hellip; {_fmt(hidden)} blocks not shown</div>')
        if idx not in self.sel.chosen:
            self.shown_linked.append(idx)
        src = f" &middot; {_e(source)}" if source else ""
        self.parts[head] = (
            f'<section class="doc" id="d-{idx}" data-doc="{_e(doc_id)}"><h3>{_e(doc_id)} <small>#{idx}{src} &middot; '
            f"{_fmt(n)} blocks &middot; {_fmt(stripped)} stripped ({_fmt(chars)} chars) &middot; {why}</small></h3>"
        )
        self.parts.append("</section>")

    def _block(self, idx: int, b: Block) -> None:
        anchor = f"b-{idx}-{b.block}"
        self.anchors.setdefault((b.doc_id, b.block), anchor)
        self.blocks_shown += 1
        text = b.text if len(b.text) <= TEXT_CHARS else b.text[:TEXT_CHARS] + "\u2026"
        label = b.label
        if label is None:
            self.parts.append(f'<div class="b k" id="{anchor}"><i>{b.block}</i>{_e(text)}</div>')
            return
        c = self.pal.cls[label]
        tip = label if b.score is None else f"{label} \u00b7 score {b.score:.2f}"
        if b.stripped:
            kind, body = "s", f"<del>{_e(text)}</del>"
        else:
            kind, body = "f", _e(text)
            tip = "flagged, kept: " + tip
        self.parts.append(f'<div class="b {kind} {c}" id="{anchor}" title="{_e(tip)}"><i>{b.block}</i>')
        if b.dup is not None:  # floats right, before the text, so the ellipsis never hides it
            self.parts.append(_Link(b.dup, b.dup[0] == b.doc_id))
        self.parts.append(f"{body}</div>")

    def resolve(self, part: object) -> str:
        if isinstance(part, str):
            return part
        doc_id, block = part.target
        where = f"block {block}" if part.same_doc else f"{_e(doc_id)} #{block}"
        anchor = self.anchors.get(part.target)
        if anchor is None:
            return f'<span class="nl" title="that block is not on this page">copy of {where} (not shown)</span>'
        # (the block it repeats: the kept copy, or a first occurrence that went for another reason)
        return f'<a href="#{anchor}" title="go to the block it repeats">&rarr; copy of {where}</a>'


def _validate(report_path, out_path, max_documents, sample_seed, title) -> Path:
    if isinstance(max_documents, bool) or not isinstance(max_documents, int) or max_documents < 1:
        raise ConfigError(f"max_documents must be a whole number >= 1, not {max_documents!r}")
    if isinstance(sample_seed, bool) or not isinstance(sample_seed, int):
        raise ConfigError(f"sample_seed must be an integer, not {sample_seed!r}")
    if title is not None and not isinstance(title, str):
        raise ConfigError("title must be a string")
    report = Path(report_path)
    if not report.is_file():
        if str(report_path) == "-":
            raise InputError("a report is read from a file, not from standard input: give the file written by "
                             "`dedupe clean --report`", "-")
        what = ("is a folder" if report.is_dir() else "not found" if not report.exists() else
                "is not a regular file (a pipe or a device: the page reads the report twice)")
        raise InputError(f"report file {what}; pass the file written by `dedupe clean --report`", str(report))
    # not the report, a folder, unwritable...; missing folders are made, as for every output
    check_outputs(str(report), {"the HTML page": str(out_path)})
    return report


def render_report(report_path, out_path, *, max_documents: int = 200, sample_seed: int = 0,
                  title: str | None = None, first_pass: FirstPass | None = None) -> dict:
    """Render the JSONL report at ``report_path`` to one self-contained HTML file at ``out_path``
    (``-``: standard output).

    Two streaming passes (see the module docstring); memory does not grow with the report.
    Returns ``{"documents_total", "documents_shown", "documents_top", "documents_sample",
    "documents_linked", "blocks_total", "blocks_shown", "bytes_written", "path"}``.
    """
    report = _validate(report_path, out_path, max_documents, sample_seed, title)
    if first_pass is None:
        first_pass = _pass1(report, max_documents, sample_seed)
    elif (first_pass.max_documents, first_pass.sample_seed) != (max_documents, sample_seed):
        raise ConfigError("the first pass was made for another max_documents or sample_seed")
    summary, sel = first_pass.finish()
    skimmable = first_pass.skimmable
    pal = _Palette(summary.reasons())

    writer = _PageWriter(sel, pal)
    for idx, doc_id, blocks in _skimmed_documents(report) if skimmable else _documents(read_blocks(report)):
        why = writer.wanted(idx, doc_id)
        if why is not None:
            writer.document(idx, doc_id, why, blocks)
        if writer.done(idx):
            break  # the rest of the file holds nothing to show; skip reading it

    n_shown = len(sel.chosen) + len(writer.shown_linked)
    title = title or f"news-dedupe report \u2014 {report.name}"
    left_out = summary.documents - n_shown
    shows = "This page shows " + (
        f"all {_fmt(n_shown)} documents with text: " if n_shown == summary.documents
        else f"{_fmt(n_shown)} of {_fmt(summary.documents)} documents with text: "
    ) + (
        f"{_fmt(len(sel.top))} with the most stripped characters, "
        f"{_fmt(len(sel.sample))} drawn at random (seed {sample_seed}) and "
        f"{_fmt(len(writer.shown_linked))} holding kept copies that shown duplicates point to."
    )
    if left_out:
        shows += (f" The other {_fmt(left_out)} documents count in the summary but are not shown;"
                  " re-render with a larger --max-documents or another --sample-seed to see others.")
    missing_links = len(sel.linked) - len(writer.shown_linked)
    if sel.capped:
        shows += " Documents holding kept copies were capped at --max-documents; some links say \u201cnot shown\u201d."
    elif missing_links:
        shows += f" {_fmt(missing_links)} linked documents were not found in the report."
    shows += (f" Blocks show their first {TEXT_CHARS} characters; documents longer than "
              f"{MAX_BLOCKS_PER_DOC} blocks show only their first {MAX_BLOCKS_PER_DOC} and any linked copies.")

    filters = ['<label><input type="checkbox" data-c="k" checked> kept</label>']
    for r in summary.reasons():
        c = pal.cls[r]
        n = summary.blocks[r] + summary.flagged[r]
        filters.append(f'<label class="{c}"><input type="checkbox" data-c="{c}" checked>'
                       f'<span class="sw"></span>{_e(r)} ({_fmt(n)})</label>')

    head = (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
        f"<title>{_e(title)}</title><style>{_CSS}{pal.css()}\nbody.hide-k .b.k{{display:none}}</style></head><body>"
        f"<header><h1>{_e(title)}</h1>{_summary_html(summary, pal)}"
        f'<h2>Documents</h2><p class="note" id="shows">{shows}</p></header><main>'
        f'<div class="controls">Show: {"".join(filters)}'
        '<input type="search" id="q" placeholder="find a document by id&hellip;" aria-label="find a document by id">'
        '<span id="qn"></span></div>'
    )
    tail = f"</main><script>{_JS}</script></body></html>\n"

    # Written whole or not at all (see AtomicFile), or to stdout for "-"; a lone surrogate (a
    # "\ud800" escape in the input JSON) has no UTF-8, and is shown as that escape.
    size = 0
    with output_file(str(out_path)) as fh:
        for chunk in itertools.chain([head], (writer.resolve(p) for p in writer.parts), [tail]):
            size += fh.write(chunk.encode("utf-8", "backslashreplace"))
    return {
        "documents_total": summary.documents,
        "documents_shown": n_shown,
        "documents_top": len(sel.top),
        "documents_sample": len(sel.sample),
        "documents_linked": len(writer.shown_linked),
        "blocks_total": summary.blocks_total,
        "blocks_shown": writer.blocks_shown,
        "bytes_written": size,
        "path": str(out_path),
    }
