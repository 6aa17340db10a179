"""Decisions of the cleaning pass on small constructed dumps."""

import re

import pytest

from dedupe.config import CleanerConfig
from dedupe.errors import ConfigError, InputError
from dedupe.pipeline import Cleaner as _Cleaner
from dedupe.indexing import BlockRef
from dedupe.reading import Document

# These tests are about copies; the single-block detectors have tests of their own.
COPIES = frozenset({"duplicate", "near-duplicate"})


def Cleaner(**params):  # noqa: N802 - the real class, restricted to the copy detectors
    return _Cleaner(detect=params.pop("detect", COPIES), **params)

SHARED = ("Officials in the capital confirmed on Tuesday that the new bridge over the river "
          "will open to traffic next spring after years of delays and rising costs.")
A = Document("a", "Bridge to open next spring\n\n" + SHARED + "\nLocal traders welcomed the news.\n")
B = Document("b", "City council approves budget\n" + "The council voted 31 to 9 in favour of the plan "
              "to repair roads and schools.\n" + SHARED + "\n")


def decisions(cleaner, docs):
    return {c.document.id: c for c in cleaner.clean(docs)}


def test_a_paragraph_copied_into_a_later_document_is_stripped_there_and_kept_first():
    out = decisions(Cleaner(), [A, B])
    first = [d for d in out["a"].decisions if d.text == SHARED][0]
    copy = [d for d in out["b"].decisions if d.text == SHARED][0]
    assert first.action == "keep" and first.reason is None
    assert copy.action == "strip" and copy.reason == "duplicate" and copy.score == 1.0
    assert (copy.duplicate_of.doc_id, copy.duplicate_of.block) == ("a", first.block)
    assert copy.cluster == first.cluster
    assert SHARED not in out["b"].text and SHARED in out["a"].text


@pytest.mark.parametrize("paragraph", [
    "市议会周二投票批准了港区的新预算，此前经过了长时间的辩论。居民们表示，该计划将给老市场广场周围的狭窄街道带来更多交通。",
    "市議会は火曜日、長い議論の末に港湾地区の新しい予算を承認することを決議した。住民らは交通量が増えると述べた。",
    "สภาเมืองลงมติเมื่อวันอังคารเพื่ออนุมัติงบประมาณใหม่สำหรับเขตท่าเรือหลังจากการอภิปรายที่ยาวนาน"])
def test_copies_of_a_paragraph_written_without_spaces_are_found(paragraph):
    """Split at spaces only, a paragraph of Chinese, Japanese or Thai was one word, too short for
    a shingle: repeated in one article or copied into another, it was kept every time (or went
    as boilerplate). Each character is a word now, as it is for the word n-grams of such text."""
    edited = paragraph[:20] + paragraph[21:]  # one character left out
    docs = [Document("a", f"Headline of the first story\n{paragraph}\nA closing line of the first story here"),
            Document("b", f"{paragraph}\n{paragraph}"), Document("c", f"Another story entirely, with words\n{edited}")]
    out = decisions(Cleaner(), docs)
    first = out["a"].decisions[1]
    assert first.action == "keep" and first.reason is None
    for copy in out["b"].decisions + [out["c"].decisions[1]]:
        assert copy.action == "strip" and copy.duplicate_of.doc_id == "a" and copy.duplicate_of.block == 1
    assert [d.reason for d in out["b"].decisions] == ["duplicate", "duplicate"]
    assert out["c"].decisions[1].reason == "near-duplicate" and out["c"].decisions[1].score < 1.0


def test_a_repeat_of_a_copy_takes_the_reason_and_score_of_the_copy_it_repeats():
    """Copies point to the first occurrence. A block repeating, word for word, an earlier block of
    its document that is a near copy of that first occurrence read "duplicate" 1.0 (its match
    with the repeat) beside a block it only resembles; it reads as the block it repeats now."""
    council = ("The city council voted on Tuesday night to approve a new budget that raises spending on "
               "public schools and road repairs across the county.")
    edited = council.replace("road repairs", "bridge repairs")
    other = "Some other words about the football results from the games of the weekend."
    for docs, first in (([Document("a", f"{council}\n{other}\n{edited}\nA line apart from the rest of it all.\n{edited}")],
                         BlockRef("a", 0)),
                        ([Document("a", f"Title one\n{council}"), Document("b", f"Title two\n{edited}\n{other}\n{edited}")],
                         BlockRef("a", 1))):
        near, repeat = [d for c in _Cleaner(detect=COPIES, threshold=0.5).clean(docs) for d in c.decisions
                        if d.text == edited]
        assert (near.reason, near.duplicate_of) == ("near-duplicate", first) and near.score < 1.0
        assert (repeat.action, repeat.reason, repeat.score, repeat.duplicate_of) == (
            "strip", "near-duplicate", near.score, first)


def test_cross_doc_keep_leaves_the_copy_and_flag_only_reports_it():
    kept = decisions(Cleaner(cross_doc="keep"), [A, B])["b"]
    assert SHARED in kept.text and all(d.reason is None for d in kept.decisions)
    flagged = decisions(Cleaner(cross_doc="flag"), [A, B])["b"]
    copy = [d for d in flagged.decisions if d.text == SHARED][0]
    assert SHARED in flagged.text
    assert copy.action == "keep" and copy.reason == "duplicate" and copy.duplicate_of.doc_id == "a"


LONG = (SHARED + " The transport minister said the final inspection had found no faults in the steel "
        "frame, and that engineers would now test the lighting, the drainage and the cycle lanes "
        "before the official ceremony, which the mayor and several national politicians are expected "
        "to attend along with hundreds of residents from both banks.")


def test_edits_that_normalising_folds_make_a_duplicate_and_a_word_edit_a_near_duplicate():
    folded = LONG.replace("delays", "delays,").replace("Tuesday", "TUESDAY").replace("- ", "— ")
    edited = LONG.replace("rising", "soaring")
    docs = [Document("a", LONG), Document("b", "Other news\n" + folded), Document("c", "More\n" + edited)]
    out = decisions(Cleaner(), docs)
    exact, near = out["b"].decisions[1], out["c"].decisions[1]
    assert exact.reason == "duplicate" and exact.action == "strip"
    assert near.reason == "near-duplicate" and near.action == "strip" and 0.8 <= near.score < 1.0
    assert near.duplicate_of.doc_id == "a" and exact.duplicate_of.doc_id == "a"


def test_short_heading_goes_only_as_part_of_a_repeated_run():
    para1 = "The first paragraph of the story tells what happened in the town on Sunday night."
    para2 = "The second paragraph adds what the police said about the fire and the people hurt."
    text = "\n".join(["Background", para1, "Other news", para2, "Background", "Unrelated closing line of the piece here."])
    out = Cleaner().clean_document(Document("d", text))
    assert [d.action for d in out.decisions] == ["keep"] * 6  # a heading that recurs on its own stays
    text = "\n".join(["Background", para1, para2, "Background", para1, para2])
    out = Cleaner().clean_document(Document("e", text))
    assert [d.action for d in out.decisions] == ["keep", "keep", "keep", "strip", "strip", "strip"]


def test_offsets_slice_the_original_and_stripping_removes_whole_lines_only():
    text = "Title\r\n\r\n  Indented paragraph that is long enough to shingle well.\r\n" \
           "  Indented paragraph that is long enough to shingle well.\r\nLast line without newline"
    out = Cleaner().clean_document(Document("crlf", text))
    for d in out.decisions:
        assert text[d.start:d.end] == d.text
    assert out.text == "Title\r\n\r\n  Indented paragraph that is long enough to shingle well.\r\nLast line without newline"


def test_empty_and_blank_documents_pass_through():
    out = list(Cleaner().clean([Document("empty", ""), Document("blank", "\n \n\t\n")]))
    assert [(c.text, c.decisions) for c in out] == [("", []), ("\n \n\t\n", [])]


def test_strip_selects_which_reasons_act():
    out = decisions(Cleaner(strip=frozenset({"near-duplicate"})), [A, B])["b"]
    copy = [d for d in out.decisions if d.text == SHARED][0]
    assert copy.action == "keep" and copy.reason == "duplicate"


def test_bad_parameters_say_what_to_change():
    with pytest.raises(ConfigError, match="threshold"):
        CleanerConfig(threshold=1.5)
    with pytest.raises(ConfigError, match=r"threshold must be in \(0, 1\), got 1"):  # the LSH design's, said later
        CleanerConfig(threshold=1.0)
    with pytest.raises(ConfigError, match="cross_doc"):
        Cleaner(cross_doc="drop")
    with pytest.raises(ConfigError, match="unknown parameter"):
        _Cleaner(treshold=0.5)
    # wrong types said so, not a TypeError from inside a comparison (or nothing at all)
    for params, message in [({"threshold": "0.5"}, "threshold must be a number"),
                            ({"num_perm": "128"}, "num_perm must be a whole number"),
                            ({"seed": 1.5}, "seed must be a whole number"),
                            ({"template_min_docs": 2.5}, "template_min_docs must be a whole number"),
                            ({"strip": None}, "strip must be a set of reasons"),
                            ({"cross_doc": None}, "cross_doc must be one of"),
                            ({"workers": True}, "workers must be a whole number from 1 to 256"),
                            ({"workers": 10**20}, "workers must be a whole number from 1 to 256"),
                            # accepted here, refused by the index under other names ("bands must
                            # be a positive integer", "4-bit signatures pack two values a byte")
                            ({"lsh_bands": 0, "lsh_rows": 0}, "lsh_bands and lsh_rows must be at least 1"),
                            ({"num_perm": 9}, "num_perm must be an even number from 8 to 1024, got 9")]:
        with pytest.raises(ConfigError, match=message):
            Cleaner(**params)
    assert Cleaner(detect="duplicate,near-duplicate").config.detect == {"duplicate", "near-duplicate"}
    with pytest.raises(ConfigError, match=r"config must be a CleanerConfig, got dict: give the parameters as keywords"):
        _Cleaner({"threshold": 0.5})  # an AttributeError before
    import numpy as np  # numpy's numbers were refused as "not a whole number"

    numpy_made = _Cleaner(num_perm=np.int64(64), threshold=np.float32(0.5), workers=np.int64(2))
    assert (numpy_made.config.num_perm, numpy_made.workers) == (64, 2) and type(numpy_made.config.num_perm) is int
    assert type(numpy_made.config.threshold) is float


def test_a_record_that_cannot_be_spooled_is_named():
    """Documents read once are spooled for the second pass: a record holding what pickle cannot
    take (a lock) ended in a bare TypeError naming no document; a list is not spooled."""
    import threading

    records = [{"id": "a", "text": "A story about the storm in the north of the country."},
               {"id": "b", "text": "A story about a storm.", "lock": threading.Lock()}]
    assert [c.document.id for c in _Cleaner().clean(records)] == ["a", "b"]
    with pytest.raises(InputError, match=r"document b: a document's record cannot be kept for the second pass "
                                         r"\(cannot pickle '_thread.lock' object\).*give them as a list"):
        list(_Cleaner().clean(iter(records)))


def test_a_run_whose_documents_fail_midway_lets_go_of_its_temporary_files():
    """The first pass keeps its term counts in a file without a name; a source that raised
    midway left it open on the Cleaner (its disk space held) until the next run."""
    import os

    def breaking():
        yield from _recombined_seed_documents()[:20]
        raise ValueError("the source broke")

    def unnamed_files() -> int:
        return sum("(deleted)" in os.readlink(f"/proc/self/fd/{fd}") for fd in os.listdir("/proc/self/fd")
                   if os.path.islink(f"/proc/self/fd/{fd}"))

    before = unnamed_files()
    cleaner = _Cleaner()
    with pytest.raises(ValueError, match="the source broke"):
        list(cleaner.clean(breaking()))
    assert unnamed_files() == before and cleaner._spool is None


def test_the_python_api_says_what_it_takes():
    """A string given where documents go was cleaned character by character; a second
    transform() after one fit() failed inside numpy; a Document without a text string failed
    inside segmenting; a dict whose id is null got the id "None" (the command line uses the
    line number)."""
    with pytest.raises(TypeError, match=r"an iterable of documents .* not one str"):
        list(Cleaner().clean("A single story."))
    with pytest.raises(TypeError, match="a Document whose text is NoneType"):
        list(Cleaner().clean([Document(id="a", text=None)]))
    with pytest.raises(TypeError, match="a Document whose source is list"):
        list(Cleaner().clean([Document(id="a", text="x", source=["site"])]))
    for nothing in (None, 42):
        with pytest.raises(TypeError, match="an iterable of documents"):
            list(Cleaner().clean(nothing))
    with open(__file__, encoding="utf-8") as handle, open(__file__, "rb") as raw:  # a line a document, silently
        for stream in (handle, raw):
            with pytest.raises(TypeError, match=r"not an open file .* dedupe.read_documents\(path\)"):
                list(Cleaner().clean(stream))
    cleaner = Cleaner()
    documents = [A, B]
    assert len(list(cleaner.fit(documents).transform(documents))) == 2
    with pytest.raises(InputError, match="runs once after each fit"):
        list(cleaner.transform(documents))
    assert [c.document.id for c in Cleaner().clean([{"id": None, "text": "x"}, {"text": "y"}])] == ["0", "1"]


def _recombined_seed_documents(n: int = 40) -> list[Document]:
    """Documents made of seed paragraphs: many copies within and across documents."""
    import random
    from pathlib import Path

    paragraphs = [line for p in sorted(Path("seeds").iterdir()) for line in p.read_text().split("\n") if line.strip()]
    rng = random.Random(5)
    docs = []
    for i in range(n):
        picked = rng.sample(paragraphs, 12)
        if i % 3 == 0:  # a light edit, so near-duplicates occur too
            picked[0] = picked[0].replace(" the ", " a ", 1)
        docs.append(Document(f"doc-{i}", "\n".join(picked)))
    return docs


@pytest.mark.parametrize("detect", [None, COPIES, COPIES | {"template"}], ids=["every detector", "copies", "copies and templates"])
def test_decisions_do_not_depend_on_chunking_or_workers(detect):
    """Every detector (two passes, scores shipped), the copy detectors alone (one pass, no scores)
    and with the template counts (two passes, no scores)."""
    docs = _recombined_seed_documents()
    # documents without blocks, and a whole copy (it needs no detector scores), travel too
    docs[10:10] = [Document("empty", ""), Document("blank", "\n \n"), Document("copy", docs[3].text)]

    def run(**kw):
        cleaner = _Cleaner(**kw) if detect is None else _Cleaner(detect=detect, **kw)
        return [(c.text, [(d.action, d.reason, d.score, d.duplicate_of, d.cluster) for d in c.decisions])
                for c in cleaner.clean(docs)]

    reference = run(chunk_size=1)
    assert sum(r[1] == "near-duplicate" for _, ds in reference for r in ds) > 0
    assert sum(r[1] == "duplicate" for _, ds in reference for r in ds) > 50
    assert run(chunk_size=5) == reference
    assert run(chunk_size=64) == reference
    assert run(chunk_size=5, workers=2) == reference


def test_both_passes_run_on_the_same_worker_processes(monkeypatch):
    """clean() forks its workers once: the second pass switches them to its own work."""
    from dedupe.parallel import OrderedPool

    starts = []
    start = OrderedPool._start
    monkeypatch.setattr(OrderedPool, "_start", lambda pool: starts.append(pool) or start(pool))
    docs = _recombined_seed_documents()
    cleaner = _Cleaner(chunk_size=4, workers=2)
    assert cleaner.two_pass
    got = [(c.text, [(d.action, d.reason, d.duplicate_of) for d in c.decisions]) for c in cleaner.clean(docs)]
    assert len(starts) == 1
    assert got == [(c.text, [(d.action, d.reason, d.duplicate_of) for d in c.decisions])
                   for c in _Cleaner(chunk_size=4).clean(docs)]


def test_the_command_line_job_runs_both_passes_on_the_same_worker_processes(monkeypatch, tmp_path):
    """clean_path (dedupe clean) calls fit() and transform() apart, reading the file twice; it
    holds the workers across both, as clean() does, and writes what one process writes."""
    import json

    from dedupe.cleaning import clean_path
    from dedupe.parallel import OrderedPool

    dump = tmp_path / "dump.jsonl"
    dump.write_text("".join(json.dumps({"id": d.id, "text": d.text}) + "\n" for d in _recombined_seed_documents()))
    starts = []
    start = OrderedPool._start
    monkeypatch.setattr(OrderedPool, "_start", lambda pool: starts.append(pool) or start(pool))
    outputs = []
    for workers in (2, 1):
        out = tmp_path / f"out-{workers}.jsonl"
        summary = clean_path(str(dump), str(out), _Cleaner(chunk_size=4, workers=workers))
        assert summary.documents == 40
        outputs.append(out.read_bytes())
    assert len(starts) == 1  # the two-worker run forked once; one worker forks nothing
    assert outputs[0] == outputs[1]


def test_an_index_of_ones_own_needs_only_the_interface():
    """An index with only the methods of dedupe.indexing.Index (a persistent store would have
    no more) gives the decisions of the default one, with and without worker processes."""
    from dedupe.indexing import BlockIndex

    class OwnIndex:  # the interface, and nothing else
        def __init__(self):
            self._inner = BlockIndex(threshold=CleanerConfig().threshold)

        def lookup(self, signatures, exact):
            return self._inner.lookup(signatures, exact)

        def chunk(self, signatures, exact):
            return self._inner.chunk(signatures, exact)

        def add(self, signatures, exact, doc_id, blocks):
            return self._inner.add(signatures, exact, doc_id, blocks)

        def flush(self):
            self._inner.flush()

        def ref(self, entry):
            return self._inner.ref(entry)

    docs = _recombined_seed_documents()

    def run(**kw):
        return [[(d.action, d.reason, d.score, d.duplicate_of, d.cluster) for d in c.decisions]
                for c in Cleaner(chunk_size=5, **kw).clean(docs)]

    reference = run()
    assert sum(d[1] == "duplicate" for ds in reference for d in ds) > 50
    assert run(index=OwnIndex(), workers=2) == reference
    assert run(index=OwnIndex()) == reference

    # kept for a later run, as a persistent store is: the second run's copies of the first
    # run's blocks ended in an IndexError (the index need not tell its size)
    kept = OwnIndex()
    page = "A long story about the storm in the north of the country, told here.\nAnd a second paragraph of it."
    list(Cleaner(index=kept).clean([Document("yesterday", page)]))
    again = Cleaner(index=kept).clean_document(Document("today", page))
    assert [(d.action, d.reason, d.duplicate_of) for d in again.decisions] == [
        ("strip", "duplicate", BlockRef("yesterday", 0)), ("strip", "duplicate", BlockRef("yesterday", 1))]


def test_one_cleaner_runs_one_run_at_a_time_and_a_reused_one_decides_as_a_fresh_one():
    """Two clean() runs of one Cleaner read in turn shared its index and counts: with one worker
    the first's decisions came from the second's documents, with two an AttributeError. A
    second run is now refused until the first is read to its end or closed. A Cleaner given
    its own off-topic detector added every run's vocabulary to the last's, so reused it
    decided otherwise than a fresh one."""
    from conftest import SEEDS
    from dedupe.offtopic import OffTopicDetector

    seeds = [p.read_text(encoding="utf-8") for p in sorted(SEEDS.glob("*.txt"))]
    first, second = seeds[:3] + _recombined_seed_documents()[:30], seeds[3:]  # 004: the Turkey/Syria paste
    cleaner = _Cleaner(offtopic=OffTopicDetector())
    running = cleaner.clean(first)
    next(running)
    with pytest.raises(ConfigError, match="in the middle of another run"):
        next(cleaner.clean(second))
    with pytest.raises(ConfigError, match="in the middle of another run"):
        cleaner.fit(second)
    running.close()

    def decisions_of(cleaned):
        return [[(d.action, d.reason, d.score, d.duplicate_of) for d in c.decisions] for c in cleaned]

    reused = decisions_of(cleaner.clean(second))
    assert reused == decisions_of(_Cleaner(offtopic=OffTopicDetector()).clean(second))
    assert any(d[1] == "off-topic" for ds in reused for d in ds)




def _story(i: int) -> str:
    import random

    rng = random.Random(i)
    words = "council river budget school storm police market court health water energy road".split()
    return " ".join(rng.choice(words) + str(rng.randrange(1000)) for _ in range(30)) + "."


def test_a_short_line_recurring_alone_is_indexed_once_and_becomes_a_template():
    docs = [Document(f"d{i}", "\n".join([_story(3 * i), "Advertisement", _story(3 * i + 1), _story(3 * i + 2)]))
            for i in range(6)]
    copies_only = _Cleaner(detect=COPIES)
    out = list(copies_only.clean(docs))
    assert all(c.decisions[1].action == "keep" for c in out)      # a lone heading stays
    assert len({c.decisions[1].cluster for c in out}) == 1          # ... as one group of copies
    assert len(copies_only.index) == 6 * 3 + 1                      # ... indexed once
    templates = list(_Cleaner(detect=frozenset({"template"})).clean(docs))
    assert [c.decisions[1].reason for c in templates] == ["template"] * 6   # first copy included
    assert all(c.decisions[1].action == "strip" and c.decisions[0].action == "keep" for c in templates)
    few = list(_Cleaner(detect=frozenset({"template"})).clean(docs[:4]))  # in fewer than 5 documents
    assert all(c.decisions[1].action == "keep" for c in few)


def test_in_document_copies_of_a_chunk_equal_the_per_document_matrix_rule():
    """local_copies scores the block pairs of many documents at once (in worker processes);
    it must pick what rule 1 picks on each document's full similarity matrix."""
    import numpy as np

    from dedupe.deciding import Sketch, local_copies
    from dedupe.parallel import Sketcher
    from dedupe.segmenting import segment

    config = CleanerConfig()
    edited = LONG.replace("rising", "soaring")  # a near copy scored by similarity, not containment
    repeated = Document("d", f"{LONG}\nA short line\n{SHARED}\n{LONG} Officials said so.\n{SHARED}\n{edited}")
    docs = _recombined_seed_documents(24) + [A, B, Document("c", ""), repeated]
    sketcher = Sketcher(config)
    sketches = sketcher([[b.text for b in segment(d.text)] for d in docs])
    fresh = [s._replace(earlier=None) for s in sketches]
    # pairs are ruled out by their low bytes first: blocks whose low bytes all agree must still
    # be compared in full (none of the values agree, or half of them)
    base = next(s for s in sketches if len(s.signatures) >= 3 and (s.words >= config.shingle_size).all())
    forged = base.signatures[:3].copy()
    forged[1] = forged[0] + np.uint32(256)
    forged[2, :64] = forged[0, :64] + np.uint32(256)
    fresh.append(Sketch(base.words[:3], base.sizes[:3], np.array([1, 2, 3], np.uint64), forged))
    # small pair batches exercise the batching, the agreeing-pairs search for documents of more
    # than max_pairs pairs (its agreements gathered a row at a time, too), and its fallback to
    # every pair when agreements are too many
    for batched in (sketches, local_copies(fresh, config), local_copies(fresh, config, max_pairs=5),
                    local_copies(fresh, config, max_pairs=5, max_agreements=0),
                    local_copies(fresh, config, max_pairs=5, agreements_per_pair=0)):
        for s in batched:
            k = len(s.signatures)
            sims = (s.signatures[:, None, :] == s.signatures[None, :, :]).mean(axis=-1).astype(np.float32)
            later, before = s.sizes[:, None].astype(float), s.sizes[None, :].astype(float)
            scores = np.where(sims >= config.doc_threshold, sims, 0.0)
            contained = sims * (later + before) / ((1.0 + sims) * before)
            addition = later - before
            by_containment = (addition > 0) & (addition <= np.maximum(4.0, 0.6 * before)) & (contained >= config.containment)
            scores = np.where(by_containment, np.maximum(scores, np.minimum(contained, 1.0)), scores)
            short = s.words < config.shingle_size
            scores[short, :] = 0.0
            scores[:, short] = 0.0
            scores = np.tril(scores, k=-1)
            first_same = {}
            for i in range(k):
                j = first_same.setdefault(int(s.exact[i]), i)
                if j != i:
                    expected = (j, 1.0)
                elif k and scores[i].max() > 0:
                    expected = (int(scores[i].argmax()), float(scores[i].max()))
                else:
                    expected = (-1, 0.0)
                assert (int(s.earlier[i]), float(s.earlier_score[i])) == expected
    assert any((s.earlier >= 0).any() for s in sketches)  # the seeds repeat passages
    assert isinstance(sketches[0], Sketch)


def test_block_pairs_come_in_bounded_batches_of_whole_rows():
    """A document of many blocks must not materialise all its pairs at once."""
    import numpy as np

    from dedupe.deciding import _document_pairs

    for k, most in ((0, 5), (1, 5), (2, 1), (7, 3), (50, 10), (50, 10**6), (300, 1000)):
        batches = list(_document_pairs(k, most))
        i = np.concatenate([b[0] for b in batches]) if batches else np.zeros(0, int)
        j = np.concatenate([b[1] for b in batches]) if batches else np.zeros(0, int)
        expected_i, expected_j = np.tril_indices(k, -1)
        np.testing.assert_array_equal(i, expected_i)
        np.testing.assert_array_equal(j, expected_j)
        for bi, _ in batches:  # whole rows, and no more pairs than allowed unless one row is longer
            assert len(bi) <= most or len(np.unique(bi)) == 1
            assert (np.bincount(bi)[np.unique(bi)] == np.unique(bi)).all()


def test_templates_are_counted_per_site_and_once_per_document():
    """Site furniture is a short block in >= template_min_docs documents of ONE site: four
    documents of each of two sites are not enough, six of one site are; a line twice in one
    document counts once."""
    def site_docs(site: str, n: int, line: str, start: int = 0) -> list[Document]:
        docs = []
        for i in range(start, start + n):
            body = f"Story {site} {i}: " + " ".join(f"w{site}{i}x{k}" for k in range(12))
            text = f"{body}\n{line}\n" + (f"{line}\n" if i == start else "")
            docs.append(Document(f"{site}{i}", text, source=f"{site}.example"))
        return docs

    promo = "Subscribe to our newsletter today"
    mixed = site_docs("a", 4, promo) + site_docs("b", 4, promo)
    found = list(_Cleaner(detect=frozenset({"template"})).clean(mixed))
    assert all(d.reason is None for c in found for d in c.decisions)

    one_site = site_docs("a", 4, promo) + site_docs("b", 3, promo) + site_docs("a", 2, promo, start=4)
    found = list(_Cleaner(detect=frozenset({"template"})).clean(one_site))
    for cleaned in found:
        promos = [d for d in cleaned.decisions if d.text == promo]
        assert promos and all(d.reason == "template" and d.action == "strip" for d in promos)
        assert all(d.score == 1.0 for d in promos)  # all six documents of site a hold it


def test_a_long_paragraph_written_without_spaces_recurring_on_a_site_is_syndication_not_a_template():
    """Templates are short blocks (at most template_max_words words); a long one recurring on a
    site is syndication, whose first copy is kept. Words were counted at spaces, so a long
    paragraph of Chinese was a few "words", and went from every page as a template."""
    long_chinese = ("新华社北京电 国家统计局周二公布的数据显示，今年前三个季度全国规模以上工业增加值同比增长百分之四，"
                    "其中制造业增长较快，高技术制造业增加值占比继续提高，专家认为经济运行总体平稳。")
    docs = [Document(f"p{i}", f"第{i}篇报道的标题\n{long_chinese}\n" + "本地新闻" * (i + 3), source="news.example.cn")
            for i in range(6)]
    found = [[d for d in c.decisions if d.text == long_chinese][0] for c in _Cleaner().clean(docs)]
    assert (found[0].action, found[0].reason) == ("keep", None)
    assert all((d.action, d.reason) == ("strip", "duplicate") for d in found[1:]), [d.reason for d in found]


def test_a_copy_of_a_block_that_went_for_another_reason_is_decided_on_its_own_findings():
    """The Turkey/Syria story pasted off-topic into the Russia/Iran article (seed 004, blocks
    15-26) later comes as an article of its own. It was stripped whole as 'duplicate' of the
    stripped paste, so the story was nowhere in the output, and its report lines named a
    'kept copy' that had gone. Now the first copy that its own findings keep stays, flagged as
    the copy it is, and stands for the group: a third copy goes, naming it."""
    from conftest import SEEDS
    from dedupe.reading import read_documents
    from dedupe.segmenting import segment

    seeds = list(read_documents(str(SEEDS)))
    pasted = next(d for d in seeds if d.id.startswith("004_"))
    story_blocks = segment(pasted.text)[15:27]
    story = "Turkey and Russia to meet over Syria\n" + "\n".join(b.text for b in story_blocks) + "\n"
    docs = seeds + [Document("story", story), Document("story-again", story)]
    cleaned = {c.document.id: c for c in _Cleaner().clean(docs)}
    assert [d.reason for d in cleaned[pasted.id].decisions[15:27]] == ["off-topic"] * 12
    first, again = cleaned["story"].decisions[1:], cleaned["story-again"].decisions[1:]
    assert all(d.action == "keep" and d.reason == "duplicate" for d in first)  # flagged, kept
    assert [d.duplicate_of for d in first] == [(pasted.id, 15 + k) for k in range(12)]
    assert all(d.action == "strip" and d.reason == "duplicate" for d in again)
    assert [d.duplicate_of for d in again] == [("story", 1 + k) for k in range(12)]
    assert cleaned["story"].text == story and cleaned["story-again"].text == ""  # its headline too


def test_dicts_given_to_the_api_are_read_as_dedupe_clean_reads_their_lines(tmp_path):
    """Dicts ignored their "url": every document of every site counted as one site, so a
    promo line that two sites share three times each went as a template from the API and not
    from the command line."""
    import json
    import subprocess

    from conftest import console_script

    promo = "Subscribe to our newsletter for the latest news today"
    records = [{"id": k, "url": f"https://{site}.example/a{k}",
                "text": f"Story number {k} about the storm and the harbour in the north.\n{promo}"}
               for k, site in enumerate("ababab")]
    api = [[(d.action, d.reason) for d in c.decisions] for c in _Cleaner().clean(records)]
    dump, report = tmp_path / "dump.jsonl", tmp_path / "report.jsonl"
    dump.write_text("".join(json.dumps(r) + "\n" for r in records))
    subprocess.run([console_script(), "clean", str(dump), "--dry-run", "--report", str(report), "-q"], check=True)
    lines = [json.loads(line) for line in report.read_text().splitlines()]
    assert api == [[(r["action"], r["reason"]) for r in lines if r["doc_id"] == str(k)] for k in range(6)]
    assert "template" not in {reason for doc in api for _, reason in doc}  # three documents a site, not six


def test_decisions_do_not_depend_on_the_chunk_size_with_several_sites_or_on_one_pass():
    """A group's site was its last copy's in the chunk that registered it (numpy keeps the last
    of repeated targets), so a line on one page of b.example and then on five of a.example went
    as a template of a.example everywhere with chunks of 256, and stayed with chunks of 1 or 8.
    And without the template detector clean() made one pass: its off-topic detector scored on
    its background table alone, unlike fit() then transform(). Found by an exploring helper."""
    line = "Follow us on Facebook"
    docs = [Document(f"{site}{k}", f"Story {k} about the harbour, the boats and the storm of the night.\n{line}\n",
                     source=f"{site}.example") for k, site in enumerate("baaaaa")]

    def run(**kw):
        return [[(d.action, d.reason) for d in c.decisions] for c in _Cleaner(detect=frozenset({"template"}), **kw).clean(docs)]

    assert run(chunk_size=256) == run(chunk_size=1) == run(chunk_size=8)
    assert run()[0][1] == ("keep", None)  # one page of b.example: no template there
    detect = frozenset({"duplicate", "near-duplicate", "off-topic"})
    mixed = _recombined_seed_documents(30)
    once = [[(d.action, d.reason) for d in c.decisions] for c in _Cleaner(detect=detect).clean(mixed)]
    cleaner = _Cleaner(detect=detect)
    apart = [[(d.action, d.reason) for d in c.decisions] for c in cleaner.fit(mixed).transform(mixed)]
    assert once == apart and any(r == "off-topic" for doc in once for _, r in doc)


def test_block_texts_without_blocks_are_the_blocks_texts():
    """The first pass only needs the blocks' texts (segment_texts); they must be segment's."""
    from dedupe.segmenting import segment, segment_texts

    texts = ["", "\n", "Title\n\nBody one.\r\nBody two", "a\rb\r\n\r\nc", "  \n\t\nx \n \u2028 \ny",
             "one\u2028line\u0085still one\n\nlast\n", "\r", "no break"]
    for text in texts:
        assert segment_texts(text) == [b.text for b in segment(text)]
    assert segment_texts(texts[4]) == ["x ", "y"]  # a line of white space only is no block


def test_the_second_pass_reuses_the_first_pass_term_counts(monkeypatch):
    """With every detector on, the off-topic term counts of pass 1 are kept (one temporary
    file, checked chunk by chunk against the blocks) for pass 2; the decisions are those of
    counting afresh, including in a chunk with copies of whole documents."""
    from dedupe import parallel

    docs = _recombined_seed_documents(30)
    # copies of whole documents inside the last chunk (they were left unscored until 2026-12-07)
    docs[25:25] = [Document("copy-1", docs[0].text)]
    docs[28:28] = [Document("copy-2", docs[3].text)]
    unpacked = []
    real_unpack = parallel.unpack_counts

    def run(unpack, stream=list):
        monkeypatch.setattr(parallel, "unpack_counts", unpack)
        return [(c.text, [(d.action, d.reason, d.score) for d in c.decisions])
                for c in _Cleaner(chunk_size=8).clean(stream(docs))]

    def keeping(payload, texts):
        unpacked.append((texts is None, real_unpack(payload, texts)))
        return unpacked[-1][1]

    kept = run(keeping)
    # 32 documents: a first chunk of one (an eighth of 8), three of 8, the last of 7
    assert len(unpacked) == 5 and all(counts is not None and not trusted for trusted, counts in unpacked)
    afresh = run(lambda payload, texts: None)
    assert kept == afresh
    assert any(r == "off-topic" for _, ds in kept for _, r, _ in ds)
    # a one-shot stream is read back from clean()'s own spool: the same documents, no digest checked
    unpacked.clear()
    assert run(keeping, iter) == afresh
    assert len(unpacked) == 5 and all(counts is not None and trusted for trusted, counts in unpacked)


@pytest.mark.parametrize("workers", [1, 2])
def test_a_file_read_twice_must_stay_as_it_was(tmp_path, monkeypatch, workers):
    """dedupe clean reads a JSONL file twice. Kept as it was, the second pass takes the term
    counts of the first without a digest of every text. Changed between the passes with every
    block in place (so the block counts agree), the first pass's copy findings met the second
    pass's new text without a word; now that is an error, and nothing is written."""
    import json

    from dedupe import parallel
    from dedupe.cleaning import clean_path

    dump, out = tmp_path / "dump.jsonl", tmp_path / "out.jsonl"
    dump.write_text("".join(json.dumps({"id": d.id, "text": d.text}) + "\n" for d in _recombined_seed_documents(40)))
    checked = []
    real_unpack = parallel.unpack_counts
    monkeypatch.setattr(parallel, "unpack_counts", lambda payload, texts: checked.append(texts is not None)
                        or real_unpack(payload, texts))
    clean_path(str(dump), str(out), _Cleaner(workers=workers, chunk_size=8))
    assert out.exists() and not any(checked)  # (the workers' own calls are theirs to count)
    assert len(checked) == 6 or workers > 1  # a first chunk of one, then four of 8 and one of 7

    real_fit = _Cleaner._fit

    def fit_then_edit(self, documents, same_documents):
        fitted = real_fit(self, documents, same_documents)
        dump.write_text(dump.read_text().replace(" the ", " THE "))  # the same blocks, the same size
        return fitted

    monkeypatch.setattr(_Cleaner, "_fit", fit_then_edit)
    out.unlink()
    with pytest.raises(InputError, match="changed or was removed while it was being cleaned"):
        clean_path(str(dump), str(out), _Cleaner(workers=workers, chunk_size=8))
    assert not out.exists() and list(tmp_path.iterdir()) == [dump]

    # removed, or cut short in a line, between the reads: said as that, not as a missing file
    # (an error and exit 1 from the check itself, before) or a broken JSON line
    whole = dump.read_text()
    for change in (dump.unlink, lambda: dump.write_text(whole[: len(whole) // 2])):
        def fit_then(self, documents, same_documents, change=change):
            fitted = real_fit(self, documents, same_documents)
            change()
            return fitted

        monkeypatch.setattr(_Cleaner, "_fit", fit_then)
        dump.write_text(whole)
        with pytest.raises(InputError, match="changed or was removed while it was being cleaned"):
            clean_path(str(dump), str(out), _Cleaner(workers=workers, chunk_size=8))
        assert not out.exists()


def test_kept_counts_come_back_only_for_the_same_texts():
    import numpy as np

    from dedupe.offtopic import OffTopicDetector
    from dedupe.parallel import CountSpool, pack_counts, unpack_counts
    from dedupe.segmenting import segment_texts

    detector = OffTopicDetector()
    texts = ["A title about the river bridge\nThe bridge opens in spring.", "", "Weather: rain"]
    counts = detector.term_counts([segment_texts(text) for text in texts])
    spool = CountSpool()
    spool.put(0, pack_counts(texts, counts))
    spool.put(1, pack_counts(["Other"], detector.term_counts([["Other"]])))
    def same(a, b):
        return a.n_features == b.n_features and all(
            x.dtype == y.dtype and np.array_equal(x, y) for x, y in zip(a[:3], b[:3]))

    assert same(unpack_counts(spool.get(0), texts), counts)
    changed = ["A title about the river bridge\nThe bridge opens in summer.", "", "Weather: rain"]
    assert unpack_counts(spool.get(0), changed) is None
    assert unpack_counts(spool.get(0), ["A title about the river bridge", "The bridge opens in spring.",
                                        "Weather: rain"]) is None  # other documents
    assert unpack_counts(spool.get(0), texts[:2] + ["Weather: rain \ud800"]) is None  # a lone surrogate: no error
    assert spool.get(2) is None and unpack_counts(None, texts) is None
    # counts past 16 bits, and an odd number of them (the arrays after them are padded)
    wide, odd = detector.term_counts([["storm " * 70000 + "ends"]]), detector.term_counts([["Weather: rain and hail"]])
    assert wide.data.max() >= 2**16 and odd.nnz % 2 == 1
    for chunk, kept in ((["storm " * 70000 + "ends"], wide), (["Weather: rain and hail"], odd), ([], counts.rows([]))):
        assert same(unpack_counts(pack_counts(chunk, kept), chunk), kept)

    class FullDisk:
        def __init__(self, file):
            self.file = file

        def seek(self, offset):
            return self.file.seek(offset)

        def write(self, data):
            raise OSError(28, "No space left on device")

    spool._file = FullDisk(spool._file)
    spool.put(2, pack_counts(texts, counts))  # a disk that refuses: not kept, no error
    assert spool.get(2) is None
    spool._file = spool._file.file
    assert same(unpack_counts(spool.get(1), ["Other"]), detector.term_counts([["Other"]]))
    spool.close()


def test_an_off_topic_detector_of_ones_own_needs_only_the_basic_methods():
    """A detector with block_frequencies, add_frequencies and analyse (no term counts to keep)
    is fitted in the first pass and asked in the second."""
    import numpy as np

    class Mine:
        def __init__(self):
            self.blocks_seen, self.analysed = 0, 0

        def block_frequencies(self, documents):
            return np.zeros(0, np.int32), sum(len(d) for d in documents)

        def add_frequencies(self, features, blocks):
            self.blocks_seen += blocks

        def analyse(self, blocks):
            self.analysed += 1
            flags = np.array([b.startswith("Unrelated") for b in blocks])
            return flags.astype(float), flags

    mine = Mine()
    docs = [A, B, Document("c", "A story about the harbour\nUnrelated: a pasted piece about football\n")]
    detect = COPIES | {"template", "off-topic"}
    cleaned = {c.document.id: c for c in _Cleaner(offtopic=mine, detect=detect).clean(docs)}
    assert mine.blocks_seen == sum(len(c.decisions) for c in cleaned.values()) and mine.analysed == 3
    assert [(d.block, d.reason) for d in cleaned["c"].stripped] == [(1, "off-topic")]


def test_worker_processes_start_only_for_a_second_chunk():
    """One item (a small input) is computed in this process; from two on, the processes
    compute them, in input order."""
    import operator

    from dedupe.parallel import OrderedPool

    with OrderedPool(operator.neg, workers=2) as pool:
        assert list(pool.map([3])) == [-3] and pool._pool is None
        assert list(pool.map([])) == [] and pool._pool is None
        assert list(pool.map(iter(range(7)))) == [-k for k in range(7)] and pool._pool is not None


def _tagged(tag, x):
    import os

    return tag, -x, os.getpid()


def test_a_switched_pool_keeps_its_processes_and_runs_the_new_function():
    """After switch(), the processes already running compute the new function (each loads it
    once), in input order; none is started again."""
    import functools
    import os

    from dedupe.parallel import OrderedPool

    with OrderedPool(functools.partial(_tagged, "first"), workers=3) as pool:
        assert [(t, v) for t, v, _ in pool.map(iter(range(20)))] == [("first", -k) for k in range(20)]
        processes = {p.pid for p in pool._pool._pool}
        for tag in ("second", "third"):
            pool.switch(functools.partial(_tagged, tag))
            got = list(pool.map(iter(range(20))))
            assert [(t, v) for t, v, _ in got] == [(tag, -k) for k in range(20)]
            assert {p.pid for p in pool._pool._pool} == processes
            assert {pid for _, _, pid in got} - {os.getpid()} <= processes


def _dies_from_five(parent, x):
    import os
    import signal

    if x >= 5 and os.getpid() != parent:  # as the OOM killer would end it
        os.kill(os.getpid(), signal.SIGKILL)
    return -x


def test_a_worker_killed_with_an_item_stops_the_run_with_a_clear_error():
    """multiprocessing's pool replaces a killed process, but the item it held is gone and its
    result was waited on for ever (dedupe clean hung, a half-written temporary file beside the
    output). Now the pool notices the process ended and raises WorkerLost, a DedupeError the
    command line reports; its context manager stops the others."""
    import functools
    import os

    from dedupe.errors import DedupeError
    from dedupe.parallel import OrderedPool, WorkerLost

    with pytest.raises(WorkerLost, match="killed by signal 9") as caught:
        with OrderedPool(functools.partial(_dies_from_five, os.getpid()), workers=2) as pool:
            list(pool.map(iter(range(40))))
    assert isinstance(caught.value, DedupeError)
    assert pool._pool is None


_IDLE_KILL = """
import os, signal, sys, time
from dedupe.parallel import OrderedPool, WorkerLost

def items():
    for x in range(200):
        if x == 100:  # the worker empties its queue and waits for the next task: killed then
            time.sleep(0.5)
            os.kill(pool._processes[0].pid, signal.SIGKILL)
        yield x

pool = OrderedPool(abs, workers=2)
try:
    with pool:
        list(pool.map(items()))
except WorkerLost as exc:
    print(exc)
"""


def test_a_worker_killed_while_it_waits_does_not_hang_the_stop():
    """A worker waits for its next task holding the task queue's read lock: killed then, it
    keeps the lock for good, and multiprocessing's terminate() waited on it for ever after the
    WorkerLost error (dedupe clean hung). Run in a process of its own, so a hang fails here."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", _IDLE_KILL], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "a worker process was killed by signal 9 (SIGKILL); the run stops " \
                                  "(out of memory? run again with fewer --workers)"


_MAIN_KILLED = """
import os, signal, time
from dedupe.parallel import OrderedPool

MAIN = os.getpid()

def kills_the_main_process(x):
    if os.getpid() != MAIN:  # the first item in the worker
        os.kill(MAIN, signal.SIGKILL)
        time.sleep(0.5)  # gone before the result is sent
    return x

with OrderedPool(kills_the_main_process, workers=2) as pool:
    list(pool.map(iter(range(50))))
"""


def test_a_worker_whose_main_process_was_killed_ends_without_a_traceback():
    """kill -9 of ``dedupe clean`` (or the OOM killer taking it) left its workers to send
    results down a broken pipe: each printed two BrokenPipeError tracebacks under the shell's
    "Killed". Now a worker ends quietly, with status 1. The stderr pipe stays open until the
    worker has ended, so what it printed is all here."""
    import signal
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", _MAIN_KILLED], capture_output=True, text=True, timeout=60)
    assert done.returncode == -signal.SIGKILL
    assert done.stderr == ""


def test_a_switched_pool_without_fork_starts_its_processes_afresh(monkeypatch):
    """Where processes are spawned, not forked (no shared memory or inherited files), a switch
    closes the pool, and the next stream starts processes that run the new function."""
    import functools
    import multiprocessing
    import os

    from dedupe.parallel import OrderedPool

    monkeypatch.setattr(multiprocessing, "get_all_start_methods", lambda: ["spawn"])
    with OrderedPool(functools.partial(_tagged, "first"), workers=2) as pool:
        got = list(pool.map(iter(range(8))))
        assert [(t, v) for t, v, _ in got] == [("first", -k) for k in range(8)]
        assert pool._slots is None and pool._pool is not None
        pool.switch(functools.partial(_tagged, "second"))
        assert pool._pool is None
        again = list(pool.map(iter(range(8))))
        assert [(t, v) for t, v, _ in again] == [("second", -k) for k in range(8)]
    # items 1-4 went to a spawned process each time, and the second one was another process
    first, second = ({pid for _, _, pid in run} - {os.getpid()} for run in (got, again))
    assert first and second and not first & second


def test_chunks_without_any_block_pass_with_every_detector():
    """A chunk whose documents are all empty has no block to count terms in (that once recursed
    without end); the documents come back as they were."""
    docs = [Document("e1", ""), Document("e2", "\n\n \n"), A, B, Document("e3", ""), Document("e4", "  ")]
    for chunk_size in (1, 2, 256):
        cleaned = list(_Cleaner(chunk_size=chunk_size).clean(docs))
        assert [c.document.id for c in cleaned] == ["e1", "e2", "a", "b", "e3", "e4"]
        assert [c.text for c in cleaned if c.document.id.startswith("e")] == ["", "\n\n \n", "", "  "]
        assert [d.reason for d in decisions(_Cleaner(chunk_size=chunk_size), docs)["b"].stripped] == ["duplicate"]
    assert list(_Cleaner().clean([Document("only", "")]))[0].decisions == []


def test_the_tuned_allocator_keeps_chunk_sized_arrays_off_mmap():
    """The command line tunes glibc's malloc so that a chunk's numpy temporaries are reused
    rather than mapped and page-faulted in again; a fresh process shows the difference."""
    import platform
    import subprocess
    import sys

    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        pytest.skip("the tuning applies to glibc only")
    probe = """
import ctypes, sys
import numpy as np
from dedupe.parallel import tune_allocator
if sys.argv[1] == "tuned":
    assert tune_allocator()
class Info(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()]
mallinfo2 = ctypes.CDLL("libc.so.6").mallinfo2
mallinfo2.restype = Info
before = mallinfo2().hblks
block = np.ones(1 << 20)  # 8 MB, a chunk's temporary
print(mallinfo2().hblks - before)
"""
    mapped = {how: subprocess.run([sys.executable, "-c", probe, how], capture_output=True, text=True,
                                  check=True).stdout.strip() for how in ("plain", "tuned")}
    assert mapped == {"plain": "1", "tuned": "0"}


def test_the_command_line_keeps_blas_to_one_thread_and_collects_less_in_every_worker():
    """``dedupe clean`` limits numpy's BLAS to one thread (its spinning threads took CPU from
    the other worker) and runs the garbage collector less often, and the worker processes forked
    afterwards inherit both."""
    import os
    import subprocess
    import sys

    probe = """
import numpy as np
from threadpoolctl import threadpool_info
from dedupe.parallel import OrderedPool, tune_process
import gc
def blas_threads(_):
    return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"] + [gc.get_threshold()[0]]
before = blas_threads(0)
tune_process()
with OrderedPool(blas_threads, workers=2) as pool:
    print(*(str(x).replace(" ", "") for x in (before, blas_threads(0), list(pool.map(range(4))))))
"""
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                         env={**os.environ, "OPENBLAS_NUM_THREADS": "2"}).stdout.split(" ", 2)
    assert out[0] == "[2,700]"  # the probe's BLAS can run threads: the limit has something to do
    assert out[1] == "[1,50000]" and out[2].strip() == "[[1,50000],[1,50000],[1,50000],[1,50000]]"


def test_thousands_of_alike_blocks_in_a_chunk_cost_what_they_are():
    """30,000 lines that are 7 sentences over and over, in one document and spread over many:
    each repeat points at its first occurrence. The chunk's lookups once paired every two
    blocks sharing a band key (a billion pairs here, a MemoryError)."""
    lines = ["The regional council has published its agenda for the coming session of debates",
             "Heavy rain is expected across the northern valleys from Thursday evening onwards",
             "Shares in the mining company rose sharply after it reported record copper output",
             "A new exhibition of early photographs opens at the city museum this weekend",
             "The national team named three uncapped players in its squad for the qualifiers",
             "Engineers say the repaired bridge will reopen to lorries before the end of June",
             "Local schools will receive extra funding for science laboratories next year"]
    text = "\n".join(lines[i % 7] for i in range(30_000))
    one = decisions(Cleaner(), [Document("one", text)])["one"]
    stripped = [d for d in one.decisions if d.action == "strip"]
    assert len(stripped) == 30_000 - 7
    assert all(d.reason == "duplicate" and d.duplicate_of.block == d.block % 7 for d in stripped)
    many = decisions(Cleaner(), [Document(f"d{i}", "\n".join(lines[(i + k) % 7] for k in range(3)))
                                 for i in range(3_000)])
    kept = [(doc, d.block) for doc, c in many.items() for d in c.decisions if d.action == "keep"]
    assert len(kept) == 7 and {doc for doc, _ in kept} <= {"d0", "d1", "d2", "d3", "d4"}


def test_a_one_shot_stream_is_replayed_whole_for_the_second_pass():
    """With the template detector on, clean() reads the documents twice: a generator is spooled
    to disk (in batches) and every field of every document comes back, in order."""
    docs = [Document(f"d{k}", f"Paragraph {k} of a long enough story about the river.\n" + SHARED,
                     record={"id": f"d{k}", "url": f"https://site{k % 3}.example/{k}", "extra": [k]},
                     location=f"dump.jsonl:{k + 1}", source=f"site{k % 3}.example") for k in range(600)]
    cleaned = list(_Cleaner().clean(d for d in docs))
    assert [c.document for c in cleaned] == docs
    assert [d.action for d in cleaned[1].decisions] == ["keep", "strip"]  # the copy found in pass 1


def test_a_second_pass_over_other_documents_is_an_error_naming_the_first_that_changed():
    """transform() replays the documents fit() saw: one whose blocks changed, one too many and
    one too few are each a clear error, not decisions made from another document's findings."""
    from dedupe.errors import InputError

    docs = [Document(f"d{k}", f"Paragraph {k} of a long enough story.\n" + SHARED, location=f"dump.jsonl:{k + 1}")
            for k in range(300)]
    changed = docs[:257] + [Document("x", docs[257].text + "\nOne more paragraph.", location="dump.jsonl:258")]
    # the same blocks, one of them edited: the block counts agree, the texts do not
    edited = docs[:100] + [Document("y", docs[100].text.upper(), location="dump.jsonl:101")] + docs[101:]
    # the same texts under other ids: copies named ids that this pass never gave
    renamed = [Document(f"e{k}", d.text, location=d.location) for k, d in enumerate(docs)]
    for others, message in ((changed + docs[258:], "dump.jsonl:258"), (edited, "dump.jsonl:101: the documents changed"),
                            (renamed, re.escape("dump.jsonl:1: the documents changed between the two passes (a text, or an id)")),
                            (docs + docs[:1], re.escape("dump.jsonl:1: transform() got more documents than the 300 fit() saw")),
                            (docs[:-1], re.escape("transform() got 299 documents but fit() saw 300"))):
        cleaner = _Cleaner().fit(docs)
        with pytest.raises(InputError, match=message):
            list(cleaner.transform(others))
    assert len(list(_Cleaner().fit(docs).transform(docs))) == 300


def test_the_first_pass_term_counts_serve_only_the_very_same_texts():
    """The second pass reuses a chunk's off-topic term counts from the first only when the
    chunk's texts are the same ones: one character changed, or two texts swapped, and they are
    counted afresh."""
    import numpy as np

    from dedupe.offtopic import OffTopicDetector
    from dedupe.parallel import pack_counts, unpack_counts
    from dedupe.segmenting import segment_texts

    texts = [A.text, B.text, "Breve nota.\nÜber die Brücke \ud800 und zurück."]
    counts = OffTopicDetector().term_counts([segment_texts(t) for t in texts])
    packed = pack_counts(texts, counts)
    back = unpack_counts(packed, list(texts))
    assert back is not None and np.array_equal(back.data, counts.data) and np.array_equal(back.indices, counts.indices)
    assert unpack_counts(packed, [A.text, B.text, texts[2].replace("zurück", "zurúck")]) is None
    assert unpack_counts(packed, [B.text, A.text, texts[2]]) is None
    assert unpack_counts(None, texts) is None


def _lengths_and_arrays(item):
    import numpy as np

    texts, size = item
    return [len(t) for t in texts], np.arange(size, dtype=np.int64)


def test_items_and_results_cross_in_shared_memory_or_by_pipe_when_too_big():
    """Texts and arrays travel to the other process and back in shared slots; an item or a
    result bigger than its slot goes by pipe instead; either way the results are what this
    process computes, in input order."""
    from dedupe.parallel import OrderedPool, Texts

    items = [(Texts(["ab", "Über \ud800", "", "🙂 \u2028x"] * k), size) for k, size in
             enumerate([10, 300_000, 5, 0, 200_000, 7, 1, 3])]  # 300,000 int64: above a 1 MB slot
    expected = [_lengths_and_arrays(item) for item in items]
    pool = OrderedPool(_lengths_and_arrays, workers=2)
    pool._SLOT_SIZE = 1 << 20
    with pool:
        got = list(pool.map(iter(items)))
        assert pool._slots is not None and len(pool._slots.free) == pool._sent_cap  # every slot back
    assert [lengths for lengths, _ in got] == [lengths for lengths, _ in expected]
    assert all((a == b).all() and len(a) == len(b) for (_, a), (_, b) in zip(got, expected))


def test_segmenting_a_chunk_gives_every_texts_blocks():
    """segment_chunk's columns are segment()'s blocks of every text, in order, whatever the line
    ends (\\n, \\r\\n, \\r, mixed in one chunk), blank and white-space lines, a final newline, empty
    texts and separators that are not line ends; and the texts cut again from offsets alone."""
    import random

    from dedupe.segmenting import segment, segment_chunk, segment_texts

    rng = random.Random(4)
    alphabet = ["a", "b c", "\n", "\n", "\r", "\r\n", " ", "\t", "\u2028", "\x0b", "é", "\ud800", "🙂"]
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30))) for _ in range(2000)]
    texts += ["", "\n", "x\n", "\n\nx", A.text, B.text]
    for chunk in (texts, texts[-6:], [A.text, "one\r\ntwo", B.text, "a\rb"], [""], []):
        blocks = [block for text in chunk for block in segment(text)]
        got = segment_chunk(chunk)
        assert got.counts.tolist() == [len(segment(text)) for text in chunk]
        assert list(zip(got.starts.tolist(), got.ends.tolist(), got.texts, got.line_ends.tolist())) == \
            [(b.start, b.end, b.text, b.line_end) for b in blocks]
        assert got.offsets().with_texts(chunk).texts == got.texts
        assert got.whole.tolist() == ["\n".join(segment_texts(t)) == t and "\r" not in t and t != "" for t in chunk]


def test_the_index_gives_many_pointers_back_as_one_at_a_time():
    import numpy as np

    from dedupe.indexing import BlockIndex

    index = BlockIndex(num_perm=16, threshold=0.8)
    rng = np.random.default_rng(0)
    for doc in ("a", "b", "c"):
        index.add(rng.integers(0, 2**32, (4, 16), dtype=np.uint32), rng.integers(0, 2**63, 4).astype(np.uint64),
                  doc, [0, 2, 5, 7])
    entries = np.array([11, 0, 4, 4, 7])
    assert index.refs(entries) == [index.ref(e) for e in entries.tolist()]
    assert index.refs(entries)[0] == ("c", 7) and index.refs(np.zeros(0, np.int64)) == []


def test_a_cleaner_cleaning_batch_after_batch_decides_each_as_a_new_one_would(monkeypatch):
    """Each clean() learns the off-topic vocabulary of its own documents alone, so a cleaner
    reused batch after batch (a pipeline step) decides as a new cleaner per batch does; its
    detector is emptied between the batches, not built again (the background table is read
    once: a new detector read it, some 15 ms, every batch)."""
    from pathlib import Path

    from dedupe.offtopic import OffTopicDetector

    seeds = [Document(p.stem, p.read_text(encoding="utf-8")) for p in sorted(Path("seeds").glob("*.txt"))]
    batches = [seeds[:3], seeds[3:], seeds[:3], seeds[1:]]

    def outcome(cleaned):
        return [[(d.action, d.reason, d.score) for d in c.decisions] for c in cleaned]

    expected = [outcome(_Cleaner().clean(batch)) for batch in batches]
    reads = []
    load = OffTopicDetector._load_background
    monkeypatch.setattr(OffTopicDetector, "_load_background", lambda self: reads.append(1) or load(self))
    reused = _Cleaner()
    assert [outcome(reused.clean(batch)) for batch in batches] == expected
    assert any(d[1] == "off-topic" for batch in expected for doc in batch for d in doc)  # the detector has a say
    assert len(reads) == 1


def test_inside_an_articles_body_a_block_needs_stronger_evidence_to_go():
    """Between the first and the last long block the classifier keeps, a block goes as
    boilerplate only from body_threshold (0.8): list items, subheadings and short paragraphs
    there are the article's far more often than not (held-out content words lost on the
    labelled pages: -24%). Outside that span, and for the headline, the usual limits hold."""
    import numpy as np

    from dedupe.deciding import Copies, Findings, combine

    p = np.array([0.95, 0.6, 0.1, 0.7, 0.85, 0.2, 0.6, 0.1, 0.6, 0.3])
    words = np.array([3, 4, 40, 3, 5, 60, 2, 30, 4, 50])
    first = np.array([1, 0, 0, 0, 0, 0, 0, 1, 0, 0], bool)  # two documents: blocks 0-6 and 7-9
    findings = Findings(copies=Copies.fresh(np.arange(10)), boilerplate=p, words=words)
    strip = combine(findings, CleanerConfig(), 0.5, first)[0]
    # doc 1: body = blocks 3, 4 (between the kept long blocks 2 and 5): 0.7 stays, 0.85 goes;
    # before and after it the usual 0.5 (block 0 is the headline: 0.9); doc 2: body = block 8
    assert strip.tolist() == [True, True, False, False, True, False, True, False, False, False]
    assert combine(findings, CleanerConfig(), 0.5, first)[1][4] == 4  # (reason: boilerplate)
    assert combine(Findings(copies=findings.copies, boilerplate=p), CleanerConfig(), 0.5, first)[0][[3, 8]].all()
    looser = CleanerConfig(body_threshold=0.65, body_words=50)  # one long block a document: no body
    assert combine(findings, looser, 0.5, first)[0].tolist() == [True, True, False, True, True, False, True,
                                                                 False, True, False]
    with pytest.raises(ConfigError, match="body_threshold"):
        CleanerConfig(body_threshold=1.0)


WEATHER = ["Forecast for the weekend across the United Kingdom, city by city, from the Met Office.",
           "London: Sunny spells with a high of 21C and a low of 12C. Winds from the south-west at 10 mph, with a 10% chance of rain.",
           "Manchester: Cloudy with a high of 17C and a low of 10C. Winds from the west at 15 mph, with a 60% chance of rain.",
           "Birmingham: Sunny spells with a high of 19C and a low of 11C. Winds from the south-west at 12 mph, with a 20% chance of rain.",
           "Glasgow: Heavy showers with a high of 14C and a low of 8C. Winds from the north-west at 20 mph, with an 80% chance of rain.",
           "Cardiff: Sunny spells with a high of 20C and a low of 12C. Winds from the south-west at 10 mph, with a 20% chance of rain.",
           "Belfast: Cloudy with a high of 15C and a low of 9C. Winds from the west at 15 mph, with a 70% chance of rain."]
PHONES = ["These are the phones we recommend this autumn, after weeks of testing.",
          "Apple iPhone 15 Pro: $999, 6.1-inch OLED display, A17 Pro chip, up to 1TB of storage, three rear cameras.",
          "Apple iPhone 15 Pro Max: $1,199, 6.7-inch OLED display, A17 Pro chip, up to 1TB of storage, three rear cameras.",
          "Samsung Galaxy S23: $799, 6.1-inch OLED display, Snapdragon 8 Gen 2 chip, up to 512GB of storage, three rear cameras.",
          "Samsung Galaxy S23 Ultra: $1,199, 6.8-inch OLED display, Snapdragon 8 Gen 2 chip, up to 1TB of storage, four rear cameras.",
          "Google Pixel 8 Pro: $999, 6.7-inch OLED display, Tensor G3 chip, up to 512GB of storage, three rear cameras."]


@pytest.mark.parametrize("items", [WEATHER, PHONES], ids=["weather", "phones"])
def test_items_of_one_template_that_state_other_facts_are_no_copies(items):
    """A list built on one template, each item with facts of its own (Cardiff's forecast after
    London's, the iPhone 15 Pro Max after the Pro), read 0.4-0.5 alike inside its article and
    went as near-duplicates, and the repeated-passage rule pulled neighbours after them. Items
    that each state a number the other lacks are copies from the cross-document threshold
    (0.7) only; the same item repeated still goes."""
    cleaner = Cleaner(detect={"duplicate", "near-duplicate"})
    assert [d.action for d in cleaner.clean_document("\n".join(items)).decisions] == ["keep"] * len(items)
    again = cleaner.clean_document("\n".join(items + items[2:3])).decisions
    assert [d.action for d in again] == ["keep"] * len(items) + ["strip"] and again[-1].reason == "duplicate"
    # a copy re-worded without touching its facts is still a copy (rule 1 at 0.4)
    words = items[2].split()
    reworded = " ".join(words[:1] + ["Changed"] + words[2:])
    assert cleaner.clean_document("\n".join(items + [reworded])).decisions[-1].action == "strip"


def _alike_blocks_document(rng, k: int, alike: int, num_perm: int = 128):
    """The sketch of a document of ``k`` blocks: unrelated ones and ``alike`` near copies of one
    block (m of its values changed, some at the doc threshold), exact repeats, short blocks and
    blocks of other sizes (containment) among them."""
    import numpy as np

    from dedupe.deciding import Sketch

    sig = rng.integers(0, 2**32, (k, num_perm), dtype=np.uint32)
    base = rng.integers(0, 2**32, num_perm, dtype=np.uint32)
    exact = rng.integers(0, 2**63, k, dtype=np.uint64)
    for row in rng.choice(k, alike, replace=False).tolist():
        changed = int(rng.choice([0, 1, 5, 40, 76, 77, 90, 110, 127]) * num_perm // 128)
        sig[row] = base
        sig[row, rng.choice(num_perm, changed, replace=False)] = rng.integers(0, 2**32, changed, dtype=np.uint32)
        exact[row] = 7 if changed == 0 else exact[row]
    words = np.where(rng.random(k) < 0.1, 2, rng.integers(5, 60, k))
    sizes = np.maximum(words - 4, 1) * np.where(rng.random(k) < 0.3, 2, 1)
    words[exact == 7], sizes[exact == 7] = 30, 26
    for row in rng.choice(k, k // 10, replace=False).tolist():  # exact repeats of an earlier block
        if row:
            copied = int(rng.integers(0, row))
            sig[row], exact[row], words[row], sizes[row] = sig[copied], exact[copied], words[copied], sizes[copied]
    return Sketch(words, sizes, exact, sig)


@pytest.mark.parametrize("seed", range(4))
def test_the_agreeing_pairs_of_a_document_of_many_alike_blocks_decide_what_every_pair_does(seed, monkeypatch):
    """A long document with a few hundred near copies of one block among unrelated ones holds
    more pair-position agreements than one batch gathers (once: every pair was scored instead,
    k^2 / 2 of them). Gathered batch by batch, whatever the batch, the agreeing pairs decide what
    scoring every pair decides, with the kernels and without."""
    import numpy as np

    from dedupe import native
    from dedupe.deciding import _agreeing_pairs, local_copies

    config = CleanerConfig()
    rng = np.random.default_rng(seed)
    sketches = [_alike_blocks_document(rng, int(rng.integers(150, 400)), int(rng.integers(20, 90)))
                for _ in range(2)]
    for s in sketches:  # past the limit where every pair was scored (it was max_agreements=5000 here)
        assert sum(len(i) for i, _, _ in _agreeing_pairs(s.signatures, 5000)) and \
            _agreeing_pairs(s.signatures, 1 << 20, most=5000) is None
    sketches.insert(1, _alike_blocks_document(rng, 5, 3))  # a small document between them
    for kernels in ("1", "0"):
        monkeypatch.setenv("DEDUPE_NATIVE", kernels)
        assert native.load() is None or kernels == "1"
        every_pair = local_copies(sketches, config, max_pairs=10, agreements_per_pair=0)
        for batch in (0, 100, 5000, 1 << 20):
            agreeing = local_copies(sketches, config, max_pairs=10, max_agreements=batch)
            for a, b in zip(agreeing, every_pair):
                np.testing.assert_array_equal(a.earlier, b.earlier)
                np.testing.assert_array_equal(a.earlier_score, b.earlier_score)
        assert sum(int((s.earlier >= 0).sum()) for s in every_pair) > 40


def test_agreeing_pairs_come_in_batches_of_whole_later_rows():
    """Each later row's pairs in one batch, the batches in order and no larger than asked
    unless one row is; None past the limit on all agreements."""
    import numpy as np

    from dedupe.deciding import _agreeing_pairs

    rng = np.random.default_rng(3)
    for m, columns, values in ((0, 4, 3), (1, 4, 3), (2, 4, 1), (40, 8, 2), (300, 20, 4), (500, 128, 2**32)):
        sig = rng.integers(0, values, (m, columns), dtype=np.uint32)
        # every pair, by brute force
        agree = np.tril((sig[:, None, :] == sig[None, :, :]).sum(axis=-1), -1)
        expected_i, expected_j = np.nonzero(agree)
        total = int(agree.sum())
        assert m < 2 or _agreeing_pairs(sig, 10, most=total - 1) is None
        for batch in (0, 7, 1000, 1 << 20):
            batches = list(_agreeing_pairs(sig, batch, most=total))
            i = np.concatenate([b[0] for b in batches]) if batches else np.zeros(0, np.int64)
            j = np.concatenate([b[1] for b in batches]) if batches else np.zeros(0, np.int64)
            sims = np.concatenate([b[2] for b in batches]) if batches else np.zeros(0, np.float32)
            np.testing.assert_array_equal(i, expected_i)
            np.testing.assert_array_equal(j, expected_j)
            assert sims.dtype == np.float32
            np.testing.assert_array_equal(sims, (agree[expected_i, expected_j] / columns).astype(np.float32))
            rows = [np.unique(bi) for bi, _, _ in batches]
            assert sum(map(len, rows)) == len(np.unique(expected_i))  # a row's pairs in one batch
            for batch_rows in rows:  # at most the batch's agreements (and columns), unless one row is more
                assert len(batch_rows) == 1 or (agree[batch_rows].sum(axis=1) + columns).sum() <= batch


def _pass_by_pass_extend_runs(v, signatures, short, config):
    """deciding._extend_runs as it was: passes over every block until one changes nothing."""
    from dedupe.deciding import _NEAR_DUPLICATE, similarity

    k = len(v.local)
    local = v.local
    changed = True
    while changed:
        changed = False
        for i in range(k):
            original = int(local[i])
            if original < 0:
                continue
            for step in (1, -1):
                a, t = i + step, original + step
                if t < 0 or a >= k or a <= original or t >= a:
                    continue
                if local[a] >= 0 or v.entry[a] >= 0 or local[t] >= 0 or v.entry[t] >= 0 or short[a] != short[t]:
                    continue
                sim = similarity(signatures, a, t)
                if sim >= config.run_threshold:
                    v.reason[a], v.score[a], local[a] = _NEAR_DUPLICATE, float(sim), t
                    changed = True


def _pass_by_pass_keep_lone_short_blocks(v, short):
    """deciding._keep_lone_short_blocks as it was: confirmations pass after pass."""
    is_copy = v.is_copy
    pending = [int(i) for i in (short & is_copy).nonzero()[0]]
    if not pending:
        return
    k = len(is_copy)
    confirmed: set[int] = set()
    grew = True
    while grew:
        grew = False
        for i in pending:
            if i in confirmed:
                continue
            for n in (i - 1, i + 1):
                if 0 <= n < k and is_copy[n] and (not short[n] or n in confirmed):
                    confirmed.add(i)
                    grew = True
                    break
    for i in pending:
        if i not in confirmed:
            v.stays[i] = True


def _random_verdicts(rng, k: int, num_perm: int = 20):
    """Verdicts of a document of ``k`` blocks with copies here and there (in runs, some of other
    documents), short blocks among them, and signatures whose neighbours' similarities lie
    around the run threshold (values from a small alphabet)."""
    import numpy as np

    from dedupe.deciding import Verdicts

    v = Verdicts.none(k)
    short = rng.random(k) < rng.choice([0.0, 0.3, 0.7, 1.0])
    signatures = rng.integers(0, int(rng.choice([2, 4, 6, 50])), (k, num_perm), dtype=np.uint32)
    density = rng.choice([0.02, 0.1, 0.3, 0.6])
    for i in range(1, k):
        if rng.random() < density:
            if rng.random() < 0.2:
                v.entry[i], v.reason[i], v.score[i] = int(rng.integers(0, 1000)), 2, 0.9
            else:
                v.local[i] = int(rng.integers(0, i))
                v.reason[i], v.score[i] = int(rng.choice([1, 2])), float(rng.random())
    return v, signatures, short


@pytest.mark.parametrize("seed", range(40))
def test_run_extension_and_lone_short_blocks_settle_as_the_pass_by_pass_loops_did(seed):
    """Rules 3 and 4 in one visit per block give what the passes over every block gave, on
    random documents: the same copies, each found from the same block, the same short blocks
    kept."""
    import copy

    import numpy as np

    from dedupe.deciding import Verdicts, _extend_runs, _keep_lone_short_blocks

    config = CleanerConfig(num_perm=20)
    rng = np.random.default_rng(seed)
    for _ in range(10):
        k = int(rng.choice([1, 2, 3, 10, 40, 120]))
        v, signatures, short = _random_verdicts(rng, k)
        new, old = copy.deepcopy(v), copy.deepcopy(v)
        _extend_runs(new, signatures, short, config)
        _keep_lone_short_blocks(new, short)
        _pass_by_pass_extend_runs(old, signatures, short, config)
        _pass_by_pass_keep_lone_short_blocks(old, short)
        for field in ("reason", "score", "local", "entry", "stays"):
            np.testing.assert_array_equal(getattr(new, field), getattr(old, field))
    # a passage pasted again and re-worded, its last block identical: found from the end back
    k = 200
    signatures = rng.integers(0, 2**32, (k, 20), dtype=np.uint32)
    signatures[100:] = signatures[:100]
    signatures[100:199, :15] += np.uint32(1)  # 5 values of 20 still agree: 0.25
    v = Verdicts.none(k)
    v.local[199], v.reason[199], v.score[199] = 99, 1, 1.0
    short = np.zeros(k, bool)
    short[50:70] = short[150:170] = True
    _extend_runs(v, signatures, short, config)
    assert v.local[100:].tolist() == list(range(100))
    # short copies in a stretch of copies with a long one at its end go; a stretch of short
    # copies alone stays
    v = Verdicts.none(8)
    v.local[[1, 2, 3, 5, 6]] = 0
    short = np.array([0, 1, 1, 0, 0, 1, 1, 0], bool)
    _keep_lone_short_blocks(v, short)
    assert v.stays.tolist() == [False] * 5 + [True, True, False]
