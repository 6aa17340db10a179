"""Ground truth of a benchmark dump written by ``benchmarks/make_dump.py``, and how to score against it.

``DIR/truth.jsonl`` holds one line per *injected copy*::

    {"doc_id": "doc-000000042", "block": 3, "kind": "near",
     "of": {"doc_id": "doc-000000007", "block": 1}, "jaccard": 0.8571}

``block`` is the 0-based index of the line among the document's non-empty lines (the text is the
paragraphs joined by "\\n", and the generator writes no empty lines).  ``of`` is the block it was
copied from, always *earlier in dump order* (an earlier document, or an earlier block of the same
document).  ``kind`` is one of

- ``exact``: verbatim copy of an earlier paragraph;
- ``near``: lightly edited copy (word edits, spelling variant, quotes, dashes, punctuation, case);
- ``syndicated``: one paragraph of a whole earlier article republished under another id/source
  (one of its paragraphs may be lightly edited);
- ``template``: a site line (``Join our WhatsApp channel ...``) repeated; its ``of`` is the line's
  first occurrence anywhere in the dump.

``jaccard`` is the word 5-gram Jaccard similarity with the ``of`` block after
:func:`normalise_for_truth` (1.0 for exact and template lines).

Convention: the *first* occurrence of a text is the original and is never in the truth; every
later copy is.  A method that keeps the first occurrence and strips later ones can reach recall 1
and precision 1.  Base paragraphs (everything not in the truth) are generated to be pairwise
dissimilar (5-gram Jaccard well below 0.5), so a flagged block that is not in the truth is a real
false positive, except that :func:`score_duplicates` reports separately the flagged blocks that
are *originals* of some copy (a method that strips the first occurrence instead of a later one),
including first occurrences of template lines (a boilerplate remover strips those too).

Example::

    >>> truth = load_truth("benchmarks/data/d10k")                  # doctest: +SKIP
    >>> score_duplicates(truth, {("doc-000000042", 3)})["recall"]   # doctest: +SKIP
"""

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path
from typing import Iterable, NamedTuple

KINDS = ("exact", "near", "syndicated", "template")
DUPLICATE_KINDS = ("exact", "near", "syndicated")

# Quote and dash variants are unified (curly -> straight, dashes -> "-") and then, being
# punctuation, folded into separators like every other non-word character.  The one place where
# unification changes the result is an apostrophe inside a word ("don't" -> "dont", "Amini's" ->
# "aminis": the word stays one token), so every apostrophe variant is dropped there directly.
_APOSTROPHES = "'\u2018\u2019\u201a\u201b\u2032\u00b4`"
_INNER_APOSTROPHE = re.compile(rf"(?<=\w)[{_APOSTROPHES}](?=\w)")
_NON_WORD = re.compile(r"[^\w]+")


def normalise_for_truth(text: str) -> list[str]:
    """The word tokens that truth Jaccard values are computed on.

    NFKC, lower-case, apostrophes (straight or curly) inside words dropped, every other run of
    non-word characters (punctuation, quotes, dashes, whitespace) -> one separator; the words
    are what is left.  Case, quote, dash and punctuation edits therefore leave the words
    unchanged; word substitutions, insertions, deletions and spelling variants do not.

    >>> normalise_for_truth("He said: \u201cIt\u2019s well\u2014known.\u201d")
    ['he', 'said', 'its', 'well', 'known']
    """
    if not text.isascii():   # NFKC is the identity on ASCII
        text = unicodedata.normalize("NFKC", text)
    text = _INNER_APOSTROPHE.sub("", text.lower())
    return _NON_WORD.sub(" ", text).split()


def shingles(tokens: list[str], k: int = 5) -> set[tuple[str, ...]]:
    """Set of word k-grams; a text shorter than k words is one shingle (itself)."""
    if len(tokens) < k:
        return {tuple(tokens)}
    return set(zip(*(tokens[i:] for i in range(k))))


def jaccard(a: str, b: str, k: int = 5) -> float:
    """Word k-gram Jaccard |A & B| / |A | B| of two texts after :func:`normalise_for_truth`.

    >>> jaccard("One two three four five six.", "one TWO three four five six")
    1.0
    """
    sa, sb = shingles(normalise_for_truth(a), k), shingles(normalise_for_truth(b), k)
    union = len(sa | sb)
    return len(sa & sb) / union if union else 1.0


class TruthLine(NamedTuple):
    """One injected copy: its kind, the block it copies and their normalised 5-gram Jaccard."""

    kind: str
    of_doc: str
    of_block: int
    jaccard: float


Key = tuple[str, int]


def load_truth(directory: str | Path, kinds: Iterable[str] = KINDS) -> dict[Key, TruthLine]:
    """Read ``directory/truth.jsonl`` into ``{(doc_id, block): TruthLine}``.

    ``kinds`` keeps only those kinds (template lines are most of the truth; leave them out to save
    memory on big dumps: about 300 bytes per kept line).
    """
    path = Path(directory) / "truth.jsonl"
    wanted = set(kinds)
    unknown = wanted - set(KINDS)
    if unknown:
        raise ValueError(f"unknown truth kinds {sorted(unknown)}; use some of {list(KINDS)}")
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist; write it with benchmarks/make_dump.py")
    intern = {k: k for k in KINDS}
    truth: dict[Key, TruthLine] = {}
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            try:
                rec = json.loads(line)
                kind = intern[rec["kind"]]
                if kind not in wanted:
                    continue
                of = rec["of"]
                truth[(rec["doc_id"], int(rec["block"]))] = TruthLine(
                    kind, of["doc_id"], int(of["block"]), float(rec.get("jaccard", 1.0)))
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{path}:{n}: not a truth line ({exc!r})") from None
    return truth


def _ratio(num: int, den: int) -> float | None:
    return round(num / den, 6) if den else None


def score_duplicates(truth: dict[Key, TruthLine], stripped: Iterable[Key]) -> dict:
    """Score the set of blocks a method flagged as duplicate / near-duplicate / boilerplate.

    ``stripped`` holds ``(doc_id, block)`` pairs.  With T_k the truth lines of kind k and S the
    stripped set:

    - ``recall[k] = |S & T_k| / |T_k|`` for exact, near, syndicated and template, and
      ``recall["duplicates"]`` over exact + near + syndicated (template is kept apart: it measures
      boilerplate removal, not duplicate detection);
    - ``precision = |S & T| / |S|``: a stripped block that is not in the truth is a false positive;
      ``precision_duplicates`` does the same leaving out stripped template lines and first
      occurrences of template lines, for methods that score duplicates only;
    - ``false_positives`` splits S - T into ``originals`` (the block is the ``of`` of some truth
      line: the method stripped the first occurrence, not the copy), ``template_originals``
      (first occurrences of site lines, which a boilerplate remover rightly strips) and
      ``other`` (unrelated blocks: real false positives);
    - ``near_recall_by_jaccard``: near-copy recall per band of true Jaccard, to set thresholds.

    Truth loaded with some kinds left out gives ``None`` for their recall.

    >>> t = {("d2", 0): TruthLine("exact", "d1", 0, 1.0), ("d2", 1): TruthLine("near", "d1", 1, 0.9)}
    >>> s = score_duplicates(t, {("d2", 0), ("d1", 1), ("d3", 4)})
    >>> s["recall"]["exact"], s["recall"]["near"], s["precision"]
    (1.0, 0.0, 0.333333)
    >>> s["false_positives"]
    {'originals': 1, 'template_originals': 0, 'other': 1}
    """
    stripped = set(stripped)
    total = dict.fromkeys(KINDS, 0)
    found = dict.fromkeys(KINDS, 0)
    bands = [(0.8, 0.9), (0.9, 0.95), (0.95, 1.0), (1.0, 1.01)]
    band_total = [0] * len(bands)
    band_found = [0] * len(bands)
    originals: set[Key] = set()
    template_originals: set[Key] = set()
    for key, line in truth.items():
        total[line.kind] += 1
        hit = key in stripped
        found[line.kind] += hit
        (template_originals if line.kind == "template" else originals).add(
            (line.of_doc, line.of_block))
        if line.kind == "near":
            for i, (lo, hi) in enumerate(bands):
                if lo <= line.jaccard < hi or (i == 0 and line.jaccard < lo):
                    band_total[i] += 1
                    band_found[i] += hit
                    break
    tp = sum(found.values())
    fp_keys = stripped - truth.keys()
    fp_orig = len(fp_keys & originals)
    fp_tmpl = len((fp_keys - originals) & template_originals)
    fp_other = len(fp_keys) - fp_orig - fp_tmpl
    dup_total = sum(total[k] for k in DUPLICATE_KINDS)
    dup_found = sum(found[k] for k in DUPLICATE_KINDS)
    dup_stripped = len(stripped) - found["template"] - fp_tmpl
    return {
        "stripped": len(stripped),
        "true_positives": tp,
        "truth_lines": dict(total),
        "found": dict(found),
        "recall": {**{k: _ratio(found[k], total[k]) for k in KINDS},
                   "duplicates": _ratio(dup_found, dup_total)},
        "precision": _ratio(tp, len(stripped)),
        "precision_duplicates": _ratio(dup_found, dup_stripped),
        "false_positives": {"originals": fp_orig, "template_originals": fp_tmpl,
                            "other": fp_other},
        "near_recall_by_jaccard": {
            f"[{lo}, {min(hi, 1.0)}{']' if hi > 1 else ')'}": _ratio(f, t)
            for (lo, hi), f, t in zip(bands, band_found, band_total)},
    }
