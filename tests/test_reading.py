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


@pytest.mark.parametrize("line, span", [
    ('{"text": "a"}', (9, 12)),
    (' {"id":1,"text" :\t"a" } ', (18, 21)),  # any white space and separators
    ('{"meta": {"text": "b"}, "text": "a"}', (32, 35)),  # not a nested member of that name
    ('{"text": "b", "id": 1, "text": "a"}', (31, 34)),  # repeated: the last, which JSON reads
    ('{"text": "a\\\\", "id": "\\""}', (9, 14)), ('{"text": "a\\"\\\\\\""}', (9, 18)),  # escaped or not
    ('{"text": ["a"]}', None), ('{"id": "a"}', None), ('["a"]', None), ('{}', None),
    ('{"text": "a"} {}', None), ('{"text": "a",}', None), ('{"text": "a" "id": 1}', None),
])
def test_value_span_is_where_the_member_json_reads_lies(line, span):
    assert reading.value_span(line, "text") == span
    if span is not None:
        assert json.loads(line[span[0]:span[1]]) == json.loads(line)["text"]


def test_splicing_at_the_value_span_changes_that_value_alone():
    """For records written every which way, the line with another string at the span reads
    back as the record with that value."""
    import random

    rng = random.Random(5)
    for k in range(300):
        record = {f"k{j}": rng.choice([1.5, 10**30, None, "x\"\\", {"text": "inner"}, [1, "text"], "é🙂"])
                  for j in range(rng.randrange(4))}
        record["text"] = rng.choice(["plain", "quo\"te\nnew line\\", "\\\"", "\u2028 é 🙂", ""])
        for j in range(rng.randrange(3)):
            record[f"after{j}"] = rng.choice([True, "text", 2e-7, "\\"])
        line = json.dumps(record, ensure_ascii=rng.random() < 0.5,
                          separators=rng.choice([(",", ":"), (", ", ": "), (" ,", " :  ")]), indent=None)
        a, b = reading.value_span(line, "text")
        assert json.loads(line[:a] + json.dumps("new") + line[b:]) == {**record, "text": "new"}, line


def test_a_folder_tree_deeper_than_pythons_recursion_limit_is_read_and_mirrored(tmp_path):
    """Python 3.11's os.walk recurses: a tree 1,000 folders deep ended in a RecursionError
    traceback. And the folder output resolved every path it wrote, each file costing more the
    deeper it lay."""
    import subprocess
    import sys

    from conftest import run_dedupe

    depth = sys.getrecursionlimit() + 50
    folder = tmp_path / "in"
    here, files = folder, []
    for level in range(depth):
        here = here / "d"
        here.mkdir(parents=True)
        if level % 100 == 0:
            (here / "a.txt").write_text(f"Story {level} of a very deep tree of folders, told once.\n", encoding="utf-8")
            files.append((here / "a.txt").relative_to(folder))
    result = run_dedupe("clean", folder, "-o", tmp_path / "out")
    assert result.returncode == 0, result.stderr.decode()[-500:]
    assert f"{len(files)} documents" in result.stderr.decode()
    try:
        for name in files:  # (pathlib's rglob recurses too)
            assert (tmp_path / "out" / name).read_text(encoding="utf-8") == (folder / name).read_text(encoding="utf-8")
    finally:  # (and so does shutil.rmtree, which clears pytest's folders later)
        subprocess.run(["rm", "-rf", str(folder), str(tmp_path / "out")], check=True)
