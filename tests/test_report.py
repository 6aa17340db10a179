"""The per-block report: its lines are the decisions' records as the json module writes them."""

import json

import numpy as np

from dedupe.indexing import BlockRef
from dedupe.pipeline import BlockDecision, CleanedDocument, Cleaner
from dedupe.reading import Document, read_documents
from dedupe.report import report_lines
from dedupe.writing import JsonlWriter

from conftest import SEEDS


def _as_the_writer_writes(cleaned: CleanedDocument) -> bytes:
    writer = JsonlWriter("-")
    return b"".join(writer.line(decision.to_record()) for decision in cleaned.decisions)


def test_report_lines_of_the_seeds_are_the_records_json_writes():
    cleaned = list(Cleaner().clean(read_documents(str(SEEDS))))
    reasons = {d.reason for c in cleaned for d in c.decisions}
    assert {"duplicate", "near-duplicate", "boilerplate", "off-topic", None} <= reasons  # every kind of line
    assert any(d.duplicate_of is not None for c in cleaned for d in c.decisions)
    for document in cleaned:
        assert report_lines(document).encode("utf-8", "backslashreplace") == _as_the_writer_writes(document)


def test_report_lines_of_odd_values_are_the_records_json_writes():
    """Texts with what JSON escapes (quotes, backslashes, control characters) and what it does
    not (U+2028, astral characters), a lone surrogate, ids that are not text or need escaping,
    scores that are numpy numbers, long decimals or not finite, sources and none."""
    texts = ['say "hi" \\ there\n\t\x01\x1f', "\u2028 line separator 🙂 日本", "lone \ud800 surrogate", ""]
    scores = [np.float64(0.123456789), float("inf"), None, 1]
    refs = [BlockRef('doc "a"', 3), None, BlockRef(7, 0), None]
    decisions = []
    for doc_id, source in ((5, None), ('id "quoted" \\', "news.example"), ("é", "\u2028")):
        for k, (text, score, ref) in enumerate(zip(texts, scores, refs)):
            decisions.append(BlockDecision(doc_id, k, 10 * k, 10 * k + len(text), text,
                                           "strip" if ref else "keep", "duplicate" if ref else None,
                                           score, ref, None if ref is None else ("c12" if k % 2 else 12), source))
    document = CleanedDocument(Document(id="x", text=""), "", decisions)
    written = _as_the_writer_writes(document)
    assert report_lines(document).encode("utf-8", "backslashreplace") == written
    records = [json.loads(line) for line in written.decode().split("\n")[:-1]]
    assert records[1]["score"] == float("inf") and records[0]["score"] == 0.1235  # what it was made of
