"""Normalising block text before shingling.

Copies of a paragraph rarely come back byte-identical: a site re-types the quotes, swaps a hyphen
for an em dash, changes case, or an editor turns "brutalised" into "brutalized". Normalising
folds those differences away so they cannot hide a copy. It only feeds the fingerprints: the
text that is written out is never touched.

Steps, in order:

1. Unicode NFKC (full-width letters, ligatures and non-breaking spaces become plain ones);
2. case folding (``str.casefold``, stronger than ``lower`` for e.g. German "ß");
3. curly quotes, primes and guillemets, dashes, ellipses and the common typographic symbols are
   folded to ASCII, apostrophes and invisible characters (byte-order marks, soft hyphens,
   zero-width spaces and joiners) are dropped ("don't" = "dont"), Russian ё is е, and every
   other ASCII punctuation mark separates words;
4. British spellings are folded onto American ones (``-ise``/``-isation``/``-our`` endings of
   longer words, and some 150 words such as "centre", "programme", "travelled", "defence"),
   so one regional edit does not break a word n-gram.

The work is done on UTF-8 bytes for a whole batch of blocks at once (``bytes.translate`` and
``bytes.replace`` run at memory speed); spelling folds are applied per distinct word by the
shingler's word cache (:func:`fold_spelling`), so they cost nothing per occurrence.

Example
-------
>>> normalise("“Brutalised” — the  Colour of NEWS…")
'brutalized the color of news'
"""

from __future__ import annotations

import functools
import re
import string
import unicodedata
from typing import Callable

import numpy as np

from . import native
from .tokentable import token_bounds

_APOSTROPHES = "'\u2018\u2019\u201a\u201b\u2032\u2035\u0060\u00b4\u02bc"
_SEPARATORS = (
    "\u201c\u201d\u201e\u201f\u2033\u2036\u00ab\u00bb\u2039\u203a"  # double quotes, guillemets
    "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63"  # dashes and minus
    "\u2026\u2022\u00b7\u2027\u00a1\u00bf\u00a7\u00b6\u2020\u2021\u00a9\u00ae\u2122\u00b0"
    "\u3001\u3002\uff0c\uff01\uff1f\u060c\u061f\u00a6"
    "\u0964\u0965\u06d4"  # the danda and double danda (Hindi, Bengali...), Urdu's full stop
)
# Typographic characters, folded in one regex pass before the byte-wise table applies.
# Invisible ones are no text: U+FEFF, a byte-order mark (the start of a .txt saved by Notepad)
# or a zero-width no-break space, so the first paragraph of such a file is an exact copy of
# itself elsewhere; soft hyphens (U+00AD, in long words of German), zero-width spaces (U+200B,
# between the words of Thai or Chinese), joiners and non-joiners (U+200C, U+200D: Persian, Hindi)
# and word joiners (U+2060) made a copy that looks the same on screen a different text
# (Jaccard 0.14-0.43). Two spellings of one letter are one: Russian ё, often written е, and the
# Arabic tatweel (U+0640), which only stretches a word.
_INVISIBLE = "\ufeff\u00ad\u200b\u200c\u200d\u2060\u0640"
_VARIANTS = {"ё": "е", "Ё": "е"}
_FOLDS = {**{c: "" for c in _APOSTROPHES + _INVISIBLE if ord(c) > 127}, **{c: " " for c in _SEPARATORS}, **_VARIANTS}
_TYPOGRAPHIC = re.compile("[" + re.escape("".join(_FOLDS)) + "]")
_ASCII_PUNCT = (string.punctuation.replace("'", "")).encode("ascii")
_TABLE = bytes.maketrans(_ASCII_PUNCT, b" " * len(_ASCII_PUNCT))

_BRITISH = re.compile(r"^(\w{3,}?)is(e|ed|es|ing|ation|ations|er|ers)$|^(\w{2,}?)our(s|ed|ing|ite|ites|able)?$")
# British words the endings above do not reach, as wire copy re-edited for another market
# spells them (an exploring helper's count on the labelled pages: a paragraph with one of them
# re-spelt was found as a copy 41 times in 63).
_BRITISH_WORDS = {
    **{f"{stem}re{end}": f"{stem}er{end}" for stem in ("cent", "theat", "met", "lit", "fib", "calib", "sab",
                                                      "spect", "lust", "somb", "kilomet", "centimet", "millimet")
       for end in ("", "s")},
    **{f"{stem}ence{end}": f"{stem}ense{end}" for stem in ("def", "off", "lic", "pret") for end in ("", "s")},
    **{f"{stem}l{end}": f"{stem}{end}"  # "travelled" -> "traveled"
       for stem in ("travel", "cancel", "label", "model", "fuel", "signal", "total", "level", "counsel", "channel",
                    "dial", "marshal", "quarrel", "rival", "tunnel", "equal")
       for end in ("ed", "ing", "er", "ers")},
    **{f"{stem}yse{end}": f"{stem}yze{end}" for stem in ("anal", "paral", "catal", "dial")
       for end in ("", "s", "d")},
    **{f"{stem}ysing": f"{stem}yzing" for stem in ("anal", "paral", "catal")},
    "programme": "program", "programmes": "programs", "grey": "gray", "greys": "grays",
    "tyre": "tire", "tyres": "tires", "aluminium": "aluminum", "jewellery": "jewelry",
    "catalogue": "catalog", "catalogues": "catalogs", "dialogue": "dialog", "dialogues": "dialogs",
    "manoeuvre": "maneuver", "manoeuvres": "maneuvers", "ageing": "aging", "judgement": "judgment",
    "judgements": "judgments", "sceptical": "skeptical", "sceptic": "skeptic", "sceptics": "skeptics",
    "plough": "plow", "ploughs": "plows", "pyjamas": "pajamas", "moustache": "mustache", "kerb": "curb",
    "storey": "story", "storeys": "stories", "practise": "practice", "practised": "practiced",
    "enrol": "enroll", "enrolment": "enrollment", "fulfil": "fulfill", "fulfilment": "fulfillment",
    "instil": "instill", "skilful": "skillful", "wilful": "willful", "draught": "draft", "cosy": "cozy",
    "oestrogen": "estrogen", "paediatric": "pediatric", "orthopaedic": "orthopedic", "anaemia": "anemia",
    "diarrhoea": "diarrhea", "foetus": "fetus", "haemorrhage": "hemorrhage", "leukaemia": "leukemia",
    "oesophagus": "esophagus", "encyclopaedia": "encyclopedia", "mum": "mom", "mums": "moms",
}


def fold_spelling(word: str) -> str:
    """British -> American spelling of one normalised word ("colour" -> "color", "centre" ->
    "center")."""
    folded = _BRITISH_WORDS.get(word)
    if folded is not None:
        return folded
    match = _BRITISH.match(word)
    if match is None:
        return word
    if match.group(1) is not None:
        return f"{match.group(1)}iz{match.group(2)}"
    return f"{match.group(3)}or{match.group(4) or ''}"


def _fold_typographic(text: str) -> str:
    # One pass, a dict lookup per occurrence: a chunk of news holds some 10k of them (curly
    # quotes mostly), and a str.replace per distinct character copied the whole chunk each time
    # (7.9 against 12 ms for 256 documents).
    return _TYPOGRAPHIC.sub(_folded, text)


def _folded(match: re.Match) -> str:
    return _FOLDS[match.group()]


def _folded_bytes(text: str) -> bytes:
    """Steps 1-3 of one text (or of texts joined by newlines), as UTF-8."""
    if not text.isascii():
        text = _fold_typographic(text)
        if not unicodedata.is_normalized("NFKC", text):
            text = _fold_typographic(unicodedata.normalize("NFKC", text))
    return text.casefold().encode("utf-8", "surrogatepass").translate(_TABLE, b"'")


def lowered_ascii_map(table: bytes, deleted: bytes = b"") -> np.ndarray:
    """What ``text.lower().encode().translate(table, deleted)`` does to each ASCII byte, as
    :func:`fold_lines` takes it."""
    mapped = np.array([table[b + 32 if 65 <= b <= 90 else b] for b in range(256)], np.int16)
    mapped[list(deleted)] = -1
    return mapped


def code_points(size: int) -> str:
    """Every code point below ``size`` as one string, in order (surrogates included)."""
    return np.arange(size, dtype=np.uint32).tobytes().decode("utf-32-le", "surrogatepass")


def fold_each(text: str, fold: Callable[[str], str], block: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """``ord(fold(c))`` of every character ``c`` of ``text``, as uint32, for a fold that maps
    most characters to one character each and needs no context (``str.casefold``; or
    ``str.lower``, whose final sigma the caller leaves to Python): the whole text is folded in
    one call. Also returns the positions whose fold is not one character (their entry is that
    of "a"), found by folding ``block`` characters at a time."""
    odd = [at + k for at in range(0, len(text), block) if len(fold(text[at:at + block])) != len(text[at:at + block])
           for k, c in enumerate(text[at:at + block]) if len(fold(c)) != 1]
    if odd:
        characters = list(text)
        for k in odd:
            characters[k] = "a"
        text = "".join(characters)
    folded = fold(text)
    return np.frombuffer(folded.encode("utf-32-le", "surrogatepass"), np.uint32).copy(), np.array(odd, np.int64)


def character_map(folded: np.ndarray, python: np.ndarray) -> np.ndarray:
    """The ``bmp`` table of :func:`fold_lines` (uint32, one entry per code point) for a fold of
    one character: ``folded[cp]`` is the code point ``chr(cp)`` becomes, and ``python[cp]``
    marks the code points whose fold needs Python (a change of length, or of its neighbours).
    Surrogates are left to Python, and so is a character of the Basic Multilingual Plane that
    would become one beyond it (the folded UTF-8 stays within 3/2 of the original).

    Built from whole-string folds (:func:`fold_each`), not a Python call per code point: the
    tables are made once per process, but before the first chunk of every run."""
    table = folded.astype(np.uint32, copy=True)
    table[(folded >= 0x10000) & (np.arange(len(folded)) < 0x10000)] = native.Kernels.FOLD_PYTHON
    table[python] = native.Kernels.FOLD_PYTHON
    table[0xD800:0xE000] = native.Kernels.FOLD_PYTHON
    return table


def _second_in_composition() -> frozenset[int]:
    """Starters that NFKC may compose with the character before them."""
    # every canonical pair lies below U+30000 (above it: unassigned planes and private use)
    decompositions = map(str.split, filter(None, map(unicodedata.decomposition, code_points(0x30000))))
    second = {int(d[1], 16) for d in decompositions if len(d) == 2 and not d[0].startswith("<")}
    return frozenset(second | set(range(0x1161, 0x1176)) | set(range(0x11A8, 0x11C3)))  # and Hangul's V and T


@functools.lru_cache(maxsize=None)
def steps_map() -> np.ndarray:
    """:func:`character_map` of steps 1-3 (made once per process): the typographic folds, and
    case folding where a character is its own NFKC form and no neighbour can change it (it is
    neither a combining mark nor the second of a canonical composition)."""
    every = code_points(0x10000)
    n = len(every)
    folded, odd = fold_each(every, str.casefold)
    python = ~np.fromiter(map(functools.partial(unicodedata.is_normalized, "NFKC"), every), bool, n)
    python |= np.fromiter(map(unicodedata.combining, every), np.int64, n) > 0
    second = np.fromiter(_second_in_composition(), np.int64)
    python[second[second < n]] = True
    python[odd] = True
    for c, replacement in _FOLDS.items():  # a space or nothing, wherever they stand
        python[ord(c)] = False
        if replacement:
            folded[ord(c)] = ord(replacement)
    table = character_map(folded, python)
    table[[ord(c) for c, replacement in _FOLDS.items() if not replacement]] = native.Kernels.FOLD_DROP
    return table


_ASCII_STEPS = lowered_ascii_map(_TABLE, b"'")


def utf8_joined(texts: list[str], separator: bytes = b"") -> bytes:
    """``separator.decode().join(texts)`` as UTF-8 (lone surrogates as "surrogatepass" writes
    them), each text encoded on its own: joined first, every text would be widened to the
    widest one's characters (one emoji makes a chunk four bytes a character) and narrowed back."""
    return separator.join([text.encode("utf-8", "surrogatepass") for text in texts])


class Lines(list):
    """Block texts (a list of str) holding their UTF-8, joined by newlines, so that the steps
    that fold the same blocks (shingling, the off-topic term counts) encode them once: given,
    or made on first use. :meth:`of_documents` encodes a document whose blocks are all its lines
    in one call instead of one a block (the calls were half the cost of the encoding)."""

    __slots__ = ("_utf8",)

    def __init__(self, texts=(), utf8: bytes | None = None):
        super().__init__(texts)
        self._utf8 = utf8

    @property
    def utf8(self) -> bytes:
        if self._utf8 is None:
            self._utf8 = utf8_joined(self, b"\n")
        return self._utf8

    @classmethod
    def of_documents(cls, texts: list[str], blocks: list[list[str]], whole=None) -> "Lines":
        """Every block of the documents ``texts``, in order; ``blocks[d]``: the block texts of
        ``texts[d]``, as segmenting gives them (non-empty lines that are not all white space).
        ``whole[d]``: every line of ``texts[d]`` is a block (``Segments.whole``), when the caller
        knows it; counted here otherwise."""
        if whole is None:
            whole = [len(lines) == text.count("\n") + 1 and "\r" not in text for text, lines in zip(texts, blocks)]
        pieces = []
        for text, lines, every_line in zip(texts, blocks, whole):
            if every_line:
                pieces.append(text.encode("utf-8", "surrogatepass"))
            elif lines:
                pieces.append(utf8_joined(lines, b"\n"))
        return cls([line for lines in blocks for line in lines], b"\n".join(pieces))


def fold_lines(texts: list[str], fold: Callable[[str], bytes], ascii_map: np.ndarray,
               bmp_map: Callable[[], np.ndarray]) -> tuple[bytes, int]:
    """``fold("\\n".join(texts))`` for a fold of one character at a time that keeps newlines,
    given what it does to ASCII (``ascii_map``: byte -> byte, -1 dropped) and to the other
    characters (``bmp_map()``, see :func:`character_map`), and how many newlines it holds (one
    fewer than the texts, unless some text held or folded into one). With the compiled kernels,
    only the texts holding characters that need Python go through ``fold``, one by one."""
    kernels = native.load()
    if kernels is None:
        data = fold("\n".join(texts))
        return data, data.count(b"\n")
    data = texts.utf8 if isinstance(texts, Lines) else utf8_joined(texts, b"\n")
    folded, odd, newlines_read, newlines = kernels.fold_utf8(data, len(texts), ascii_map,
                                                             bmp_map() if not data.isascii() else _NO_MAP)
    if newlines_read != len(texts) - 1:  # a text holds a newline: no line is one text
        data = fold("\n".join(texts))
        return data, data.count(b"\n")
    if not len(odd):
        return folded, newlines
    line_ends = np.flatnonzero(np.frombuffer(folded, np.uint8) == 0x0A).tolist() + [len(folded)]
    pieces, cursor = [], 0
    for k in odd.tolist():
        start = line_ends[k - 1] + 1 if k else 0
        pieces += (folded[cursor:start], fold(texts[k]))
        cursor = line_ends[k]
    pieces.append(folded[cursor:])
    data = b"".join(pieces)
    return data, data.count(b"\n")


_NO_MAP = np.zeros(0, np.uint32)  # ASCII text reads no entry


def normalised_tokens(texts: list[str]) -> tuple[bytes, np.ndarray, np.ndarray, np.ndarray]:
    """The texts after steps 1-3, as one UTF-8 buffer (texts joined by newlines), the
    ``[start, end)`` byte spans of its words in order, and how many words each text has;
    spelling is folded per distinct word later. Each character of a script written without
    spaces (Chinese, Japanese, Thai...) is a word.

    >>> data, starts, ends, counts = normalised_tokens(["Don’t  panic!", "", "42", "東京で"])
    >>> [data[s:e].decode() for s, e in zip(starts, ends)], counts
    (['dont', 'panic', '42', '東', '京', 'で'], array([2, 0, 1, 3]))
    """
    data, newlines = fold_lines(texts, _folded_bytes, _ASCII_STEPS, steps_map)
    if texts and newlines != len(texts) - 1:  # a text held a line break after all: take them out
        return normalised_tokens([t.replace("\n", " ").replace("\r", " ") for t in texts])
    # A word belongs to the text whose line holds its first byte.
    raw = np.frombuffer(data, np.uint8)
    starts, ends, text_of = token_bounds(raw, lines=True, unspaced=True)
    return data, starts, ends, np.bincount(text_of, minlength=len(texts))


def normalised_words(texts: list[str]) -> tuple[list[bytes], np.ndarray]:
    """Words of all texts (UTF-8 bytes, in order) after steps 1-3, and how many each text has.

    >>> normalised_words(["Don’t  panic!", "", "42"])
    ([b'dont', b'panic', b'42'], array([2, 0, 1]))
    """
    data, starts, ends, counts = normalised_tokens(texts)
    return list(map(data.__getitem__, map(slice, starts.tolist(), ends.tolist()))), counts


def normalise(text: str) -> str:
    """The comparison form of ``text`` (see the module docstring)."""
    words, _ = normalised_words([text.replace("\n", " ").replace("\r", " ")])
    return " ".join(fold_spelling(w.decode("utf-8", "surrogatepass")) for w in words)
