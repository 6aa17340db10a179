"""Outputs appear whole or not at all, and nothing is left beside them."""

import errno
import gzip
import os
import subprocess
import sys

import pytest

from dedupe import writing
from dedupe.errors import OutputError
from dedupe.writing import AtomicFile


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@pytest.fixture(params=["unnamed", "linked-elsewhere", "hidden-sibling"])
def way(request, monkeypatch):
    """How the file is kept until complete: without a name (O_TMPFILE); without a name on a
    system where it cannot be linked at the end (then copied); as a hidden sibling (no
    O_TMPFILE)."""
    if request.param == "linked-elsewhere":
        def refused(*args, **kwargs):
            raise OSError(errno.EXDEV, "Invalid cross-device link")

        monkeypatch.setattr(writing.os, "link", refused)
    elif request.param == "hidden-sibling":
        monkeypatch.setattr(writing, "_unnamed_file", lambda folder: None)
    return request.param


def test_an_output_appears_whole_with_the_usual_mode_and_nothing_beside_it(tmp_path, way):
    target = tmp_path / "out.jsonl"
    target.write_text("the previous run\n")
    with AtomicFile(target) as f:
        f.write("line one\n" * 10000)
        if way != "hidden-sibling":  # nothing named until the end: a killed run leaves nothing
            assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl"]
        assert target.read_text() == "the previous run\n"
    assert target.read_text() == "line one\n" * 10000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl"]
    assert target.stat().st_mode & 0o777 == 0o666 & ~_umask()


def test_a_failed_output_leaves_the_previous_file_and_nothing_else(tmp_path, way):
    target = tmp_path / "out.jsonl.gz"
    target.write_bytes(b"previous")
    with pytest.raises(RuntimeError):
        with AtomicFile(target) as f:
            f.write("half of it\n")
            raise RuntimeError("stopped")
    assert target.read_bytes() == b"previous" and [p.name for p in tmp_path.iterdir()] == ["out.jsonl.gz"]
    with AtomicFile(target) as f:
        f.write("whole\n")
    assert gzip.decompress(target.read_bytes()) == b"whole\n"


def test_an_output_that_cannot_be_named_is_an_output_error(tmp_path, monkeypatch):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(writing.os, "link", full)
    monkeypatch.setattr(writing.os, "replace", full)
    with pytest.raises(OutputError, match="No space left on device"):
        with AtomicFile(tmp_path / "out.jsonl") as f:
            f.write("done\n")
    assert list(tmp_path.iterdir()) == []


def test_a_folder_output_removes_only_what_killed_runs_left(tmp_path):
    """A run killed outright leaves the hidden folder its folder output was being built in; the
    next run of that output removes such folders, unless a living run holds one (locked), and
    leaves alone a replaced output set aside (.old, maybe the only copy) and other outputs'."""
    import subprocess
    import sys

    from dedupe.writing import TextDirWriter

    out = tmp_path / "out"
    abandoned, busy, set_aside, other = (tmp_path / name for name in (
        ".out.abcd1234.tmp", ".out.efgh5678.tmp", ".out.ijkl9012.old", ".other.abcd1234.tmp"))
    for folder in (abandoned, busy, set_aside, other):
        folder.mkdir()
        (folder / "a.txt").write_text("left over")
    holder = subprocess.Popen([sys.executable, "-c", "import fcntl, os, sys, time\n"
                               f"fd = os.open({str(busy)!r}, os.O_RDONLY)\nfcntl.flock(fd, fcntl.LOCK_EX)\n"
                               "print('held', flush=True)\ntime.sleep(60)"], stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline() == b"held\n"
        with TextDirWriter(out) as writer:
            writer.write("a.txt", "new")
    finally:
        holder.kill()
        holder.wait()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in (out, busy, set_aside, other))
    assert (out / "a.txt").read_text() == "new"


def test_a_gz_output_is_plain_gzip_and_the_same_bytes_each_run(tmp_path):
    text = "".join(f'{{"id": {k}, "text": "Paragraph {k} of the council\'s report."}}\n' for k in range(20000))
    written = []
    for name in ("a.jsonl.gz", "b.jsonl.gz"):
        with AtomicFile(tmp_path / name) as f:
            f.write(text)
        written.append((tmp_path / name).read_bytes())
    assert written[0] == written[1] and gzip.decompress(written[0]).decode() == text
    assert len(written[0]) < len(text) / 4


def test_without_isal_gzip_goes_through_the_zlib_module(tmp_path):
    """Where python-isal has no wheel it is not installed: the standard library serves instead."""
    code = (
        "import sys; sys.modules['isal'] = None\n"  # import isal -> ImportError
        "from dedupe import compression\n"
        "from dedupe.writing import AtomicFile\n"
        "import gzip, sys\n"
        "with AtomicFile(sys.argv[1]) as f: f.write('a line\\n' * 1000)\n"
        "print(compression.ENGINE, compression.LEVEL, compression.open_gzip(sys.argv[1]).read() == b'a line\\n' * 1000)\n"
    )
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path / "x.gz")], capture_output=True, text=True)
    assert result.stdout.split() == ["zlib", "6", "True"], result.stderr
    assert gzip.decompress((tmp_path / "x.gz").read_bytes()) == b"a line\n" * 1000
