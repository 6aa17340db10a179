"""`dedupe clean` end to end, through the installed console script, as the README runs it."""

import gzip
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, SEEDS, console_script, run_dedupe


def read_report(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_clean_seeds_writes_cleaned_files_report_and_summary(tmp_path):
    out, report = tmp_path / "seeds", tmp_path / "report.jsonl"
    result = run_dedupe("clean", "seeds", "-o", out, "--report", report)
    assert result.returncode == 0, result.stderr
    summary = result.stderr.decode()
    assert "5 documents" in summary and "stripped" in summary and "paragraphs/s" in summary
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in SEEDS.iterdir())
    records = read_report(report)
    originals = {p.name: p.read_text(encoding="utf-8") for p in SEEDS.iterdir()}
    for r in records:  # offsets slice the original text exactly
        assert originals[r["doc_id"]][r["start"]:r["end"]] == r["text"]
        assert set(r) == {"doc_id", "block", "start", "end", "text", "action", "reason", "score",
                          "duplicate_of", "cluster"}
        assert (r["reason"] is None) == (r["action"] == "keep" and r["reason"] is None)
        if r["action"] == "strip":
            assert r["reason"] and r["score"] is not None
    for name, original in originals.items():  # cleaned = original minus the stripped lines, nothing else
        expected = original
        for r in sorted((r for r in records if r["doc_id"] == name and r["action"] == "strip"),
                        key=lambda r: -r["start"]):
            end = r["end"] + (1 if original[r["end"]:r["end"] + 1] == "\n" else 0)
            expected = expected[:r["start"]] + expected[end:]
        assert (out / name).read_text(encoding="utf-8") == expected


def test_same_input_gives_byte_identical_output_and_report(tmp_path):
    for run in ("one", "two"):
        assert run_dedupe("clean", "seeds", "-o", tmp_path / run, "--report", tmp_path / f"{run}.jsonl").returncode == 0
    assert (tmp_path / "one.jsonl").read_bytes() == (tmp_path / "two.jsonl").read_bytes()
    for p in (tmp_path / "one").iterdir():
        assert p.read_bytes() == (tmp_path / "two" / p.name).read_bytes()


def test_cleaning_a_cleaned_output_strips_nothing_more(tmp_path):
    assert run_dedupe("clean", "seeds", "-o", tmp_path / "once", "-q").returncode == 0
    result = run_dedupe("clean", tmp_path / "once", "-o", tmp_path / "twice", "--report", tmp_path / "r.jsonl", "-q")
    assert result.returncode == 0, result.stderr
    assert [r for r in read_report(tmp_path / "r.jsonl") if r["action"] == "strip"] == []
    for p in (tmp_path / "once").iterdir():
        assert p.read_bytes() == (tmp_path / "twice" / p.name).read_bytes()


def test_jsonl_keeps_other_fields_and_uses_line_numbers_without_ids(tmp_path):
    dump = tmp_path / "dump.jsonl"
    text = (SEEDS / "004_e2b3fa343296aad9.txt").read_text(encoding="utf-8")
    dump.write_text(json.dumps({"url": "https://x.example/a", "body": text}) + "\n", encoding="utf-8")
    result = run_dedupe("clean", dump, "-o", tmp_path / "out.jsonl", "--text-field", "body",
                        "--report", tmp_path / "r.jsonl")
    assert result.returncode == 0, result.stderr
    record = json.loads((tmp_path / "out.jsonl").read_text(encoding="utf-8"))
    assert record["url"] == "https://x.example/a" and len(record["body"]) < len(text)
    assert {r["doc_id"] for r in read_report(tmp_path / "r.jsonl")} == {"1"}


def test_gzip_input_and_stdin_to_stdout(tmp_path):
    lines = [json.dumps({"id": p.name, "text": p.read_text(encoding="utf-8")}) for p in sorted(SEEDS.iterdir())]
    gz = tmp_path / "dump.jsonl.gz"
    with gzip.open(gz, "wt", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    assert run_dedupe("clean", gz, "-o", tmp_path / "out.jsonl.gz", "-q").returncode == 0
    from_gz = gzip.open(tmp_path / "out.jsonl.gz", "rt", encoding="utf-8").read()
    piped = run_dedupe("clean", "-", input=("\n".join(lines) + "\n").encode())
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout.decode() == from_gz
    assert b"\r" not in piped.stderr and b"it/s" not in piped.stderr  # no progress bar in a pipe
    assert len(piped.stdout.decode().splitlines()) == 5


def _damaged(data: bytes) -> bytes:
    """``data`` gzipped, with bytes flipped early in its deflate stream (an invalid block, not
    only a CRC that fails)."""
    packed = bytearray(gzip.compress(data))
    for k in range(100, 300):
        packed[k] ^= 0x55
    return bytes(packed)


def test_damaged_or_truncated_gzip_input_and_report_fail_clearly(tmp_path):
    """A corrupt deflate block in a .gz report made `dedupe view` end in a zlib.error traceback."""
    dump = "".join(json.dumps({"id": k, "text": f"Story {k} about the harbour and the storm that closed it."}) + "\n"
                   for k in range(3000)).encode()
    report = tmp_path / "report.jsonl"
    assert run_dedupe("clean", "-", "--report", report, "-q", input=dump).returncode == 0
    for name, data in (("input", dump), ("report", report.read_bytes())):
        packed = gzip.compress(data)
        for kind, broken in (("damaged", _damaged(data)), ("truncated", packed[: len(packed) // 2])):
            path = tmp_path / f"{kind}-{name}.jsonl.gz"
            path.write_bytes(broken)
            args = ("clean", path, "-o", tmp_path / "out.jsonl") if name == "input" else ("view", path, "-o", tmp_path / "page.html")
            result = run_dedupe(*args)
            error = result.stderr.decode()
            assert result.returncode == 2 and "Traceback" not in error and str(path) in error, error
            assert not (tmp_path / "out.jsonl").exists() and not (tmp_path / "page.html").exists()


def test_an_output_through_a_link_writes_where_the_link_points_and_keeps_the_link(tmp_path):
    """A link to stdout (/dev/stdout, /proc/self/fd/1) with stdout redirected to a file had the
    output renamed over the link: the link gone, nothing in the file, exit 0."""
    lines = [json.dumps({"id": p.name, "text": p.read_text(encoding="utf-8")}) for p in sorted(SEEDS.iterdir())]
    dump = tmp_path / "dump.jsonl"
    dump.write_text("\n".join(lines) + "\n", encoding="utf-8")
    expected = run_dedupe("clean", dump, "-o", "-", "-q").stdout
    link = tmp_path / "to-stdout"
    link.symlink_to("/proc/self/fd/1")
    for path in (link, "/proc/self/fd/1"):
        for mode, before in (("wb", b""), ("ab", b"an earlier line\n")):
            caught = tmp_path / "stdout.txt"
            caught.write_bytes(before)
            with open(caught, mode) as stdout:
                result = subprocess.run([console_script(), "clean", str(dump), "-o", str(path), "--json"],
                                        stdout=stdout, stderr=subprocess.PIPE, timeout=120)
            assert result.returncode == 0, result.stderr
            assert caught.read_bytes() == before + expected  # the summary went to stderr: stdout is taken
            assert json.loads(result.stderr)["documents"] == 5
            assert link.is_symlink() and os.readlink(link) == "/proc/self/fd/1"
    result = run_dedupe("clean", dump, "-o", link, "--report", "-")
    assert result.returncode == 3 and "both go to standard output" in result.stderr.decode()
    target, other = tmp_path / "target.jsonl", tmp_path / "other.jsonl"
    target.write_text("the previous output\n")
    other.symlink_to(target.name)
    assert run_dedupe("clean", dump, "-o", other, "-q").returncode == 0
    assert other.is_symlink() and target.read_bytes() == expected


def test_messages_that_say_what_to_change(tmp_path):
    """What an exploring run of the command line found said wrongly or not at all."""
    lines = "".join(json.dumps({"id": p.name, "text": p.read_text(encoding="utf-8")}) + "\n" for p in sorted(SEEDS.iterdir()))
    for skip in ((), ("--on-error", "skip")):  # gzip on stdin: one hint, not a reject per line
        result = run_dedupe("clean", "-", *skip, input=gzip.compress(lines.encode()), cwd=tmp_path)
        error = result.stderr.decode()
        assert result.returncode == 2 and "gzip-compressed" in error and "zcat" in error, error
        assert not list(tmp_path.iterdir())  # no rejects file
    dump = tmp_path / "dump.jsonl"
    dump.write_text('{"id": 1, "text": "unterminated\n', encoding="utf-8")
    error = run_dedupe("clean", dump, "--dry-run").stderr.decode()
    assert "Unterminated string starting at column" in error and "at at" not in error, error
    result = run_dedupe("clean", "seeds", "--dry-run", "--workers", "-1")
    assert result.returncode == 2 and "--workers must be 0 (one per available core)" in result.stderr.decode()
    result = run_dedupe("clean", "seeds", "--dry-run", "--threshold", "1")
    assert result.returncode == 2 and "0.99" in result.stderr.decode()
    for report, said in ((tmp_path, "is a folder"), ("-", "not from standard input"), (tmp_path / "none", "not found"),
                         ("/dev/null", "is not a regular file (a pipe or a device")):  # /dev/null was "not found"
        result = run_dedupe("view", report, "-o", tmp_path / "page.html")
        assert result.returncode == 2 and said in result.stderr.decode(), result.stderr
    if Path("/dev/full").exists():  # a full disk: which output could not be written
        dump.write_text(lines, encoding="utf-8")
        for args in (("-o", "/dev/full"), ("--dry-run", "--report", "/dev/full")):
            result = run_dedupe("clean", dump, *args)
            error = result.stderr.decode()
            assert result.returncode == 3 and "/dev/full" in error and "No space left" in error, error
    figures = json.loads(run_dedupe("eval", "tests/data/seeds.labelled.jsonl", "--held-out", "50", "--json").stdout)
    assert figures["held_out_folds"] == 5  # one per site, not the 50 asked for
    model = ROOT / "src" / "dedupe" / "models" / "boilerplate-v1.json"
    result = run_dedupe("eval", "tests/data/seeds.labelled.jsonl", "--held-out", "2", "--model", model)
    assert result.returncode == 2 and "give one or the other" in result.stderr.decode()  # --model went unused


def test_a_byte_order_mark_does_not_hide_an_exact_copy(tmp_path):
    """A .txt saved with a byte-order mark (Notepad) began with U+FEFF, and its first paragraph
    was only a near-duplicate (0.967) of the same paragraph elsewhere."""
    folder = tmp_path / "in"
    folder.mkdir()
    paragraph = "The council met on Monday to agree the budget for the coming year, and voted it through."
    (folder / "a.txt").write_bytes(b"\xef\xbb\xbf" + paragraph.encode() + b"\nA second paragraph about boats.\n")
    (folder / "b.txt").write_text("A story about the harbour.\n" + paragraph + "\n")
    result = run_dedupe("clean", folder, "-o", tmp_path / "out", "--report", tmp_path / "r.jsonl")
    assert result.returncode == 0, result.stderr
    copy = [r for r in read_report(tmp_path / "r.jsonl") if r["doc_id"] == "b.txt"][1]
    assert (copy["reason"], copy["score"], copy["duplicate_of"]) == ("duplicate", 1.0, {"doc_id": "a.txt", "block": 0})
    assert (tmp_path / "out" / "a.txt").read_bytes() == (folder / "a.txt").read_bytes()  # the mark stays


def test_a_folder_input_reads_txt_files_whatever_the_case_of_their_extension(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "LOUD.TXT").write_text("A paragraph about the storm that closed the northern road.\n")
    (folder / "quiet.txt").write_text("A paragraph about the council's budget for the coming year.\n")
    result = run_dedupe("clean", folder, "-o", tmp_path / "out", "--json")
    assert result.returncode == 0 and json.loads(result.stdout)["documents"] == 2, result.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["LOUD.TXT", "quiet.txt"]


def test_a_pipe_given_as_the_input_path_is_read_once_and_cleaned_like_a_file(tmp_path):
    """<(zcat dump.jsonl.gz) and /dev/stdin were refused ("cannot read /dev/fd/63: give a
    directory of .txt files, a .jsonl ...")."""
    lines = "".join(json.dumps({"id": p.name, "text": p.read_text(encoding="utf-8")}) + "\n" for p in sorted(SEEDS.iterdir()))
    dump = tmp_path / "dump.jsonl"
    dump.write_text(lines, encoding="utf-8")
    assert run_dedupe("clean", dump, "-o", tmp_path / "file.jsonl", "--report", tmp_path / "file.r").returncode == 0
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    process = subprocess.Popen([console_script(), "clean", str(fifo), "-o", str(tmp_path / "fifo.jsonl"),
                                "--report", str(tmp_path / "fifo.r")], stderr=subprocess.PIPE)
    while True:  # open it once the reader has (a run that refused the path would leave none)
        try:
            writer = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            break
        except OSError:
            assert process.poll() is None, process.stderr.read()
            subprocess.run(["sleep", "0.01"])
    os.set_blocking(writer, True)
    with open(writer, "wb") as stream:
        stream.write(lines.encode())
    assert process.wait(timeout=120) == 0, process.stderr.read()
    with open(dump, "rb") as stdin:
        result = subprocess.run([console_script(), "clean", "/dev/stdin", "-o", str(tmp_path / "stdin.jsonl"),
                                 "--report", str(tmp_path / "stdin.r")], stdin=stdin, capture_output=True, timeout=120)
    assert result.returncode == 0, result.stderr
    for way in ("fifo", "stdin"):
        for suffix in (".jsonl", ".r"):
            assert (tmp_path / f"{way}{suffix}").read_bytes() == (tmp_path / f"file{suffix}").read_bytes()


def test_outputs_through_links_to_folders_loops_and_file_modes(tmp_path):
    """A folder output through a link failed after all the work ("cannot replace link: Is a
    directory"), leaving a hidden folder each time; links that lead to each other ended in a
    RuntimeError traceback; a replaced output lost its mode (600 came back 644)."""
    real, link = tmp_path / "real", tmp_path / "link"
    real.mkdir()
    link.symlink_to(real.name)
    result = run_dedupe("clean", SEEDS, "-o", link, "-q")
    assert result.returncode == 0, result.stderr
    assert link.is_symlink() and sorted(p.name for p in real.iterdir()) == sorted(p.name for p in SEEDS.iterdir())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link", "real"]  # nothing left beside them
    (tmp_path / "a.jsonl").symlink_to("b.jsonl")
    (tmp_path / "b.jsonl").symlink_to("a.jsonl")
    dump = tmp_path / "dump.jsonl"
    dump.write_text(json.dumps({"id": 1, "text": "A story about the harbour and its boats."}) + "\n")
    for args in (("clean", dump, "-o", tmp_path / "a.jsonl"), ("clean", dump, "--dry-run", "--report", tmp_path / "a.jsonl")):
        result = run_dedupe(*args)
        assert result.returncode == 3 and "Symlink loop" in result.stderr.decode() and b"Traceback" not in result.stderr
    private = tmp_path / "private.jsonl"
    private.write_text("the previous output\n")
    private.chmod(0o600)
    assert run_dedupe("clean", dump, "-o", private, "-q").returncode == 0
    assert stat.S_IMODE(private.stat().st_mode) == 0o600 and private.read_text() != "the previous output\n"


def test_file_name_suffixes_are_read_in_any_case(tmp_path):
    """-o OUT.JSONL.GZ was written uncompressed, and an input named DUMP.JSONL.GZ or x.json.gz was
    refused, while --report r.gz was compressed."""
    lines = "".join(json.dumps({"id": p.name, "text": p.read_text(encoding="utf-8")}) + "\n" for p in sorted(SEEDS.iterdir()))
    expected = run_dedupe("clean", "-", "-q", input=lines.encode()).stdout
    for name in ("DUMP.JSONL.GZ", "dump.json.gz", "Dump.NDJSON.gz"):
        dump = tmp_path / name
        dump.write_bytes(gzip.compress(lines.encode()))
        result = run_dedupe("clean", dump, "-o", tmp_path / "OUT.JSONL.GZ", "-q")
        assert result.returncode == 0, (name, result.stderr)
        assert gzip.decompress((tmp_path / "OUT.JSONL.GZ").read_bytes()) == expected, name


def test_json_lines_without_a_suffix_or_misnamed_are_read_by_their_bytes(tmp_path):
    """Spark's part-00000 and part-00000.gz, and a dump.gz, were refused ("cannot read"); a
    compressed .jsonl was read as bytes that are not UTF-8, and a plain .jsonl.gz as a damaged
    gzip file. Gzip is now told by a file's first bytes, for dumps and for `dedupe view`'s
    report; other suffixes are still refused with what to give."""
    lines = "".join(json.dumps({"id": p.name, "text": p.read_text(encoding="utf-8")}) + "\n" for p in sorted(SEEDS.iterdir()))
    expected = run_dedupe("clean", "-", "-q", input=lines.encode()).stdout
    files = {"part-00000": lines.encode(), "part-00000.gz": gzip.compress(lines.encode()),
             "dump.gz": gzip.compress(lines.encode()), "compressed.jsonl": gzip.compress(lines.encode()),
             "plain.jsonl.gz": lines.encode()}
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
        result = run_dedupe("clean", tmp_path / name, "-o", tmp_path / "out.jsonl", "-q",
                            "--report", tmp_path / "report.bin")
        assert result.returncode == 0, (name, result.stderr)
        assert (tmp_path / "out.jsonl").read_bytes() == expected, name
    (tmp_path / "report.bin").write_bytes(gzip.compress((tmp_path / "report.bin").read_bytes()))
    assert run_dedupe("view", tmp_path / "report.bin", "-o", tmp_path / "page.html").returncode == 0
    assert "Rowling" in (tmp_path / "page.html").read_text(encoding="utf-8")
    (tmp_path / "dump.csv").write_bytes(lines.encode())
    result = run_dedupe("clean", tmp_path / "dump.csv", "-o", tmp_path / "out2.jsonl")
    assert result.returncode == 2 and "a JSON lines file (.jsonl, .json, .ndjson or no suffix" in result.stderr.decode()


def test_malformed_json_fails_with_file_and_line_and_writes_nothing(tmp_path):
    dump = tmp_path / "dump.jsonl"
    dump.write_text('{"id": 1, "text": "fine"}\n{"id": 2, "text": broken}\n', encoding="utf-8")
    result = run_dedupe("clean", dump, "-o", tmp_path / "out.jsonl", "--report", tmp_path / "r.jsonl")
    assert result.returncode == 2
    assert f"{dump}:2" in result.stderr.decode() and "Traceback" not in result.stderr.decode()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dump.jsonl"]  # no half-written output


def test_skip_sets_bad_lines_aside_untouched_and_counts_them(tmp_path):
    dump = tmp_path / "dump.jsonl"
    bad = [b'{"id": 2, "text": broken}', b'{"id": 3, "title": "no text"}', b'{"id": 4, "text": null}',
           b'{"id": 5, "text": "caf\xe9 latin-1"}', b"[1, 2]"]
    dump.write_bytes(b'{"id": 1, "text": "fine"}\n' + b"\n".join(bad) + b'\n{"id": 6, "text": ""}\n')
    result = run_dedupe("clean", dump, "-o", tmp_path / "out.jsonl", "--on-error", "skip", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["rejected"] == 5 and summary["documents"] == 2
    assert summary["rejects_file"] == str(tmp_path / "out.jsonl.rejects")  # where they went, said
    assert (tmp_path / "out.jsonl.rejects").read_bytes().splitlines() == bad
    for n in range(2, 7):
        if n != 6:
            assert f"{dump}:{n}" in result.stderr.decode()
    out = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [r["id"] for r in out] == [1, 6]  # the empty document passes through
    # --rejects - sets them aside on stdout (it wrote a file named "-"); the summary goes to stderr
    result = run_dedupe("clean", dump, "-o", tmp_path / "again.jsonl", "--on-error", "skip", "--rejects", "-", "--json",
                        cwd=tmp_path)
    assert result.returncode == 0 and result.stdout.splitlines() == bad, result.stderr
    assert json.loads(result.stderr.splitlines()[-1])["rejected"] == 5 and not (tmp_path / "-").exists()
    result = run_dedupe("clean", dump, "-o", tmp_path / "third.jsonl", "--rejects", tmp_path / "r")  # ignored before
    assert result.returncode == 2 and "add --on-error skip" in result.stderr.decode()


def test_ids_are_written_as_json_and_repeated_ids_are_counted(tmp_path):
    """Ids that were not strings came out as Python prints them ('True', "{'x': 1}"), and a
    dump whose documents share ids gave a report that mixes them up without a word."""
    dump = tmp_path / "dump.jsonl"
    records = [{"id": "a", "text": "One story about the harbour and its boats."},
               {"id": "a", "text": "Another story about the storm in the north."},
               {"text": "A third story, without an id: its line number stands in."},
               {"id": 2, "text": "A fourth, whose id is the number 2."},
               {"id": True, "text": "A fifth story about the council."},
               {"id": {"site": "x", "n": 1}, "text": "A sixth story about the school."}]
    dump.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    report = tmp_path / "r.jsonl"
    result = run_dedupe("clean", dump, "--dry-run", "--report", report, "--json")
    assert result.returncode == 0, result.stderr
    assert [r["doc_id"] for r in read_report(report)] == ["a", "a", "3", "2", "true", '{"site": "x", "n": 1}']
    assert json.loads(result.stdout)["repeated_ids"] == 1
    line = run_dedupe("clean", dump, "--dry-run").stderr.decode()
    assert "1 document repeats an earlier one's id" in line, line
    assert "repeats" not in run_dedupe("clean", "seeds", "--dry-run").stderr.decode()


def test_json_that_python_cannot_hold_is_a_clear_error_or_a_recorded_skip(tmp_path):
    """Valid JSON that json.loads does not load as written: nesting past the parser's recursion
    limit, an integer of more than 4300 digits, a number beyond a float (it would come back as
    Infinity, which is not JSON). Before, a RecursionError or ValueError traceback (or, for
    1e400, an output line that is not JSON)."""
    dump = tmp_path / "dump.jsonl"
    bad = [b'{"id": 2, "text": "x", "n": ' + b"[" * 5000 + b"]" * 5000 + b"}",
           b'{"id": 3, "text": "x", "n": ' + b"9" * 5000 + b"}",
           b'{"id": 4, "text": "x", "n": 1e400}']
    good = b'{"id": 1, "text": "The council met on Monday to agree the budget for the coming year.", "n": 1e300}'
    dump.write_bytes(good + b"\n" + b"\n".join(bad) + b"\n")
    result = run_dedupe("clean", dump, "-o", tmp_path / "out.jsonl")
    assert result.returncode == 2 and "Traceback" not in result.stderr.decode()
    assert f"{dump}:2: JSON nested deeper" in result.stderr.decode()
    assert not (tmp_path / "out.jsonl").exists()
    result = run_dedupe("clean", dump, "-o", tmp_path / "out.jsonl", "--on-error", "skip", "--json")
    assert result.returncode == 0 and "Traceback" not in result.stderr.decode()
    assert json.loads(result.stdout)["rejected"] == 3
    assert (tmp_path / "out.jsonl.rejects").read_bytes().splitlines() == bad
    assert f"{dump}:3: JSON holding an integer of more than 4300 digits" in result.stderr.decode()
    assert f"{dump}:4: JSON holding a number beyond a 64-bit float (1e400)" in result.stderr.decode()
    assert [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()] == [json.loads(good)]


def test_a_source_field_no_document_has_is_said(tmp_path):
    dump = tmp_path / "dump.jsonl"
    dump.write_text(json.dumps({"id": 1, "site": "a.example", "text": "A story about the harbour."}) + "\n")
    warned = "no document has a 'nothere' field (--source-field)"
    assert warned in run_dedupe("clean", dump, "--dry-run", "--source-field", "nothere").stderr.decode()
    assert "warning" not in run_dedupe("clean", dump, "--dry-run", "--source-field", "site").stderr.decode()
    assert run_dedupe("clean", dump, "--dry-run", "--source-field", "nothere", "-q").stderr == b""
    # and so is an --id-field (the documents were numbered by line without a word)
    warned = "no document has a 'key' field (--id-field): documents are numbered by line"
    assert warned in run_dedupe("clean", dump, "--dry-run", "--id-field", "key").stderr.decode()
    for given in ((), ("--id-field", "id")):  # the default field missing is the documented numbering
        assert "warning" not in run_dedupe("clean", dump, "--dry-run", *given).stderr.decode()
    assert "warning" not in run_dedupe("clean", SEEDS, "--dry-run", "--id-field", "key").stderr.decode()  # (.txt)


def test_a_url_that_does_not_parse_leaves_the_site_unknown(tmp_path):
    """The site (for template counts and the report) comes from the url field; "http://[::1",
    an IPv6 address left open, made urlsplit raise and the run end in a traceback."""
    dump = tmp_path / "dump.jsonl"
    dump.write_text('{"id": 1, "url": "http://[::1", "text": "fine"}\n'
                    '{"id": 2, "url": "https://www.bbc.co.uk/a", "text": "fine too"}\n', encoding="utf-8")
    result = run_dedupe("clean", dump, "-o", tmp_path / "out.jsonl", "--report", tmp_path / "r.jsonl")
    assert result.returncode == 0, result.stderr
    assert [r.get("source") for r in read_report(tmp_path / "r.jsonl")] == [None, "www.bbc.co.uk"]


def test_a_lone_surrogate_escape_is_written_back_as_it_came(tmp_path):
    """A "\\ud800" escape is valid JSON but no Unicode character: the cleaned file, the report and
    the page hold it as that escape (it reads back as the same string), not a traceback."""
    dump, out, report, page = (tmp_path / name for name in ("dump.jsonl", "out.jsonl", "r.jsonl", "r.html"))
    text = ("The storm in the north of the country closed roads for \\ud800 three days while crews "
            "worked to restore power to thousands of homes across the region.")
    longer = ("Officials said on Tuesday that the new bridge over the \\udc80 river would open next spring, "
              "two years later than planned, after engineers found that the old foundations could not carry "
              "the weight of the heavier deck the city council had asked for in its revised plans.")  # >= 256
    dump.write_text('{"id": 1, "text": "%s"}\n{"id": 2, "text": "%s"}\n' % (text, longer), encoding="utf-8")
    result = run_dedupe("clean", dump, "-o", out, "--report", report, "--html", page)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr.decode()
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert records == [json.loads(line) for line in dump.read_text(encoding="utf-8").splitlines()]  # nothing stripped
    assert "\ud800" in records[0]["text"] and "\\ud800" in out.read_text(encoding="utf-8")
    assert any("\ud800" in r["text"] for r in read_report(report))
    assert "\\ud800" in page.read_text(encoding="utf-8")


def test_missing_text_field_and_bad_encoding_fail_clearly(tmp_path):
    dump = tmp_path / "dump.jsonl"
    dump.write_text('{"id": 1, "body": "x"}\n', encoding="utf-8")
    result = run_dedupe("clean", dump, "--dry-run")
    assert result.returncode == 2 and "no 'text' field" in result.stderr.decode() and ":1" in result.stderr.decode()
    folder = tmp_path / "txt"
    folder.mkdir()
    (folder / "bad.txt").write_bytes(b"caf\xe9\n")
    result = run_dedupe("clean", folder, "-o", tmp_path / "out")
    assert result.returncode == 2 and "not valid UTF-8" in result.stderr.decode()
    assert not (tmp_path / "out").exists()


def test_a_folder_without_text_files_but_with_others_is_an_error_not_an_empty_run(tmp_path):
    """A folder holding the dump as JSONL (what `make_dump.py` writes) was read for .txt files,
    found none, and cleaned to an empty folder with exit 0; an empty folder is an empty dump."""
    folder = tmp_path / "dump"
    folder.mkdir()
    (folder / "dump.jsonl").write_text('{"id": 1, "text": "A story."}\n', encoding="utf-8")
    (folder / ".DS_Store").write_bytes(b"")
    result = run_dedupe("clean", folder, "-o", tmp_path / "out.jsonl")
    error = result.stderr.decode()
    assert result.returncode == 2 and "no .txt files" in error and "dump.jsonl" in error, error
    assert "give a JSON lines file itself" in error and ".DS_Store" not in error
    assert not (tmp_path / "out.jsonl").exists()
    (folder / "dump.jsonl").rename(folder / "page.html")
    result = run_dedupe("clean", folder, "-o", tmp_path / "out")
    assert result.returncode == 2 and "page.html" in result.stderr.decode()
    (folder / "page.html").unlink()
    result = run_dedupe("clean", folder, "-o", tmp_path / "out")
    assert result.returncode == 0 and "0 documents" in result.stderr.decode()


def test_a_rejected_file_whose_name_is_not_utf8_is_set_aside_by_its_bytes(tmp_path):
    """A .txt file named in Latin-1 and set aside under --on-error skip ended the run in a
    UnicodeEncodeError traceback (exit 1, nothing written): its path, which stands for it in the
    rejects file, holds surrogate escapes. The rejects file now has the name's own bytes."""
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "ok.txt").write_text("The council voted on Tuesday to close the old bridge.\n")
    bad_name = os.fsencode(folder) + b"/caf\xe9.txt"
    with open(bad_name, "wb") as f:
        f.write(b"Caf\xe9 society news\n")
    rejects = tmp_path / "rejects"
    result = run_dedupe("clean", folder, "-o", tmp_path / "out", "--on-error", "skip", "--rejects", rejects, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["rejected"] == 1 and b"Traceback" not in result.stderr
    assert rejects.read_bytes() == bad_name + b"\n"
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["ok.txt"]


def test_a_folder_input_sets_aside_what_is_not_a_readable_file(tmp_path):
    """A pipe named x.txt in an input folder made the run wait on it forever, and a sub-folder
    that cannot be listed was passed over without a word: both are now rejects, named."""
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("The council met on Monday to agree the budget for the coming year.\n")
    (folder / "sub" / "z.txt").write_text("Flooding closed the main road north of the city for two days.\n")
    os.mkfifo(folder / "pipe.txt")
    args = [console_script(), "clean", str(folder), "-o", str(tmp_path / "out"), "--on-error", "skip", "--json"]
    result = subprocess.run(args, capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["rejected"] == 1
    assert f"{folder / 'pipe.txt'}: not a regular file" in result.stderr.decode()
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.txt")) == [
        "a.txt", "sub/z.txt"]
    os.unlink(folder / "pipe.txt")
    as_user = []  # root reads any folder: run it without the capabilities that let it
    if os.geteuid() == 0:
        if not shutil.which("setpriv"):
            pytest.skip("running as root without setpriv: a folder cannot be made unreadable")
        as_user = ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner"]
    (folder / "sub").chmod(0)
    try:
        result = subprocess.run([*as_user, console_script(), "clean", str(folder), "-o", str(tmp_path / "out2")],
                                capture_output=True, timeout=60)
        assert result.returncode == 2 and f"{folder / 'sub'}: cannot read folder" in result.stderr.decode()
        assert not (tmp_path / "out2").exists()
    finally:
        (folder / "sub").chmod(0o755)


def test_refuses_to_write_over_its_input(tmp_path):
    folder = tmp_path / "in"
    shutil.copytree(SEEDS, folder)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    for target in (folder, folder / "sub"):
        result = run_dedupe("clean", folder, "-o", target)
        assert result.returncode == 3 and "input" in result.stderr.decode()
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    result = run_dedupe("clean", folder, "-o", tmp_path / "out")
    assert result.returncode == 0
    assert run_dedupe("clean", folder, "-o", tmp_path / "out").returncode == 3  # exists, not empty
    assert run_dedupe("clean", folder, "-o", tmp_path / "out", "--overwrite").returncode == 0
    # the folder that holds the input: replacing it deleted the input (before 2026-12-07)
    result = run_dedupe("clean", folder, "-o", tmp_path, "--overwrite")
    assert result.returncode == 3 and "holds the input" in result.stderr.decode()
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def test_no_output_replaces_the_input_or_another_output(tmp_path):
    """Every output is checked against the input and the others before any work: --html at the
    input's path replaced the input with the page, two outputs at one path kept only the last
    written, a report inside the output folder went when the folder was swapped in, and --html
    PAGE wrote (and then deleted) PAGE.report.jsonl. Exit 3, nothing written, input untouched."""
    dump = tmp_path / "dump.jsonl"
    dump.write_bytes(b'{"id": 1, "text": "The council met on Monday to agree the budget."}\nnot json\n')
    folder = tmp_path / "in"
    shutil.copytree(SEEDS, folder)
    out = tmp_path / "o"
    out.mkdir()
    refused = [
        (dump, "-o", out / "a.jsonl", "--html", dump),
        (dump, "-o", out / "a.jsonl", "--html", out / "a.jsonl"),
        (dump, "-o", out / "a.jsonl", "--report", out / "r.jsonl", "--html", out / "r.jsonl"),
        (dump, "-o", out / "a.jsonl", "--on-error", "skip", "--rejects", out / "a.jsonl"),
        (dump, "-o", out / "a.jsonl", "--on-error", "skip", "--report", out / "a.jsonl.rejects"),
        (dump, "-o", out / "a.jsonl", "--report", out),  # a folder
        (folder, "-o", out / "clean", "--report", out / "clean" / "r.jsonl"),
        (folder, "-o", out / "clean", "--html", out / "clean" / "page.html"),
        (dump, "-o", out / "a.jsonl", "--html", dump / "page.html"),  # under a file
    ]
    for args in refused:
        result = run_dedupe("clean", *args)
        assert result.returncode == 3, (args, result.stderr)
        assert "Traceback" not in result.stderr.decode()
        assert not any(p.is_file() for p in out.rglob("*")), args
    assert dump.read_bytes().startswith(b'{"id": 1') and len(list(folder.iterdir())) == len(list(SEEDS.iterdir()))
    result = run_dedupe("clean", ".", "-o", "-", "--on-error", "skip", cwd=folder)  # rejects go to ./.rejects
    assert result.returncode == 3 and "the rejects file (--rejects) .rejects is inside" in result.stderr.decode()
    assert len(list(folder.iterdir())) == len(list(SEEDS.iterdir()))
    result = run_dedupe("clean", "", "--dry-run")  # Path("") is the current folder
    assert result.returncode == 2 and "the input path is empty" in result.stderr.decode()
    result = run_dedupe("clean", folder, "-o", ".", cwd=out)  # a traceback after all the work, before
    assert result.returncode == 3 and "is the current folder" in result.stderr.decode()
    assert list(out.iterdir()) == []
    result = run_dedupe("clean", dump, "-o", out / "a.jsonl", "--html", out / "clean" / "page.html", "--report",
                        out / "clean")  # the report at a folder the page's path goes through
    assert result.returncode == 3 and "lies under the report (--report)" in result.stderr.decode()
    result = run_dedupe("clean", folder, "-o", out / "clean", "--html", out / "clean" / "page.html")
    assert result.returncode == 3 and "the HTML page (--html) " in result.stderr.decode()
    result = run_dedupe("clean", dump, "-o", out / "a.jsonl", "--report", "-", "--html", out / "p.html")
    assert result.returncode == 2 and "give --report a file path" in result.stderr.decode()
    assert not any(p.is_file() for p in out.rglob("*"))
    mine = out / "p.html.report.jsonl"
    mine.write_text("mine\n")
    result = run_dedupe("clean", dump, "-o", out / "a.jsonl", "--on-error", "skip", "--html", out / "p.html")
    assert result.returncode == 0, result.stderr
    assert mine.read_text() == "mine\n"
    assert sorted(p.name for p in out.iterdir()) == ["a.jsonl", "a.jsonl.rejects", "p.html", "p.html.report.jsonl"]


def test_an_output_that_cannot_be_written_is_refused_before_any_work(tmp_path):
    """A read-only folder was found only when the first pass was over and writing began."""
    as_user = []  # root writes anywhere: run it without the capabilities that let it
    if os.geteuid() == 0:
        if not shutil.which("setpriv"):
            pytest.skip("running as root without setpriv: a folder cannot be made read-only")
        as_user = ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner"]
    dump, locked = tmp_path / "dump.jsonl", tmp_path / "ro"
    dump.write_text('{"id": 1, "text": "The council met on Monday to agree the budget."}\n')
    locked.mkdir()
    locked.chmod(0o555)
    try:
        for option in ("-o", "--report", "--html"):
            args = ["-o", tmp_path / "a.jsonl"] if option != "-o" else []
            result = subprocess.run([*as_user, console_script(), "clean", str(dump), *map(str, args), option,
                                     str(locked / "x")], capture_output=True, timeout=60)
            assert result.returncode == 3, (option, result.stderr)
            assert f"{locked / 'x'} cannot be written: no permission to write in {locked}" in result.stderr.decode()
            assert not (tmp_path / "a.jsonl").exists()
        locked.chmod(0o666)  # no search: stat() under it is refused (a bare "Permission denied", exit 1)
        result = subprocess.run([*as_user, console_script(), "clean", str(dump), "-o", str(locked / "x")],
                                capture_output=True, timeout=60)
        assert result.returncode == 3 and f"{locked / 'x'}: Permission denied" in result.stderr.decode()
    finally:
        locked.chmod(0o755)


def test_a_read_only_output_folder_is_replaced_whole(tmp_path):
    """--overwrite of an output folder made read-only left the old one behind as a hidden
    .out.old, which the next replacement could not move aside: an error after all the work,
    and a finished temporary folder left beside the output."""
    as_user = []  # root deletes anything: run it without the capabilities that let it
    if os.geteuid() == 0:
        if not shutil.which("setpriv"):
            pytest.skip("running as root without setpriv: a folder cannot be made read-only")
        as_user = ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner"]
    out = tmp_path / "out"
    for _ in range(3):
        result = subprocess.run([*as_user, console_script(), "clean", str(SEEDS), "-o", str(out), "--overwrite", "-q"],
                                capture_output=True, timeout=120)
        assert result.returncode == 0, result.stderr
        out.chmod(0o555)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert len(list(out.iterdir())) == len(list(SEEDS.glob("*.txt")))
    out.chmod(0o755)


def test_a_device_output_is_written_into_not_replaced(tmp_path):
    """Output files are written beside their path and renamed over it, which for a device
    (-o /dev/null) replaced the device node with a file; it is written straight into."""
    if os.geteuid() == 0:
        device = tmp_path / "null"
        os.mknod(device, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    else:  # only root could have replaced /dev/null
        device = Path("/dev/null")
    dump = tmp_path / "dump.jsonl"
    dump.write_text('{"id": 1, "text": "The council met on Monday to agree the budget."}\n')
    for args in (["-o", device], ["--dry-run", "--report", device], ["-o", tmp_path / "a.jsonl", "--html", device]):
        result = run_dedupe("clean", dump, *args)
        assert result.returncode == 0, result.stderr
        assert stat.S_ISCHR(device.stat().st_mode), args


def _started_with_its_worker(args, lines, errors, **popen) -> subprocess.Popen:
    """``dedupe clean - ARGS`` fed ``lines``, in a session of its own, its stderr in the file
    ``errors``, once its worker process has forked (after the first chunk: under way)."""
    process = subprocess.Popen([console_script(), "clean", "-", *map(str, args), "--workers", "2"],
                               stdin=subprocess.PIPE, stderr=errors.open("wb"), start_new_session=True, **popen)
    process.stdin.write(("\n".join(lines) + "\n").encode())
    process.stdin.close()
    children = Path(f"/proc/{process.pid}/task/{process.pid}/children")
    for _ in range(6000):
        if process.poll() is not None or (children.exists() and children.read_text().strip()):
            break
        subprocess.run(["sleep", "0.002"])
    return process


def _ended_whole(process: subprocess.Popen, timeout: float = 60) -> int:
    """The exit status, once no process of its session is left (a worker left behind waits
    for work for ever); the leftovers are killed, and fail the test."""
    status = process.wait(timeout=timeout)
    for _ in range(100):
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            return status
        subprocess.run(["sleep", "0.02"])
    os.killpg(process.pid, signal.SIGKILL)
    raise AssertionError("a worker process outlived the run")


def test_signals_stop_the_run_in_order(tmp_path, corpus):
    """SIGTERM (and SIGHUP) left the hidden temporary outputs and the whole spool of stdin
    behind, and the orphaned worker printed tracebacks; Ctrl-C, which reaches every process of
    the terminal's group, had each worker print its name. Now each unwinds as Ctrl-C did in
    the main process alone: exit 128 + the signal, one line, nothing left anywhere, no process
    left (a stop while the pool forked left a worker waiting for ever). Started ignoring
    SIGHUP (nohup), a run goes on through a hang-up."""
    import random

    rng = random.Random(7)
    lines = [json.dumps({"id": n, "text": "\n".join(rng.sample(corpus, 20))}) for n in range(3000)]
    out, spool_dir, errors = tmp_path / "out", tmp_path / "tmp", tmp_path / "stderr.txt"
    out.mkdir(), spool_dir.mkdir()
    args = ["-o", out / "a.jsonl", "--report", out / "r.jsonl"]
    for signum, status, message in [(signal.SIGTERM, 143, "dedupe: stopped by SIGTERM; no output was written"),
                                    (signal.SIGINT, 130, "dedupe: interrupted; no output was written")] * 3:
        process = _started_with_its_worker(args, lines, errors, env={**os.environ, "TMPDIR": str(spool_dir)})
        if signum == signal.SIGINT:
            os.killpg(process.pid, signum)  # Ctrl-C: the whole group
        else:
            process.send_signal(signum)
        assert _ended_whole(process) == status, errors.read_text()
        assert errors.read_text().splitlines() == [message]
        assert list(out.iterdir()) == [] and list(spool_dir.iterdir()) == []
    process = _started_with_its_worker(args, lines, errors,
                                       preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN))
    os.killpg(process.pid, signal.SIGHUP)  # as a closed terminal sends it: every process of the group
    assert _ended_whole(process) == 0, errors.read_text()
    assert len((out / "a.jsonl").read_text().splitlines()) == len(lines)


def test_a_killed_run_leaves_nothing_behind(tmp_path, corpus):
    """A run killed outright (SIGKILL, the OOM killer) left files named in the temporary folder
    and beside its outputs: the spool of stdin (the whole input) and each output's hidden
    .tmp sibling. Both are now files without a name, gone with the process."""
    import random

    rng = random.Random(3)
    lines = [json.dumps({"id": n, "text": "\n".join(rng.sample(corpus, 20))}) for n in range(3000)]
    out, spool_dir, errors = tmp_path / "out", tmp_path / "tmp", tmp_path / "stderr.txt"
    out.mkdir(), spool_dir.mkdir()
    # two passes (stdin spooled; outputs opened in the second); one pass (outputs open at once)
    for passes in ([], ["--detect", "duplicate,near-duplicate"]):
        process = _started_with_its_worker(["-o", out / "a.jsonl", "--report", out / "r.jsonl", *passes], lines,
                                           errors, env={**os.environ, "TMPDIR": str(spool_dir)})
        os.killpg(process.pid, signal.SIGKILL)
        assert process.wait(timeout=60) == -signal.SIGKILL
        assert list(spool_dir.iterdir()) == [] and list(out.iterdir()) == [], passes


def test_a_run_killed_while_it_renders_the_page_leaves_no_hidden_report(tmp_path):
    """With --html alone, the report is a hidden file beside the page (or in the temporary
    folder, for a page on stdout), which a run killed outright while it rendered the page left
    behind for good. It is unlinked before the rendering starts, and read by its descriptor."""
    kill_in_render = ("import os, signal, sys, dedupe.html_report as h; "
                      "h.render_report = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL); "
                      "from dedupe.cli import app; sys.argv[0] = 'dedupe'; app()")
    out, spool_dir = tmp_path / "out", tmp_path / "tmp"
    out.mkdir(), spool_dir.mkdir()
    for page in (out / "page.html", "-"):
        done = subprocess.run([sys.executable, "-c", kill_in_render, "clean", str(SEEDS), "-o", str(out / "clean"),
                               "--html", str(page), "-q", "--overwrite"], capture_output=True, cwd=ROOT, timeout=300,
                              env={**os.environ, "TMPDIR": str(spool_dir)})
        assert done.returncode == -signal.SIGKILL, done.stderr
        assert sorted(p.name for p in out.iterdir()) == ["clean"] and list(spool_dir.iterdir()) == [], page


def test_a_run_stopped_while_it_renders_the_page_says_which_outputs_it_wrote(tmp_path):
    """clean --html writes the cleaned output and the report, then renders the page; stopped
    in between, it said "no output was written" over two new files."""
    term_in_render = ("import os, signal, sys, dedupe.html_report as h; "
                      "h.render_report = lambda *a, **k: os.kill(os.getpid(), signal.SIGTERM); "
                      "from dedupe.cli import app; sys.argv[0] = 'dedupe'; app()")
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-c", term_in_render, "clean", str(SEEDS), "-o", str(out / "clean"),
                           "--report", str(out / "r.jsonl"), "--html", str(out / "page.html"), "-q"],
                          capture_output=True, cwd=ROOT, timeout=300)
    assert done.returncode == 143, done.stderr
    said = done.stderr.decode()
    assert f"{out / 'clean'} and {out / 'r.jsonl'} were written whole; the HTML page was not" in said, said
    assert sorted(p.name for p in out.iterdir()) == ["clean", "r.jsonl"]


def test_a_run_stopped_while_its_outputs_are_named_leaves_them_all_and_says_so(tmp_path):
    """Stopped in the last moments of a run, after some outputs had their names, it said "no
    output was written" over whole new files; stopped while a folder output replaced the old
    one, it left the old one's hidden remains for good. The outputs are now named together
    with the stop signals held, once the workers are gone, and the stop is acted on after."""
    term_in_naming = ("import os, signal, sys, dedupe.writing as w; finish = w.TextDirWriter._finish; "
                      "w.TextDirWriter._finish = lambda self, exc: os.kill(os.getpid(), signal.SIGTERM) "
                      "or finish(self, exc); from dedupe.cli import app; sys.argv[0] = 'dedupe'; app()")
    out = tmp_path / "out"
    whole = run_dedupe("clean", SEEDS, "-o", out / "clean", "--report", out / "r.jsonl", "-q")
    assert whole.returncode == 0
    texts = {p.name: p.read_bytes() for p in (out / "clean").iterdir()}
    report = (out / "r.jsonl").read_bytes()
    (out / "r.jsonl").unlink()
    for p in (out / "clean").iterdir():
        p.write_text("an older output")
    done = subprocess.run([sys.executable, "-c", term_in_naming, "clean", str(SEEDS), "-o", str(out / "clean"),
                           "--report", str(out / "r.jsonl"), "--workers", "2", "-q", "--overwrite"],
                          capture_output=True, cwd=ROOT, timeout=300)
    assert done.returncode == 143, done.stderr
    assert done.stderr.decode() == f"dedupe: stopped by SIGTERM; {out / 'clean'} and {out / 'r.jsonl'} were written whole\n"
    assert sorted(p.name for p in out.iterdir()) == ["clean", "r.jsonl"]  # no hidden .old remains
    assert {p.name: p.read_bytes() for p in (out / "clean").iterdir()} == texts
    assert (out / "r.jsonl").read_bytes() == report


def test_the_old_output_set_aside_by_a_killed_run_goes_once_the_new_one_is_in_place(tmp_path):
    """A run killed outright while it removed the output it had replaced left that old folder,
    hidden (.out.XXXXXXXX.old), for good. The next run of the output removes it when the new
    output is there, and leaves it when it may be the only copy (killed between the renames)."""
    out = tmp_path / "out"
    left = tmp_path / ".out.k1l2e3d4.old"
    left.mkdir()
    (left / "a.txt").write_text("the previous output")
    assert run_dedupe("clean", SEEDS, "-o", out, "-q").returncode == 0
    assert left.exists()  # no output there: it may be the previous one
    assert run_dedupe("clean", SEEDS, "-o", out, "-q", "--overwrite").returncode == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_folder_output_left_by_a_killed_run_goes_with_the_next_run(tmp_path, corpus):
    """A folder output is built in a hidden folder beside it, which a run killed outright left
    for good; the next run of the same output now removes it."""
    import random

    rng = random.Random(9)
    pages = tmp_path / "pages"
    pages.mkdir()
    for n in range(1500):
        (pages / f"{n:04}.txt").write_text("\n".join(rng.sample(corpus, 20)))
    out = tmp_path / "out"
    process = subprocess.Popen([console_script(), "clean", pages, "-o", out, "--workers", "2", "-q"],
                               start_new_session=True)
    for _ in range(20000):  # until the hidden folder is being filled (the second pass)
        if process.poll() is not None or list(tmp_path.glob(".out.*.tmp/*")):
            break
        subprocess.run(["sleep", "0.002"])
    os.killpg(process.pid, signal.SIGKILL)
    assert process.wait(timeout=60) == -signal.SIGKILL
    left = list(tmp_path.glob(".out.*.tmp"))
    assert len(left) == 1 and not out.exists()
    assert run_dedupe("clean", pages, "-o", out, "-q").returncode == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "pages"] and len(list(out.iterdir())) == 1500


_GUARDED = """
import errno, os, sys, typer
from dedupe.cli import _guarded

def fails():
    if sys.argv[1] == "memory":
        raise MemoryError()
    held = []  # every descriptor taken, as when a run has run out of them
    try:
        while True:
            held.append(os.open(os.devnull, os.O_RDONLY))
    except OSError:
        raise OSError(errno.EMFILE, "Too many open files")

try:
    _guarded(fails)
except typer.Exit as done:
    sys.exit(done.exit_code)
"""


@pytest.mark.parametrize("failure, message", [
    ("memory", "out of memory: free some, or run with fewer --workers"),
    ("descriptors", "Too many open files; raise the limit (ulimit -n) or run with fewer --workers")])
def test_running_out_of_memory_or_descriptors_is_a_one_line_error(failure, message):
    """A MemoryError ended `dedupe clean` in a traceback; out of file descriptors, the handler
    of the error itself failed (it opened /dev/null) with a chained traceback."""
    done = subprocess.run([sys.executable, "-c", _GUARDED, failure], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and done.stderr == f"dedupe: error: {message}\n"


def test_worker_processes_that_cannot_all_start_are_a_one_line_error_and_none_is_left(monkeypatch):
    """With too little memory for the pool's threads (ulimit -v), `dedupe clean --workers 2`
    ended in "RuntimeError: can't start new thread" and left its worker process waiting for
    ever, and the pool's own thread started another each time one was ended."""
    import multiprocessing
    import multiprocessing.pool
    import threading

    from dedupe.errors import ConfigError
    from dedupe.parallel import OrderedPool

    start = threading.Thread.start

    def start_unless_the_task_handler(thread):
        if getattr(thread, "_target", None) is multiprocessing.pool.Pool._handle_tasks:
            raise RuntimeError("can't start new thread")
        start(thread)

    monkeypatch.setattr(threading.Thread, "start", start_unless_the_task_handler)
    with pytest.raises(ConfigError, match=r"cannot start 2 worker process\(es\) \(can't start new thread\): use fewer"):
        with OrderedPool(abs, workers=3) as pool:
            list(pool.map(iter(range(10))))
    assert multiprocessing.active_children() == []


def test_standard_output_that_is_the_input_is_refused_before_it_is_touched(tmp_path):
    """`-o -` with stdout opened on the input (1<>dump.jsonl, or >>dump.jsonl) wrote over the
    input, or appended to it while it was read, and exited 0: an output path that is the input
    is refused, and so is standard output that is."""
    lines = "".join(json.dumps({"id": p.name, "text": p.read_text(encoding="utf-8")}) + "\n" for p in sorted(SEEDS.iterdir()))
    dump = tmp_path / "dump.jsonl"
    folder = tmp_path / "pages"
    folder.mkdir()
    (folder / "a.txt").write_text("The council met on Monday to agree the budget.\n")
    script = console_script()
    cases = [(f"{script} clean {dump} -o - 1<>{dump}", f"the input file {dump}"),
             (f"{script} clean {dump} -o /dev/stdout >>{dump}", f"the input file {dump}"),
             (f"{script} clean {dump} -o {tmp_path / 'out.jsonl'} --report - >>{dump}", f"the input file {dump}"),
             (f"{script} clean - -o - <{dump} 1<>{dump}", "the file on standard input"),
             (f"{script} clean {folder} -o - >{folder / 'b.txt'}", f"a file in the input folder {folder}")]
    for command, where in cases:
        dump.write_text(lines, encoding="utf-8")
        result = subprocess.run(command, shell=True, capture_output=True, timeout=60)
        assert result.returncode == 3, (command, result.stderr)
        assert where in result.stderr.decode() and "goes to standard output" in result.stderr.decode(), command
        assert dump.read_text(encoding="utf-8") == lines, command
    assert sorted(p.name for p in folder.iterdir()) == ["a.txt", "b.txt"] and not (folder / "b.txt").read_bytes()
    result = subprocess.run(f"{script} clean {dump} -o - -q >{tmp_path / 'out.jsonl'}", shell=True, capture_output=True)
    assert result.returncode == 0 and (tmp_path / "out.jsonl").read_bytes()


def test_an_output_that_cannot_be_written_names_the_file_and_leaves_nothing(tmp_path):
    """A folder output on a full disk (here: files limited to 200 bytes) said only "No space left
    on device", naming no file; JSON lines outputs named theirs, but left the folders made for
    them."""
    import resource

    def small_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (200, 200))

    done = subprocess.run([console_script(), "clean", str(SEEDS), "-o", str(tmp_path / "out"), "-q"],
                          capture_output=True, preexec_fn=small_files, timeout=120)
    first = sorted(p.name for p in SEEDS.iterdir())[0]
    assert done.returncode == 3
    assert done.stderr.decode() == f"dedupe: error: cannot write {tmp_path / 'out' / first}: File too large\n"
    assert list(tmp_path.iterdir()) == []
    # a file output in folders made for it: they were left behind, empty
    dump = tmp_path / "dump.jsonl"
    dump.write_text("".join(json.dumps({"id": p.name, "text": p.read_text(encoding="utf-8")}) + "\n"
                            for p in sorted(SEEDS.iterdir())), encoding="utf-8")
    done = subprocess.run([console_script(), "clean", str(dump), "-o", str(tmp_path / "new" / "sub" / "o.jsonl"), "-q"],
                          capture_output=True, preexec_fn=small_files, timeout=120)
    assert done.returncode == 3 and "File too large" in done.stderr.decode()
    assert list(tmp_path.iterdir()) == [dump]


def test_a_temporary_folder_without_room_is_named(tmp_path):
    """The spool of stdin (and the other temporary files) on a full temporary folder said only
    "No space left on device" (here: files limited to 1000 bytes), as if an output had no room;
    a pipe given as a path said it could not be read."""
    import resource

    def small_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))

    lines = "".join(json.dumps({"id": p.name, "text": p.read_text(encoding="utf-8")}) + "\n" for p in sorted(SEEDS.iterdir()))
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    for command in ([console_script(), "clean", "-", "-q"], ["bash", "-c", f"{console_script()} clean <(cat) -o - -q"]):
        done = subprocess.run(command, input=lines.encode(), capture_output=True, preexec_fn=small_files, env=env,
                              timeout=120)
        assert done.returncode == 3, done.stderr
        assert done.stderr.decode() == (f"dedupe: error: cannot write to the temporary folder {tmp_path}: File too "
                                        "large; set TMPDIR to a folder with room\n")
        assert done.stdout == b"" and list(tmp_path.iterdir()) == []


def test_closed_or_full_standard_streams_are_one_line_errors(tmp_path):
    """Started without stdin or stdout (<&-, >&-), or with stdout on a full disk (/dev/full):
    before, AttributeError and OSError tracebacks, or a message at exit and status 120."""
    dump = tmp_path / "dump.jsonl"
    dump.write_text('{"id": 1, "text": "The council met on Monday to agree the budget."}\n')
    script = console_script()
    closed_in, closed_out, full = ("standard input is closed: nothing to read",
                                   "standard output is closed, where the cleaned output (-o) would go: give it a file "
                                   "path", "No space left on device")
    cases = [(f"{script} clean - <&-", 2, closed_in),
             (f"{script} clean - --detect duplicate <&-", 2, closed_in),
             # /dev/stdin dangles then: it said "no such file or directory: /dev/stdin"
             (f"{script} clean /dev/stdin -o {tmp_path / 'c.jsonl'} <&-", 2, f"{closed_in} from /dev/stdin"),
             (f"{script} clean /dev/fd/7 -o {tmp_path / 'c.jsonl'}", 2,
              "/dev/fd/7 names descriptor 7, which this process does not have open"),
             (f"{script} clean {dump} -o - >&-", 3, closed_out),
             # the report on stdout: it was "give -o FILE", after the whole first pass
             (f"{script} clean {dump} -o {tmp_path / 'd.jsonl'} --report - >&-", 3,
              "standard output is closed, where the report (--report) would go: give it a file path"),
             (f"{script} clean {dump} -o - > /dev/full", 3, full),
             (f"{script} clean {dump} -o {tmp_path / 'a.jsonl'} --json > /dev/full", 3, full)]
    for command, status, message in cases:
        result = subprocess.run(command, shell=True, capture_output=True, timeout=60)
        assert result.returncode == status, (command, result.stderr)
        assert result.stderr.decode().splitlines() == [f"dedupe: error: {message}"], command
    # the summary asked for on a closed stdout was lost without a word: it goes to stderr
    result = subprocess.run(f"{script} clean {dump} -o {tmp_path / 'e.jsonl'} --json >&-", shell=True,
                            capture_output=True, timeout=60)
    assert result.returncode == 0 and json.loads(result.stderr)["documents"] == 1
    result = subprocess.run(f"{script} clean {dump} -o {tmp_path / 'b.jsonl'} 2>&-", shell=True, capture_output=True)
    assert result.returncode == 0 and result.stdout == b"" and (tmp_path / "b.jsonl").exists()


def test_help_documents_the_commands():
    result = run_dedupe("clean", "--help")
    assert result.returncode == 0
    for option in ("--report", "--dry-run", "--cross-doc", "--on-error", "--json", "--quiet", "--strip"):
        assert option in result.stdout.decode()


def test_eval_scores_labelled_pages(tmp_path):
    result = run_dedupe("eval", "tests/data/seeds.labelled.jsonl", "--json")
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert figures["pages"] == 5
    assert figures["all"]["word_f1"] >= 0.9 and figures["all"]["strip_recall"] >= 0.8
    assert {"boilerplate", "duplicate", "near-duplicate", "off-topic"} <= set(figures["by_reason"])
    table = run_dedupe("eval", "tests/data/seeds.labelled.jsonl").stdout.decode()
    assert "word F1" in table and "| boilerplate |" in table


def test_train_writes_a_model_that_clean_and_eval_use(tmp_path):
    model = tmp_path / "model.json"
    result = run_dedupe("train", "tests/data/seeds.labelled.jsonl", "-o", model, "--folds", "0")
    assert result.returncode == 0, result.stderr
    assert json.loads(model.read_text())["format_version"]
    result = run_dedupe("clean", "seeds", "--dry-run", "--model", model, "--report", tmp_path / "r.jsonl")
    assert result.returncode == 0, result.stderr
    pages = tmp_path / "pages.jsonl"  # the model over its own labelled pages: refused before training
    shutil.copy("tests/data/seeds.labelled.jsonl", pages)
    result = run_dedupe("train", "tests/data/seeds.labelled.jsonl", pages, "-o", pages, "--folds", "0")
    assert result.returncode == 3 and "is the input" in result.stderr.decode()
    assert pages.read_bytes() == (ROOT / "tests/data/seeds.labelled.jsonl").read_bytes()
    # -o - writes the model to stdout (it wrote a file named "-"); the figures go to stderr
    result = run_dedupe("train", ROOT / "tests/data/seeds.labelled.jsonl", "-o", "-", "--folds", "0", cwd=tmp_path)
    streamed, saved = json.loads(result.stdout), json.loads(model.read_text())
    assert result.returncode == 0 and (streamed["stage1"], streamed["stage2"]) == (saved["stage1"], saved["stage2"])
    assert not (tmp_path / "-").exists()


def test_train_and_eval_reject_bad_labelled_files(tmp_path):
    cases = {
        "empty.jsonl": "",
        "schema.jsonl": json.dumps({"id": "p", "blocks": []}) + "\n",
        "labels.jsonl": json.dumps({"id": "p", "paragraphs": [{"text": "x", "label": "spam"}]}) + "\n",
        "json.jsonl": "{not json\n",
    }
    for name, body in cases.items():
        path = tmp_path / name
        path.write_text(body, encoding="utf-8")
        for args in (("eval", path), ("train", path, "-o", tmp_path / "m.json")):
            result = run_dedupe(*args)
            err = result.stderr.decode()
            assert result.returncode == 2, (name, args[0], err)
            assert str(path) in err and "Traceback" not in err, (name, err)
    assert not (tmp_path / "m.json").exists()
    one_kind = tmp_path / "content.jsonl"  # said in the classifier's codes ("labels must be 0 ... 1")
    one_kind.write_text(json.dumps({"id": "p", "url": "https://a.example/1",
                                    "paragraphs": [{"text": "A story about the harbour.", "label": "content"}]}) + "\n")
    result = run_dedupe("train", one_kind, "-o", tmp_path / "m.json", "--folds", "0")
    assert result.returncode == 2 and "no paragraph is labelled boilerplate" in result.stderr.decode()
    # three sites, two of them all content: the fold that holds out the third has no boilerplate
    # to learn from (it said "labels must be 0 (content), 1 (boilerplate)...", naming nothing)
    pages = [{"id": f"p{k}", "url": f"https://{site}.example/{k}",
              "paragraphs": [{"text": f"A story about the harbour, part {k}.", "label": "content"}]
              + ([{"text": "Subscribe to our newsletter", "label": "boilerplate"}] if site == "mixed" else [])}
             for k, site in enumerate(["plain", "calm", "mixed"])]
    folded = tmp_path / "folded.jsonl"
    folded.write_text("".join(json.dumps(p) + "\n" for p in pages), encoding="utf-8")
    for args in (("train", folded, "-o", tmp_path / "m.json", "--folds", "3"), ("eval", folded, "--held-out", "3")):
        result = run_dedupe(*args)
        assert result.returncode == 2 and "the fold that holds out mixed.example leaves no boilerplate blocks on " \
            "the other sites to learn from: use fewer folds" in result.stderr.decode(), (args, result.stderr)
    good = "tests/data/seeds.labelled.jsonl"  # negative folds ran as 0, and 1 as 0, without a word
    for folds in ("-1", "1"):
        for args in (("eval", good, "--held-out", folds), ("train", good, "-o", tmp_path / "m.json", "--folds", folds)):
            result = run_dedupe(*args)
            assert result.returncode == 2 and "or a whole number >= 2" in result.stderr.decode(), args
    assert not (tmp_path / "m.json").exists()


def test_html_page_from_clean_and_from_view(tmp_path):
    page = tmp_path / "page.html"
    result = run_dedupe("clean", "seeds", "--dry-run", "--html", page, "-q")
    assert result.returncode == 0, result.stderr
    html = page.read_text(encoding="utf-8")
    assert "near-duplicate" in html and "Rowling wrote:" in html and "http://" not in html.replace("http://www.w3.org", "")
    assert not list(tmp_path.glob("*.report.jsonl"))  # the intermediate report is cleaned up
    report = tmp_path / "r.jsonl"
    run_dedupe("clean", "seeds", "--dry-run", "--report", report, "-q")
    result = run_dedupe("view", report, "-o", tmp_path / "view.html")
    assert result.returncode == 0 and "5 of 5 documents" in result.stderr.decode()
    assert run_dedupe("view", tmp_path / "missing.jsonl", "-o", tmp_path / "x.html").returncode == 2


def test_standard_output_takes_one_output_and_the_html_page_too(tmp_path):
    """-o - with --report - interleaved documents and report lines on stdout; --html - wrote a
    file named "-", titled by a hidden temporary report's name; view -o - did the same, and
    view -o new/folder/page.html was refused while clean --html made the folder."""
    result = run_dedupe("clean", "seeds", "-o", "-", "--report", "-")
    assert result.returncode == 3 and result.stdout == b""
    assert "the cleaned output (-o) and the report (--report) would both go to standard output" in result.stderr.decode()
    result = run_dedupe("clean", "-", "--html", "-", input=b'{"text": "One line."}\n')  # -o - is stdin's default
    assert result.returncode == 3 and "the HTML page (--html) and the cleaned output (-o)" in result.stderr.decode()

    spool = tmp_path / "tmp"
    spool.mkdir()
    pages = [run_dedupe("clean", SEEDS, "--dry-run", "--html", "-", "--json", cwd=tmp_path, env={"TMPDIR": str(spool)})
             for _ in range(2)]
    assert all(p.returncode == 0 for p in pages), pages[0].stderr
    page = pages[0].stdout.decode()
    assert page.startswith("<!DOCTYPE html>") and "Rowling wrote:" in page and pages[1].stdout == pages[0].stdout
    assert "<title>news-dedupe report \u2014 seeds</title>" in page
    assert json.loads(pages[0].stderr)["documents"] == 5  # the summary leaves stdout to the page
    assert list(tmp_path.iterdir()) == [spool] and list(spool.iterdir()) == []

    report = tmp_path / "r.jsonl"
    run_dedupe("clean", "seeds", "--dry-run", "--report", report, "-q")
    viewed = run_dedupe("view", report, "-o", "-")
    assert viewed.returncode == 0 and viewed.stdout.startswith(b"<!DOCTYPE html>")
    assert "wrote the page: 5 of 5 documents" in viewed.stderr.decode()
    assert run_dedupe("view", report, "-o", tmp_path / "new" / "folder" / "page.html").returncode == 0
    assert (tmp_path / "new" / "folder" / "page.html").read_bytes() == viewed.stdout


def test_a_reader_of_stdout_that_stops_early_loses_no_file(tmp_path, corpus):
    """`--report - | head`: the broken pipe ended the run with status 0 and the cleaned file
    (-o) was never written, without a word. The files are now written whole and the rest of
    stdout dropped, with a note; with stdout the only output, the run still just ends."""
    import random

    rng = random.Random(5)
    dump = tmp_path / "dump.jsonl"
    dump.write_text("".join(json.dumps({"id": n, "text": "\n".join(rng.sample(corpus, 12))}) + "\n"
                            for n in range(400)))
    expected = tmp_path / "expected.jsonl"
    assert run_dedupe("clean", dump, "-o", expected, "-q").returncode == 0
    for args in (["-o", tmp_path / "a.jsonl", "--report", "-"], ["-o", "-", "--report", tmp_path / "r.jsonl"]):
        process = subprocess.Popen([console_script(), "clean", dump, *map(str, args), "-q"], stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE)
        assert process.stdout.read(10)
        process.stdout.close()  # as head does once it has its lines
        assert process.wait(timeout=120) == 0
        assert "the rest of it is dropped, the files are still written" in process.stderr.read().decode()
    assert (tmp_path / "a.jsonl").read_bytes() == expected.read_bytes()
    report = (tmp_path / "r.jsonl").read_text().splitlines()
    process = subprocess.Popen([console_script(), "clean", dump, "-o", "-", "-q"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    process.stdout.read(10)
    process.stdout.close()
    assert process.wait(timeout=120) == 0 and process.stderr.read() == b""  # nothing else to write: it ends
    assert len(report) > 400 * 10 and json.loads(report[-1])["doc_id"] == "399"


def test_report_names_the_site_when_the_input_knows_it(tmp_path):
    dump = tmp_path / "dump.jsonl"
    dump.write_text(json.dumps({"id": "a", "url": "https://www.example.com/x", "text": "One line here."}) + "\n"
                    + json.dumps({"id": "b", "site": "other.org", "text": "Another line."}) + "\n", encoding="utf-8")
    assert run_dedupe("clean", dump, "--dry-run", "--report", tmp_path / "r.jsonl", "-q").returncode == 0
    assert [r.get("source") for r in read_report(tmp_path / "r.jsonl")] == ["www.example.com", None]
    assert run_dedupe("clean", dump, "--dry-run", "--report", tmp_path / "s.jsonl", "-q",
                      "--source-field", "site").returncode == 0
    assert [r.get("source") for r in read_report(tmp_path / "s.jsonl")] == [None, "other.org"]


def test_cleaning_starts_without_the_training_and_reference_libraries(tmp_path):
    """A pipeline may start `dedupe clean` once per file: cleaning must not pay for importing
    scikit-learn, datasketch or scipy (about 2 s together); they serve training, benchmarks and
    tests."""
    code = ("import sys; from dedupe.cli import app; sys.argv = ['dedupe', 'clean', sys.argv[1], '-o', sys.argv[2], '-q']\n"
            "try: app()\n"
            "except SystemExit as e: assert not e.code, e.code\n"
            "heavy = sorted(m for m in ('sklearn', 'datasketch', 'scipy') if m in sys.modules)\n"
            "assert not heavy, heavy")
    done = subprocess.run([sys.executable, "-c", code, str(SEEDS), str(tmp_path / "out")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert len(list((tmp_path / "out").iterdir())) == 5


def test_jsonl_lines_come_back_as_they_came_but_for_the_text(tmp_path):
    """Every other field of a cleaned line is written back byte for byte (compact separators,
    1E2, a float of more digits than a double holds, escapes, a big integer, a member of the
    same name inside another field), and a line with nothing stripped comes back whole."""
    story = ("The storm in the north of the country closed roads for three days while crews worked to "
             "restore power to thousands of homes across the region.")
    cleaned_line = ('{"id":1,"n":1E2,"f":1.00000000000000001,"t":"caf\\u00e9","meta":{"text":"inner"},'
                    '"text":"%s\\n%s","big":123456789012345678901234567890}' % (story, story))
    untouched = '{"id": 2,  "text": "A story of its own, about the harvest in the south: \\u00e9t\\u00e9.", "n": 1E2}'
    dump = tmp_path / "dump.jsonl"
    dump.write_bytes((cleaned_line + "\r\n" + untouched + "\n").encode("utf-8"))
    result = run_dedupe("clean", dump, "-o", tmp_path / "out.jsonl", "--report", tmp_path / "r.jsonl")
    assert result.returncode == 0, result.stderr
    first, second = (tmp_path / "out.jsonl").read_text(encoding="utf-8").split("\n")[:2]
    head, tail = cleaned_line.split('"text":"%s' % story)
    assert first == head + '"text":' + json.dumps(story + "\n") + tail.split('"', 1)[1]
    assert second == untouched
    stripped = [r for r in read_report(tmp_path / "r.jsonl") if r["action"] == "strip"]
    assert [(r["doc_id"], r["block"], r["reason"]) for r in stripped] == [("1", 1, "duplicate")]


def test_what_a_reading_of_the_docs_found_said_wrongly(tmp_path):
    """A JSON array is not JSON lines; an output path ending with / is a folder, a folder output
    named .jsonl a file; eval names the model it scored; --folds 1 names the option."""
    for text in ('[\n  {"text": "a"},\n  {"text": "b"}\n]\n', '[{"text": "a"}, {"text": "b"}]\n'):
        (tmp_path / "array.json").write_text(text, encoding="utf-8")
        for skip in ((), ("--on-error", "skip")):  # the whole input, not a line to set aside
            result = run_dedupe("clean", tmp_path / "array.json", "--dry-run", *skip, cwd=tmp_path)
            assert result.returncode == 2 and "a JSON array, not JSON lines" in result.stderr.decode()
            assert "jq -c" in result.stderr.decode() and not (tmp_path / "array.rejects").exists()
    (tmp_path / "d.jsonl").write_text('[1, 2]\n{"text": "a"}\n', encoding="utf-8")  # one bad line: skipped
    assert run_dedupe("clean", tmp_path / "d.jsonl", "--dry-run", "--on-error", "skip", cwd=tmp_path).returncode == 0
    result = run_dedupe("clean", tmp_path / "d.jsonl", "-o", f"{tmp_path}/out/")
    assert result.returncode == 3 and "ends with /" in result.stderr.decode() and not (tmp_path / "out").exists()
    result = run_dedupe("clean", SEEDS, "-o", tmp_path / "cleaned.jsonl")
    assert result.returncode == 3 and "a folder name" in result.stderr.decode()
    assert not (tmp_path / "cleaned.jsonl").exists()
    model = ROOT / "src" / "dedupe" / "models" / "boilerplate-v1.json"
    result = run_dedupe("eval", "tests/data/seeds.labelled.jsonl", "--model", model)
    assert f"model {model}" in result.stdout.decode() and "shipped" not in result.stdout.decode()
    assert json.loads(run_dedupe("eval", "tests/data/seeds.labelled.jsonl", "--json").stdout)["model"] == "shipped"
    result = run_dedupe("clean", SEEDS, "--dry-run", "--detect", "boilerplate", "--strip", "template")
    assert result.returncode == 2 and "nothing would be stripped" in result.stderr.decode()  # (it ran, exit 0)
    result = run_dedupe("train", "tests/data/seeds.labelled.jsonl", "-o", tmp_path / "m.json", "--folds", "1")
    assert result.returncode == 2 and "--folds must be 0" in result.stderr.decode()


def test_standard_output_gets_every_byte_through_a_slow_non_blocking_pipe(tmp_path, corpus):
    """A pipe left non-blocking by the process before (shared with another program), read
    late: under PYTHONUNBUFFERED=1 Python's stream dropped the rest of each short write (10 of
    2,000 documents arrived, exit 0); without it the run ended in "write could not complete
    without blocking". The writer now waits until the pipe takes more."""
    import fcntl
    import random
    import time

    rng = random.Random(5)
    words = " ".join(corpus).split()
    lines = "".join(json.dumps({"id": n, "text": "\n".join(" ".join(rng.choices(words, k=40)) for _ in range(20))})
                    + "\n" for n in range(400))  # (no copies: some 2 MB of output)
    (tmp_path / "dump.jsonl").write_text(lines, encoding="utf-8")
    one_pass = ("--detect", "duplicate,near-duplicate")  # writing from the start, while the pipe is full
    expected = run_dedupe("clean", tmp_path / "dump.jsonl", "-o", "-", "--quiet", *one_pass).stdout
    assert expected.count(b"\n") == 400
    for unbuffered in ("1", ""):
        env = {**os.environ, "PYTHONUNBUFFERED": unbuffered}
        if not unbuffered:
            env.pop("PYTHONUNBUFFERED")
        read_end, write_end = os.pipe()
        fcntl.fcntl(write_end, fcntl.F_SETFL, fcntl.fcntl(write_end, fcntl.F_GETFL) | os.O_NONBLOCK)
        process = subprocess.Popen([console_script(), "clean", str(tmp_path / "dump.jsonl"), "-o", "-", "--quiet",
                                    *one_pass], stdout=write_end, stderr=subprocess.PIPE, env=env)
        os.close(write_end)
        time.sleep(2)  # the pipe fills
        with os.fdopen(read_end, "rb") as reader:
            got = reader.read()
        assert process.wait(timeout=120) == 0, process.stderr.read()
        assert got == expected, (unbuffered, got.count(b"\n"))


def test_a_reader_of_standard_error_that_goes_does_not_stop_the_run(tmp_path, corpus):
    """`dedupe clean ... 2>&1 | head`: the first message on stderr met a broken pipe, read as
    stdout's reader gone, and the run ended there, exit 0, its report and rejects never
    written. Messages now go nowhere once stderr's reader has gone, and the run goes on."""
    import random

    rng = random.Random(6)
    good = [json.dumps({"id": n, "text": "\n".join(rng.sample(corpus, 10))}) for n in range(300)]
    lines = "".join(f"{line}\n{{not json {n}\n" for n, line in enumerate(good))  # a message per bad line
    script = (f"{console_script()} clean - -o {tmp_path}/out.jsonl --report {tmp_path}/r.jsonl --on-error skip "
              f"--rejects {tmp_path}/bad.rej 2>&1 | head -n 1 >/dev/null; echo ${{PIPESTATUS[0]}}")
    done = subprocess.run(["bash", "-c", script], input=lines.encode(), capture_output=True, timeout=300)
    assert done.stdout.decode().strip() == "0", done
    assert len((tmp_path / "out.jsonl").read_text().splitlines()) == 300
    assert len((tmp_path / "bad.rej").read_text().splitlines()) == 300
    assert (tmp_path / "r.jsonl").stat().st_size > 0


def test_a_stopped_run_says_what_standard_output_already_got(tmp_path, corpus):
    """Stopped while documents were going to stdout, a run said "no output was written"."""
    import random
    import time

    rng = random.Random(8)
    lines = "".join(json.dumps({"id": n, "text": "\n".join(rng.sample(corpus, 20))}) + "\n" for n in range(20000))
    (tmp_path / "dump.jsonl").write_text(lines, encoding="utf-8")
    with open(tmp_path / "got.jsonl", "wb") as out:
        process = subprocess.Popen([console_script(), "clean", str(tmp_path / "dump.jsonl"), "-o", "-", "--workers", "1",
                                    "--detect", "duplicate,near-duplicate"],  # one pass: output from the start
                                   stdout=out, stderr=subprocess.PIPE)
        for _ in range(600):
            time.sleep(0.05)
            if (tmp_path / "got.jsonl").stat().st_size > 0:
                break
        process.send_signal(signal.SIGINT)
        error = process.communicate(timeout=120)[1].decode()
    got = (tmp_path / "got.jsonl").stat().st_size
    assert process.returncode == 130 and got > 0, error
    assert f"standard output got {got:,} bytes before the stop: it is incomplete" in error, error
