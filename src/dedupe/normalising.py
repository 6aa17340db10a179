"""Normalising block text before shingling.

Copies of a paragraph rarely come back byte-identical: a site re-types the quotes, swaps a hyphen
for an em dash, changes case, or an editor turns "brutalised" into "brutalized". ``normalise``
folds those differences away so they cannot hide a copy. It only feeds the fingerprints: the
text that is written out is never touched.

Steps, in order:

1. Unicode NFKC (full-width letters, ligatures and non-breaking spaces become plain ones);
2. case folding (``str.casefold``, stronger than ``lower`` for e.g. German "ß");
3. curly quotes, primes and guillemets become ``'`` and ``"``; every dash and minus becomes ``-``;
4. British spellings are folded onto American ones (``-ise``/``-isation``/``-our`` endings), so
   one regional edit does not break a word n-gram;
5. punctuation becomes white space and white space runs become one space.

Example
-------
>>> normalise("“Brutalised” — the  Colour of NEWS…")
'brutalized the color of news'
"""

from __future__ import annotations

import re
import unicodedata

_QUOTES = "\u2018\u2019\u201a\u201b\u2032\u2035\u0060\u00b4"
_DQUOTES = "\u201c\u201d\u201e\u201f\u2033\u2036\u00ab\u00bb\u2039\u203a"
_DASHES = "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d"

_FOLD_MARKS = str.maketrans(
    {**{c: "'" for c in _QUOTES}, **{c: '"' for c in _DQUOTES}, **{c: "-" for c in _DASHES}}
)

# Punctuation and symbols separate words; apostrophes inside words are dropped so that
# "don't" and "dont" agree.
_APOSTROPHE = re.compile(r"(?<=\w)'(?=\w)")
_PUNCT = re.compile(r"[^\w\s]+|_+")
_SPACES = re.compile(r"\s+")

# British -> American endings, applied to whole words of 5+ letters. Only fingerprints see the
# result, so an occasional odd stem ("devour" -> "devor") costs nothing.
_BRITISH = re.compile(r"\b(\w{3,}?)(is)(e|ed|es|ing|ation|ations|er|ers)\b|\b(\w{2,}?)our(s|ed|ing|ite|ites|able)?\b")


def _americanise(match: re.Match) -> str:
    if match.group(1) is not None:
        return f"{match.group(1)}iz{match.group(3)}"
    return f"{match.group(4)}or{match.group(5) or ''}"


def normalise(text: str) -> str:
    """Return the comparison form of ``text`` (see the module docstring)."""
    text = unicodedata.normalize("NFKC", text).casefold().translate(_FOLD_MARKS)
    text = _PUNCT.sub(" ", _APOSTROPHE.sub("", text))
    text = _BRITISH.sub(_americanise, text)
    return _SPACES.sub(" ", text).strip()


def tokens(text: str) -> list[str]:
    """Words of ``text`` after normalising.

    A block made only of punctuation or symbols (a stray bullet "•") has no words; it is then
    represented by its stripped raw text, so two identical symbol lines are still seen as copies.
    """
    words = normalise(text).split()
    if words:
        return words
    raw = text.strip()
    return [raw] if raw else []
