"""Signatures are datasketch's, bit for bit, and the same in every process."""

import subprocess
import sys

import numpy as np
import pytest
from datasketch import MinHash
from datasketch.hashfunc import sha1_hash32

from dedupe.minhash import MinHasher
from dedupe.normalising import normalise
from dedupe.shingling import Shingler, shingle_hash

TEXTS = [
    "Iran is now Russia’s biggest military backer, the US National Security Council warns.",
    "Short heading",
    "•",
    "The Kremlin believes that mass protests in Iran have peaked and that Tehran's leadership "
    "has managed to squash domestic resistance, according to Russian expert Nikita Smagin.",
]


def shingle_strings(text: str, n: int) -> list[bytes]:
    words = normalise(text).split() or [text.strip()]
    if len(words) < n:
        return [" ".join(words).encode()]
    return [" ".join(words[i:i + n]).encode() for i in range(len(words) - n + 1)]


@pytest.mark.parametrize("num_perm,seed,n", [(128, 1, 5), (64, 42, 3), (256, 7, 1)])
def test_signatures_equal_datasketch_minhash_with_the_same_hash(num_perm, seed, n):
    batch = Shingler(n).shingle(TEXTS)
    ours = MinHasher(num_perm, seed, chunk_rows=5).signatures(batch.hashes, batch.offsets)
    for row, text in zip(ours, TEXTS):
        reference = MinHash(num_perm=num_perm, seed=seed, hashfunc=shingle_hash)
        reference.update_batch(shingle_strings(text, n))
        np.testing.assert_array_equal(row, reference.hashvalues)


def test_signatures_equal_default_datasketch_from_sha1_hashes():
    """Fed datasketch's own default shingle hash (SHA-1), the permutation step agrees too."""
    shingles = [f"word{i} word{i + 1}".encode() for i in range(40)]
    hashes = np.array([sha1_hash32(s) for s in shingles], dtype=np.uint32)
    ours = MinHasher(128, 1).signatures(hashes, np.array([0, 40]))
    reference = MinHash(num_perm=128, seed=1)
    for s in shingles:
        reference.update(s)
    np.testing.assert_array_equal(ours[0], reference.hashvalues)


def test_signatures_do_not_depend_on_the_process():
    code = ("from dedupe.shingling import Shingler; from dedupe.minhash import MinHasher;"
            "b = Shingler().shingle(['one two three four five six seven', 'Hello world']);"
            "print(MinHasher().signatures(b.hashes, b.offsets).sum(axis=1).tolist())")
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           env={"PYTHONHASHSEED": str(seed), "PATH": ""}).stdout for seed in (0, 1, 2)}
    assert len(outs) == 1 and outs != {""}


def test_normalising_folds_the_edits_that_hide_copies():
    assert normalise("He was “brutalised” — said the Colour-blind OFFICER…") == \
        normalise('He was "brutalized" - said the color blind officer.')
    assert normalise("Don’t") == normalise("dont")
    # words the -ise/-our endings miss: wire copy re-spelt for another market (found 41 times in 63)
    assert normalise("The centre's programme travelled in defence of grey tyres, analysed and labelled.") == \
        normalise("The center's program traveled in defense of gray tires, analyzed and labeled.")
    assert normalise("He centred the metre-long label") == "he centred the meter long label"  # the words listed


@pytest.mark.parametrize("shown, typed", [
    ("Das Bundes\u00adverfassungs\u00adgericht ent\u00adschied am Dienstag", "Das Bundesverfassungsgericht entschied am Dienstag"),
    ("การ\u200bประชุม\u200bสภา\u200bเมือง", "การประชุมสภาเมือง"),  # zero-width spaces between Thai words
    ("می\u200cخواهم بروم", "میخواهم بروم"),  # Persian's zero-width non-joiner
    ("Word\u2060joiner and e\u200dmoji", "Wordjoiner and emoji"),
    ("Всё ещё в Ёлкино", "Все еще в елкино"),  # ё is often written е
    ("الـعـربـيـة", "العربية"),  # the tatweel only stretches a word
    ("नगर परिषद ने मतदान किया। बैठक पांच घंटे चली।", "नगर परिषद ने मतदान किया. बैठक पांच घंटे चली."),
])
def test_characters_that_do_not_change_the_text_on_screen_are_folded_away(shown, typed):
    """Soft hyphens, zero-width spaces, joiners, the tatweel, ё for е and the danda for a full
    stop made a copy that reads the same a different text (Jaccard 0.14-0.43: kept)."""
    assert normalise(shown) == normalise(typed)


def test_a_batch_is_shingled_as_its_blocks_one_by_one():
    """Words are split for a whole batch at once; each block must still get its own shingles,
    symbol-only and empty blocks (represented by their raw text) included."""
    texts = ["•", "", "Alpha beta gamma delta epsilon", "***", "one\ntwo three", "Don’t stop now",
             "•", "   ", "Fiancée café au lait", "a\tb\x0bc\x0cd\re"]
    for size in (1, 3):
        batch = Shingler(size).shingle(texts)
        assert batch.words.tolist() == [1, 1, 5, 1, 3, 3, 1, 1, 4, 5]
        for i, text in enumerate(texts):
            alone = Shingler(size).shingle([text])
            np.testing.assert_array_equal(batch.hashes[batch.offsets[i]:batch.offsets[i + 1]], alone.hashes)
            assert batch.exact[i] == alone.exact[0]


@pytest.mark.parametrize("num_perm,seed", [(128, 1), (16, 7), (256, 12345)])
def test_permutations_are_datasketchs(num_perm, seed):
    from dedupe.minhash import affine32_permutations

    a, b = affine32_permutations(num_perm, seed)
    theirs = MinHash(num_perm=num_perm, seed=seed, scheme="affine32").permutations
    np.testing.assert_array_equal(a, theirs[0])
    np.testing.assert_array_equal(b, theirs[1])
