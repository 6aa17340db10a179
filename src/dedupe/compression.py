"""Gzip for ``.gz`` inputs and outputs: Intel's ISA-L deflate (python-isal) where it is
installed, the zlib module's otherwise.

A dump's cleaned output and report run to gigabytes, and compressing them in the main process
was half of a ``dedupe clean -o out.jsonl.gz --report report.jsonl.gz`` run with the zlib
module. ISA-L writes the same format (any gzip reader reads it) ten times as fast, for a file
a tenth larger than zlib's level 6, and reads gzip twice as fast. On the 10k-document benchmark
dump (the cleaned output, 28 MB, and the report, 98 MB, in one process):

============================  ===============  ==========================
compressor                    MB/s             compressed / original size
============================  ===============  ==========================
zlib, level 6 (``gzip``'s)    17 / 27          0.407 / 0.310
zlib, level 1                 82 / 91          0.483 / 0.361
ISA-L, level 2 (its default)  290 / 338        0.458 / 0.345
============================  ===============  ==========================

The level is ISA-L's own default, a middle of its four (0-3); zlib's fallback keeps the gzip
command's 6. Output is byte-identical run to run for one compressor (``mtime=0``), but not
between the two.

>>> import io
>>> buffer = io.BytesIO()
>>> with gzip_writer(buffer) as f:
...     _ = f.write(b"one line\\n")
>>> open_gzip(io.BytesIO(buffer.getvalue())).read()
b'one line\\n'
"""

from __future__ import annotations

import gzip
import zlib

try:
    from isal import igzip as _gzip
    from isal.isal_zlib import error as _isal_error
    ENGINE, LEVEL = "isal", 2
except ImportError:  # a platform without its wheels: the standard library's, a few times slower
    _gzip, _isal_error = gzip, zlib.error
    ENGINE, LEVEL = "zlib", 6

# What reading a damaged or truncated gzip file raises, besides OSError (BadGzipFile is one):
# an end cut off (EOFError), a corrupt deflate block (zlib.error, or ISA-L's own error).
DAMAGED = (EOFError, gzip.BadGzipFile, zlib.error, _isal_error)


def is_gzip_name(name) -> bool:
    """A path whose name says gzip: ends in ``.gz``, in any case (``DUMP.JSONL.GZ``)."""
    return str(name).lower().endswith(".gz")


GZIP_MAGIC = b"\x1f\x8b"


def is_gzip_file(path) -> bool:
    """A regular file whose first bytes are gzip's, whatever its name: a dump saved as
    ``part-00000.gz``, or a ``.jsonl`` that was compressed and kept its name. (Only for files:
    the two bytes read from a pipe would be gone.)"""
    try:
        with open(path, "rb") as f:
            return f.read(2) == GZIP_MAGIC
    except OSError:  # told when it is opened for reading, with the reader's message
        return False


def open_gzip(file, mode: str = "rb", **text_options):
    """``gzip.open`` with the faster engine; ``file`` is a path or a binary file object."""
    return _gzip.open(file, mode, **text_options)


def gzip_writer(fileobj, level: int = LEVEL):
    """A binary gzip stream writing into ``fileobj``, with no file name and a zero time in its
    header, so that the same input gives the same bytes."""
    return _gzip.GzipFile(filename="", mode="wb", fileobj=fileobj, mtime=0, compresslevel=level)
