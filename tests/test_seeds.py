"""The promises made about the bundled seed articles, checked through the Python API."""

import pytest

from dedupe.pipeline import Cleaner
from dedupe.reading import read_documents

from conftest import SEEDS

SEED_002 = "002_3474f9fe90996d73.txt"
SEED_003 = "003_56a6f180515b1c60.txt"
SEED_004 = "004_e2b3fa343296aad9.txt"


def line_of(text: str, offset: int) -> int:
    """1-based line number of a character offset."""
    return text.count("\n", 0, offset) + 1


@pytest.fixture(scope="module")
def cleaned():
    docs = {}
    for c in Cleaner(strip=frozenset({"duplicate", "near-duplicate"})).clean(read_documents(str(SEEDS))):
        docs[c.document.id] = c
    return docs


def stripped_lines(c) -> dict[int, object]:
    return {line_of(c.document.text, d.start): d for d in c.decisions if d.action == "strip"
            and d.reason in ("duplicate", "near-duplicate")}


def test_seed_002_second_rowling_passage_goes_and_first_stays(cleaned):
    c = cleaned[SEED_002]
    gone = stripped_lines(c)
    assert sorted(gone) == list(range(127, 133))
    # each stripped line points at its counterpart in the first copy (lines 121-126)
    for line, decision in gone.items():
        kept = c.decisions[decision.duplicate_of.block]
        assert decision.duplicate_of.doc_id == SEED_002
        assert line_of(c.document.text, kept.start) == line - 6
        assert kept.action == "keep"
    assert gone[127].text.startswith("Rowling wrote:") and gone[127].reason == "duplicate"
    assert gone[129].text == "Other powerful images"
    kept_text = c.text
    assert kept_text.count("Rowling wrote:") == 1 and kept_text.count("Other powerful images") == 1


def test_seed_004_repeated_lines_6_to_8_go_and_3_to_5_stay(cleaned):
    c = cleaned[SEED_004]
    gone = stripped_lines(c)
    assert sorted(gone) == [6, 7, 8]
    assert [line_of(c.document.text, c.decisions[d.duplicate_of.block].start) for d in gone.values()] == [3, 4, 5]
    assert all(d.reason == "duplicate" and d.score == 1.0 for d in gone.values())


def test_seed_003_loses_nothing_to_deduplication(cleaned):
    c = cleaned[SEED_003]
    assert stripped_lines(c) == {}


def test_hard_cases_in_seeds_000_and_001(cleaned):
    # title repeated with "[Image Credits: Reuters]": the captioned copy goes, the title stays
    c = cleaned["001_43018af202d45d18.txt"]
    assert sorted(stripped_lines(c)) == [3]
    assert stripped_lines(c)[3].duplicate_of.block == 0
    # standfirst repeated with small edits as a body paragraph: the later copy goes
    c = cleaned["000_f0c1938aad460872.txt"]
    assert sorted(stripped_lines(c)) == [10]
    assert line_of(c.document.text, c.decisions[stripped_lines(c)[10].duplicate_of.block].start) == 3
