"""The run's account of itself: the per-block JSONL report and the summary.

One report line per block, in input order::

    {"doc_id": "002.txt", "block": 126, "start": 23401, "end": 23696, "text": "...",
     "action": "strip", "reason": "duplicate", "score": 1.0,
     "duplicate_of": {"doc_id": "002.txt", "block": 120}, "cluster": 153}

``start``/``end`` are Python string offsets into the original document text (``text ==
original[start:end]``); ``reason`` is null for blocks kept without remark; ``cluster`` numbers
the group of copies a block belongs to (the index entry of the kept copy). When the document's
site is known (a ``url`` field, or ``--source-field``) a ``source`` field names it; the HTML page
breaks the figures down by it. :func:`report_lines` writes them.
"""

from __future__ import annotations

import json
import time
from array import array
from collections import Counter
from dataclasses import dataclass, field
from json.encoder import encode_basestring  # the escaper json.dumps(..., ensure_ascii=False) uses

import numpy as np

from .config import REASONS
from .pipeline import CleanedDocument


@dataclass
class Summary:
    """Counts accumulated over a run; ``line()`` for people, ``to_dict()`` for machines."""

    documents: int = 0
    blocks: int = 0
    stripped: Counter = field(default_factory=Counter)
    flagged: Counter = field(default_factory=Counter)
    chars_in: int = 0
    chars_removed: int = 0
    rejected: int = 0
    rejects_file: str | None = None  # where the rejected input was set aside
    # documents whose id an earlier document has: the report's doc_id and duplicate_of, and the
    # page, cannot tell them apart (counted from 8-byte hashes of the ids, not the ids)
    repeated_ids: int = 0
    sourced: int = 0  # documents whose site is known (templates are counted per site)
    id_field: str | None = None  # the field of JSON lines that holds the id, when there is one
    identified: int = 0  # documents that had it (the others are numbered by line)
    started: float = field(default_factory=time.perf_counter)
    elapsed: float = 0.0
    _id_hashes: array = field(default_factory=lambda: array("q"), repr=False)

    def add(self, cleaned: CleanedDocument) -> None:
        self.documents += 1
        self._id_hashes.append(hash(cleaned.document.id))
        self.sourced += cleaned.document.source is not None
        record = cleaned.document.record
        self.identified += self.id_field is not None and isinstance(record, dict) and self.id_field in record
        self.blocks += len(cleaned.decisions)
        self.chars_in += len(cleaned.document.text)
        self.chars_removed += len(cleaned.document.text) - len(cleaned.text)
        for d in cleaned.decisions:
            if d.action == "strip":
                self.stripped[d.reason] += 1
            elif d.reason is not None:
                self.flagged[d.reason] += 1

    def finish(self) -> "Summary":
        self.elapsed = time.perf_counter() - self.started
        hashes = np.frombuffer(self._id_hashes, np.int64)
        self.repeated_ids = len(hashes) - len(np.unique(hashes))
        self._id_hashes = array("q")
        return self

    @property
    def blocks_per_second(self) -> float:
        return self.blocks / self.elapsed if self.elapsed > 0 else 0.0

    def to_dict(self) -> dict:
        order = list(REASONS) + sorted(set(self.stripped) - set(REASONS))
        return {
            "documents": self.documents,
            "blocks": self.blocks,
            "blocks_stripped": sum(self.stripped.values()),
            "stripped_by_reason": {r: self.stripped[r] for r in order if self.stripped[r]},
            "flagged_by_reason": {r: self.flagged[r] for r in order if self.flagged[r]},
            "characters": self.chars_in,
            "characters_removed": self.chars_removed,
            "rejected": self.rejected,
            "rejects_file": self.rejects_file,
            "repeated_ids": self.repeated_ids,
            "seconds": round(self.elapsed, 3),
            "paragraphs_per_second": round(self.blocks_per_second, 1),
        }

    def line(self) -> str:
        d = self.to_dict()
        reasons = ", ".join(f"{k} {v:,}" for k, v in d["stripped_by_reason"].items())
        flagged = ", ".join(f"{k} {v:,}" for k, v in d["flagged_by_reason"].items())
        parts = [
            f"{d['documents']:,} documents, {d['blocks']:,} blocks: "
            f"{d['blocks_stripped']:,} stripped" + (f" ({reasons})" if reasons else ""),
        ]
        if flagged:
            parts.append(f"flagged {flagged}")
        parts.append(f"{d['characters_removed']:,} of {d['characters']:,} characters removed")
        if self.rejected:
            parts.append(f"{self.rejected:,} rejected" + (f" (set aside in {self.rejects_file})" if self.rejects_file else ""))
        if self.repeated_ids:
            some = "1 document repeats" if self.repeated_ids == 1 else f"{self.repeated_ids:,} documents repeat"
            parts.append(f"{some} an earlier one's id, which the report cannot tell apart (--id-field)")
        parts.append(f"{d['seconds']:.2f} s, {d['paragraphs_per_second']:,.0f} paragraphs/s")
        return "; ".join(parts)


_encode = json.JSONEncoder(ensure_ascii=False).encode


def _json(value) -> str:
    """``json.dumps(value, ensure_ascii=False)``, without the encoder's set-up (a microsecond
    a call) for the values a report holds."""
    kind = type(value)
    if kind is str:
        return encode_basestring(value)
    if kind is int:
        return int.__repr__(value)
    if value is None:
        return "null"
    if kind is float and value - value == 0:  # finite: json writes inf and nan otherwise
        return float.__repr__(value)
    return _encode(value)


_WORDS = {word: _json(word) for word in (None, "keep", "strip", *REASONS)}  # actions and reasons


def report_lines(cleaned: CleanedDocument) -> str:
    """The report's lines for a document's blocks, newlines included: for each decision, what
    ``json.dumps(decision.to_record(), ensure_ascii=False)`` gives, written out field by field.
    The report has a line per paragraph of the dump: encoding each record as a dict cost some
    16 microseconds a block, more than cleaning it; this, about 3 (half of it the escaping of
    the text).

    >>> from dedupe.pipeline import Cleaner
    >>> print(report_lines(Cleaner().clean_document("A story about the storm in the north.")), end="")
    {"doc_id": "0", "block": 0, "start": 0, "end": 37, "text": "A story about the storm in the north.", \
"action": "keep", "reason": null, "score": null, "duplicate_of": null, "cluster": 0}
    """
    lines = []
    doc_id = source = _UNSET
    for d in cleaned.decisions:
        if d.doc_id is not doc_id:  # a document's blocks share these: encoded once
            doc_id, id_json = d.doc_id, _json(d.doc_id)
        if d.source is not source:
            source = d.source
            source_json = "" if source is None else f', "source": {_json(source)}'
        score = "null" if d.score is None else _json(round(float(d.score), 4))
        of = d.duplicate_of
        of_json = "null" if of is None else f'{{"doc_id": {_json(of.doc_id)}, "block": {_json(of.block)}}}'
        lines.append(f'{{"doc_id": {id_json}, "block": {_json(d.block)}, "start": {_json(d.start)}, '
                     f'"end": {_json(d.end)}, "text": {_json(d.text)}, '
                     f'"action": {_WORDS.get(d.action) or _json(d.action)}, '
                     f'"reason": {_WORDS.get(d.reason) or _json(d.reason)}, "score": {score}, '
                     f'"duplicate_of": {of_json}, "cluster": {_json(d.cluster)}{source_json}}}\n')
    return "".join(lines)


_UNSET = object()

