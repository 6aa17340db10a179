"""Splitting a document into blocks.

A block is one non-empty line: scraped article text comes one paragraph per line, sometimes with
blank lines between. Lines end at ``\\n``, ``\\r\\n`` or ``\\r`` only (not at the exotic Unicode
separators ``str.splitlines`` honours, which scrapers leave inside paragraphs). A line of white
space only is not a block.

Each block keeps its offsets in the original text, ``text[block.start:block.end] == block.text``,
and the offset where its line (terminator included) ends, so stripping a block removes exactly its
line and leaves every other character in place.

Example
-------
>>> [(b.index, b.start, b.end, b.text) for b in segment("Title\\n\\nBody one.\\r\\nBody two")]
[(0, 0, 5, 'Title'), (1, 7, 16, 'Body one.'), (2, 18, 26, 'Body two')]
"""

from __future__ import annotations

import re
from itertools import compress
from typing import NamedTuple


_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n|$)")
_BLANK = re.compile(r"\s*")


class Block(NamedTuple):
    """One paragraph of a document: its index among the document's blocks and its offsets."""

    index: int
    start: int
    end: int
    text: str
    line_end: int  # end of the line including its terminator: the span stripping removes


def segment(text: str) -> list[Block]:
    """The non-empty lines of ``text`` as blocks, in order."""
    if "\r" not in text:
        return _segment_lf(text)
    blocks: list[Block] = []
    for match in _LINE.finditer(text):
        start, line_end = match.span()
        if start == line_end:
            break
        line = match.group(0).rstrip("\r\n")
        if _BLANK.fullmatch(line):
            continue
        blocks.append(Block(len(blocks), start, start + len(line), line, line_end))
    return blocks


def segment_texts(text: str) -> list[str]:
    """The texts of :func:`segment`'s blocks, without building the blocks.

    >>> segment_texts("Title\\n\\nBody one.\\r\\nBody two")
    ['Title', 'Body one.', 'Body two']
    """
    if "\r" in text:
        return [block.text for block in segment(text)]
    return [line for line in text.split("\n") if line and not line.isspace()]


def strip_blocks(text: str, blocks: list[Block], remove: list[bool]) -> str:
    """``text`` without the lines of the blocks marked in ``remove``; all else byte-identical.

    >>> text = "Title\\n\\nBody one.\\r\\nBody two"
    >>> strip_blocks(text, segment(text), [False, True, False])
    'Title\\n\\nBody two'
    """
    pieces: list[str] = []
    cursor = 0
    for block in compress(blocks, remove):  # the few stripped blocks only, not a step a block
        pieces.append(text[cursor:block.start])
        cursor = block.line_end
    if not pieces:
        return text
    pieces.append(text[cursor:])
    return "".join(pieces)


def _segment_lf(text: str) -> list[Block]:
    """:func:`segment` for text whose lines all end in ``\\n`` (the common case), via str.split."""
    blocks: list[Block] = []
    start, size = 0, len(text)
    for line in text.split("\n"):
        end = start + len(line)
        if line and not line.isspace():
            # tuple.__new__: the named tuple's own __new__ is a Python call, a third of the time
            blocks.append(_new_tuple(Block, (len(blocks), start, end, line, end + 1 if end < size else size)))
        start = end + 1
    return blocks


_new_tuple = tuple.__new__
