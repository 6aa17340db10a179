"""Reading JSON lines: what the buffer a file is read through must not change."""

import json

import pytest

from dedupe import reading


@pytest.mark.parametrize("buffer", [64, 4096, 1 << 20])
def test_lines_longer_or_shorter_than_the_read_buffer_give_the_same_documents(tmp_path, monkeypatch, buffer):
    """A file is read a megabyte at a time (READ_BUFFER); lines longer than the buffer, CRLF
    line ends, blank lines and a last line without its newline read as json.loads reads them,
    numbered by their line."""
    records = [{"id": f"d{k}", "text": "word " * size + "é\n🙂"} for k, size in enumerate([1, 3000, 10, 20000, 0])]
    lines = [json.dumps(r, ensure_ascii=False) for r in records]
    path = tmp_path / "dump.jsonl"
    path.write_bytes(("\n".join(lines[:2]) + "\r\n\n" + "\n".join(lines[2:])).encode("utf-8"))
    monkeypatch.setattr(reading, "READ_BUFFER", buffer)
    docs = list(reading.read_documents(str(path)))
    assert [(d.id, d.text, d.record) for d in docs] == [(r["id"], r["text"], r) for r in records]
    assert [d.location.rsplit(":", 1)[1] for d in docs] == ["1", "2", "4", "5", "6"]
