"""The cleaning pass: read -> segment -> shingle -> MinHash -> index lookup -> decide -> write.

:class:`Cleaner` is the Python API, shaped like a scikit-learn transformer:

- ``fit(documents)`` is the first pass. It finds every block's earlier copy through the index,
  counts how many documents each group of copies spreads over (site templates recur in many) and
  learns the dump's vocabulary for the off-topic detector. It keeps only compact arrays: a few
  bytes per block plus the index.
- ``transform(documents)`` is the second pass over the same documents: it adds the template,
  boilerplate and off-topic findings and yields one :class:`CleanedDocument` per document, in
  order, each with a :class:`BlockDecision` per block.
- ``clean(documents)`` does both, replaying the documents from a temporary spool file when they
  come from a one-shot iterator; with the template detector off it is a single streaming pass.

Example
-------
>>> docs = ["Breaking: a long story about the storm in the north of the country.\\n"
...         "Breaking: a long story about the storm in the north of the country.",
...         "Another site ran it. A long story about the storm in the north of the country."]
>>> for cleaned in Cleaner().clean(docs):
...     print(cleaned.document.id, [(d.block, d.action, d.reason) for d in cleaned.decisions])
0 [(0, 'keep', None), (1, 'strip', 'duplicate')]
1 [(0, 'keep', None)]
"""

from __future__ import annotations

import dataclasses
import io
import numbers
import pickle
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import repeat
from operator import attrgetter
from typing import Iterable, Iterator, Optional, Union

import numpy as np

from .config import CleanerConfig
from .deciding import COPY_REASON_CODES, REASONS, Copies, Findings, Sketch, combine, find_copies
from .errors import ConfigError, InputError
from . import native
from .indexing import BlockIndex, BlockRef, ChunkLookup, GrowableArray, Index
from .parallel import MAX_WORKERS, ChunkWork, CountSpool, OrderedPool, Scorer, Shipped, Sketcher, Texts
from .reading import Document, chunked, id_text, source_of
from .segmenting import Segments, strip_lines
from .tokentable import count_words
from .writing import temporary_file


@dataclass(slots=True)
class BlockDecision:
    """What the cleaner did with one block, and why (one line of the report)."""

    doc_id: str
    block: int
    start: int
    end: int
    text: str
    action: str  # "keep" | "strip"
    reason: Optional[str] = None
    score: Optional[float] = None
    duplicate_of: Optional[BlockRef] = None
    cluster: Optional[int] = None
    source: Optional[str] = None  # the document's site, when known (reported only then)

    def to_record(self) -> dict:
        """The block's report line as a dict (see README, "The report")."""
        record = {
            "doc_id": self.doc_id, "block": self.block, "start": self.start, "end": self.end,
            "text": self.text, "action": self.action, "reason": self.reason,
            "score": None if self.score is None else round(float(self.score), 4),
            "duplicate_of": None if self.duplicate_of is None
            else {"doc_id": self.duplicate_of.doc_id, "block": self.duplicate_of.block},
            "cluster": self.cluster,
        }
        if self.source is not None:
            record["source"] = self.source
        return record


@dataclass
class CleanedDocument:
    """A document as the cleaner left it: the ``document`` read, its cleaned ``text`` (the
    stripped blocks' lines removed, every other byte in place) and one decision per block."""

    document: Document
    text: str
    decisions: list[BlockDecision]

    @property
    def stripped(self) -> list[BlockDecision]:
        """The decisions of the blocks that were removed."""
        return [d for d in self.decisions if d.action == "strip"]


DocumentLike = Union[Document, str, dict]


class Cleaner:
    """Strips duplicated, template, boilerplate and off-topic blocks from documents.

    Parameters
    ----------
    config : CleanerConfig, optional
        All decision parameters (see :class:`dedupe.config.CleanerConfig`); keyword arguments
        override single fields, e.g. ``Cleaner(cross_doc="flag")``.
    index : Index, optional
        Where kept blocks are remembered; a fresh in-memory :class:`BlockIndex` by default.
    boilerplate : BoilerplateClassifier, optional
        The block classifier; the model shipped with the package by default.
    offtopic : OffTopicDetector, optional
        The off-topic detector (its settings); a default one otherwise. Either is fitted afresh
        on the documents of each run, so give each Cleaner one of its own.
    workers : int
        Processes that segment, sketch and score documents (1: all in this process). The
        index and the decisions stay in this process, so the output does not depend on it.
    chunk_size : int
        Documents handled together (numpy works best on a few thousand blocks at a time:
        256 news articles, some 5,000 paragraphs, ran the defaults ~10% faster than 64 and
        than 512 on the benchmark dump; the output does not depend on it). The first chunk of
        each pass is an eighth of it: the worker processes start once this process has done
        the first pass's, and they start warm (see :class:`~dedupe.parallel.OrderedPool`), so a
        small one keeps them waiting less; ``clean()`` runs its second pass on the same
        processes.
    """

    def __init__(self, config: CleanerConfig | None = None, *, index: Index | None = None,
                 boilerplate=None, offtopic=None, workers: int = 1, chunk_size: int = 256, **params):
        if config is not None and not isinstance(config, CleanerConfig):
            raise ConfigError(f"config must be a CleanerConfig, got {type(config).__name__}: give the parameters "
                              "as keywords instead, e.g. Cleaner(threshold=0.5)")
        config = config or CleanerConfig()
        self.config = config.with_(**params) if params else config
        if isinstance(workers, numbers.Integral) and not isinstance(workers, bool):
            workers = int(workers)  # numpy's too
        if not (isinstance(workers, int) and not isinstance(workers, bool) and 1 <= workers <= MAX_WORKERS):
            raise ConfigError(f"workers must be a whole number from 1 to {MAX_WORKERS}, got {workers!r}")
        if not (isinstance(chunk_size, int) and not isinstance(chunk_size, bool) and chunk_size >= 1):
            raise ConfigError(f"chunk_size must be a whole number >= 1, got {chunk_size!r}")
        self.workers = workers
        self.chunk_size = chunk_size
        self._given_index = index
        self._sketcher = Sketcher(self.config)
        self.boilerplate = boilerplate
        self.offtopic = offtopic
        self._own_offtopic = False
        self._pool: OrderedPool | None = None  # the worker processes both passes of clean() share
        self._running = False  # a run is under way (see _one_run)
        self._load_detectors()
        self._reset()

    # -- public API ------------------------------------------------------------------------
    @property
    def two_pass(self) -> bool:
        """Whether cleaning needs a first pass over all documents: template counts do, and the
        off-topic detector learns the dump's vocabulary in it (with one pass it scored on its
        background table alone, unlike fit() then transform())."""
        detect = self.config.detect
        return "template" in detect or ("off-topic" in detect and self.offtopic is not None)

    @property
    def _first_chunk(self) -> int:
        return max(1, self.chunk_size // 8)

    @contextmanager
    def _one_run(self) -> Iterator[None]:
        """A run's state (the index, the counts, the worker processes) is this object's: a
        second run started while one is unfinished would share it with the first."""
        if self._running:
            raise ConfigError("this Cleaner is in the middle of another run (a clean() or transform() not read to "
                              "its end): finish or close() that one first, or use another Cleaner")
        self._running = True
        try:
            yield
        finally:
            self._running = False

    def fit(self, documents: Iterable[DocumentLike], *, same_documents: bool = False) -> "Cleaner":
        """First pass: find copies and count their spread; keeps compact per-block arrays.

        ``same_documents=True`` (here and in :meth:`transform`) promises that the second pass
        gets these very documents, text for text, as when they are read twice from a file that
        does not change: the term counts kept between the passes then go back without a digest
        of every text, and no text is checked (1-2% of a run), so a document that did change is
        not noticed. Without it, a document whose text is not the one this pass saw stops the
        second pass with an InputError naming it."""
        _check_stream(documents, "fit")
        with self._one_run():
            return self._fit(documents, same_documents)

    def transform(self, documents: Iterable[DocumentLike], *, same_documents: bool = False
                  ) -> Iterator[CleanedDocument]:
        """Second pass over the documents given to :meth:`fit`, in the same order."""
        _check_stream(documents, "transform")
        return self._in_one_run(self._transform(documents, same_documents))

    def _in_one_run(self, run: Iterator[CleanedDocument]) -> Iterator[CleanedDocument]:
        with self._one_run():
            yield from run

    def _fit(self, documents: Iterable[DocumentLike], same_documents: bool) -> "Cleaner":
        self._reset()
        stats = _Spread(check_texts=not same_documents)
        if self.offtopic is not None and "off-topic" in self.config.detect:
            self._spool = CountSpool()  # the second pass scores with the same term counts
        work = ChunkWork(self._sketcher, fitting=self.offtopic, blocks=False, keep_counts=self._spool is not None,
                         same_documents=same_documents)
        try:
            for docs, _, results, copies in self._locate(documents, work):
                stats.record(docs, [len(sketch.signatures) for sketch, _ in results], copies)
        except BaseException:  # the term counts kept so far (a file without a name) go now, not at the next run
            if self._spool is not None:
                self._spool.close()
                self._spool = None
            raise
        self._spread = stats
        return self

    def _transform(self, documents: Iterable[DocumentLike], same_documents: bool) -> Iterator[CleanedDocument]:
        if self._spread is None:
            raise InputError("call fit() on the documents before transform(), or use clean()")
        stats = self._spread
        if stats.replayed:
            raise InputError("transform() runs once after each fit(): call fit() on the documents again")
        # every document is scored, syndicated copies included: a copy whose kept copy went
        # for another reason is decided on its own findings (see _Survivors)
        number = 0
        spool, self._spool = self._spool, None  # the first pass's term counts serve one replay
        try:
            work = ChunkWork(scorer=self._scorer(), same_documents=same_documents)
            for docs, blocks, results, _ in self._run(documents, work, spool):
                copies = stats.copies(number, docs, blocks.counts)
                number += len(docs)
                yield from self._decide(docs, blocks, [scores for _, scores in results], copies)
        finally:
            if spool is not None:
                spool.close()
        if stats.replayed != stats.documents:
            raise InputError(f"transform() got {stats.replayed} documents but fit() saw {stats.documents}")

    def clean(self, documents: Iterable[DocumentLike]) -> Iterator[CleanedDocument]:
        """Clean documents in order, yielding each cleaned document with its decisions. One
        run at a time: another started before this one is read to its end is refused.

        Documents read once (an iterator) are spooled to a temporary file for the second pass,
        so each :class:`CleanedDocument` holds a new :class:`Document` of the same fields (a
        subclass's own fields are not kept); a list's come back as they are."""
        _check_stream(documents, "clean")
        return self._in_one_run(self._clean(documents))

    def _clean(self, documents: Iterable[DocumentLike]) -> Iterator[CleanedDocument]:
        if not self.two_pass:
            self._reset()
            for docs, blocks, results, copies in self._locate(documents, ChunkWork(self._sketcher, self._scorer())):
                yield from self._decide(docs, blocks, [scores for _, scores in results], copies)
            return
        with _Replay(documents) as replay, self.shared_workers():
            same = isinstance(replay, _Replay)  # its own spool, not a list a caller can change
            self._fit(replay, same)
            yield from self._transform(replay, same)

    @contextmanager
    def shared_workers(self) -> Iterator["Cleaner"]:
        """Keep one set of worker processes for every pass run inside the block: ``fit()`` forks
        them once, and ``transform()`` switches them to its own work instead of forking new
        ones (which start cold and fault in the first pass's memory again). ``clean()`` holds
        them itself; call this around ``fit()`` and ``transform()`` called apart, e.g.

        >>> docs = ["A long story about the storm in the north of the country, told twice."] * 2
        >>> cleaner = Cleaner(workers=2)
        >>> with cleaner.shared_workers():
        ...     cleaned = list(cleaner.fit(docs).transform(docs))
        >>> [d.reason for c in cleaned for d in c.decisions]
        [None, 'duplicate']
        """
        if self._pool is not None:  # already held by an enclosing block
            yield self
            return
        with OrderedPool(None, self.workers) as self._pool:
            try:
                yield self
            finally:
                self._pool = None

    def clean_document(self, document: DocumentLike) -> CleanedDocument:
        """Clean one document on its own: a run of :meth:`clean` over it alone, so its copies
        inside itself are found, but nothing is remembered from one call to the next (to check
        documents against one another, give them to one :meth:`clean`).

        >>> cleaned = Cleaner().clean_document("A storm closed roads in the north on Monday.\\n"
        ...                                    "A storm closed roads in the north on Monday.")
        >>> [(d.action, d.reason) for d in cleaned.decisions]
        [('keep', None), ('strip', 'duplicate')]
        """
        return next(iter(self.clean([document])))

    # -- stages ----------------------------------------------------------------------------
    def _load_detectors(self) -> None:
        detect = self.config.detect
        if "boilerplate" in detect and self.boilerplate is None:
            from .boilerplate import BoilerplateClassifier

            self.boilerplate = BoilerplateClassifier.load()
        if "off-topic" in detect and self.offtopic is None:
            self._own_offtopic = True

    def _reset(self) -> None:
        c = self.config
        self.index = self._given_index if self._given_index is not None else BlockIndex(
            num_perm=c.num_perm, threshold=c.threshold, bands=c.lsh_bands, rows=c.lsh_rows)
        self._spread: _Spread | None = None
        self._survivors = _Survivors(first_entry=len(self.index) if hasattr(self.index, "__len__") else 0)
        if getattr(self, "_spool", None) is not None:
            self._spool.close()
        self._spool: CountSpool | None = None
        if self.offtopic is not None:
            # each run's detector learns the vocabulary of the documents at hand: the last run's,
            # emptied, is one of the same settings that keeps its background table and its memo
            # of word features, which a new one reads and builds again (some 40 ms of every
            # clean() of a small batch). A detector given to the Cleaner is emptied too: it
            # went on adding each run's vocabulary to the last's, so a reused Cleaner decided
            # otherwise than a fresh one (one of the caller's own making, through its forget(),
            # where it has one)
            if hasattr(self.offtopic, "forget"):
                self.offtopic.forget()
        elif self._own_offtopic:
            from .offtopic import OffTopicDetector

            threshold = self.config.offtopic_threshold
            self.offtopic = OffTopicDetector() if threshold is None else OffTopicDetector(threshold=threshold)

    def _scorer(self) -> Scorer:
        return Scorer(self.boilerplate if "boilerplate" in self.config.detect else None,
                      self.offtopic if "off-topic" in self.config.detect else None)

    def _run(self, documents: Iterable[DocumentLike], work: ChunkWork,
             spool: Optional[CountSpool] = None) -> Iterator[tuple]:
        """``(documents, blocks, per-document results, vocabulary)`` per chunk, in input order (see
        :class:`~dedupe.parallel.ChunkWork`); the work runs on the worker processes.
        ``spool``: the first pass's term counts, chunk by chunk."""
        held: deque = deque()

        def texts() -> Iterator[tuple[Texts, Optional[np.ndarray]]]:
            stream = (_as_document(d, n) for n, d in enumerate(documents, start=1))
            for number, chunk in enumerate(chunked(stream, self.chunk_size, first=self._first_chunk)):
                held.append(chunk)
                yield Texts(doc.text for doc in chunk), spool.get(number) if spool is not None else None

        with _pool_for(self._pool, work, self.workers) as pool:
            for blocks, results, vocabulary in pool.map(texts()):
                docs = held.popleft()
                if isinstance(results, Shipped):  # the block texts did not travel: this process holds the texts
                    results = results.documents()
                    if blocks is not None:
                        blocks = blocks.with_texts([doc.text for doc in docs])
                yield docs, blocks, results, vocabulary

    def _locate(self, documents: Iterable[DocumentLike], work: ChunkWork) -> Iterator[tuple]:
        """Sketch and look up every block; register the first occurrences. Per chunk, what
        :meth:`_run` gives and the copy findings of all its blocks.

        The index is searched for a whole chunk at once; blocks registered inside the chunk are
        found through :class:`~dedupe.indexing.ChunkLookup`, so the result is the same as one
        document at a time.
        """
        for number, (docs, blocks, results, vocabulary) in enumerate(self._run(documents, work)):
            if vocabulary is not None:
                features, blocks, packed = vocabulary
                self.offtopic.add_frequencies(features, blocks)
                if packed is not None and self._spool is not None:
                    self._spool.put(number, packed)
            yield docs, blocks, results, self._copies_of_chunk(docs, [sketch for sketch, _ in results])

    def _copies_of_chunk(self, docs: list[Document], sketches: list[Sketch]) -> Copies:
        """The copy findings of every block of the chunk's documents, in order, the index
        registering the kept blocks."""
        signatures = np.concatenate([s.signatures for s in sketches])
        exact = np.concatenate([s.exact for s in sketches])
        lookup = self.index.chunk(signatures, exact)
        copies = self._compiled_copies(docs, sketches, signatures, exact, lookup)
        if copies is None:  # document by document
            lo, each = 0, []
            for doc, sketch in zip(docs, sketches):
                rows = range(lo, lo + len(sketch.signatures))
                each.append(self._copies(doc, sketch, lookup, rows))
                lo = rows.stop
            copies = Copies.concatenate(each)
        self.index.flush()
        return _as_its_twin(copies, sketches, exact)

    def _compiled_copies(self, docs: list[Document], sketches: list[Sketch], signatures: np.ndarray,
                         exact: np.ndarray, lookup) -> Optional[Copies]:
        """What :meth:`_copies` gives for every document of a chunk, concatenated, in one call of
        the compiled kernel (None where it does not apply: no kernels, or an index of another
        kind)."""
        kernels = native.load()
        if (kernels is None or not isinstance(self.index, BlockIndex) or not isinstance(lookup, ChunkLookup)
                or self.index.signature_bits != 4 or any(s.earlier is None for s in sketches)):
            return None
        sizes = np.array([len(s.signatures) for s in sketches], np.int64)
        doc_start = np.zeros(len(sketches) + 1, np.int64)
        np.cumsum(sizes, out=doc_start[1:])
        c = self.config
        if len(signatures) == 0:
            return Copies.fresh(np.empty(0, np.int64))
        (reason, score, of, cluster, cross), entry_at = kernels.chunk_copies(
            signatures, exact, np.concatenate([s.words for s in sketches]) < c.shingle_size,
            np.concatenate([s.earlier for s in sketches]), np.concatenate([s.earlier_score for s in sketches]),
            doc_start, lookup.best, (lookup.shared_pointers, lookup.shared_key_ids, lookup.n_shared_keys),
            len(self.index), c.cross_doc != "keep", self.index.threshold, c.run_threshold,
            2.0 ** -self.index.signature_bits)
        new = np.flatnonzero(entry_at >= 0)
        owner = np.repeat(np.arange(len(sketches)), sizes)
        entries = self.index.add_rows(signatures[new], exact[new], [doc.id for doc in docs], owner[new],
                                      new - doc_start[owner[new]], lookup.band_keys[new])
        assert np.array_equal(entries, entry_at[new])
        return Copies(reason, score, of, cluster, cross)

    def _copies(self, doc: Document, sketch: Sketch, lookup, rows: range) -> Copies:
        k = len(sketch.signatures)
        if k == 0:
            return Copies.fresh(np.empty(0, np.int64))
        verdicts = find_copies(sketch, lookup.lookup(rows), self.config)
        is_copy = verdicts.is_copy
        new = np.flatnonzero(~is_copy)
        entries = self.index.add(sketch.signatures[new], sketch.exact[new], doc.id, new.tolist())
        lookup.added((rows.start + new).tolist(), entries)
        # follow in-document pointers (always to earlier blocks) to the copy that was kept, a
        # pointer to a pointer at a time (a chain of k copies, each of the one before: log k steps)
        root = np.where(verdicts.local >= 0, verdicts.local, np.arange(k))
        while not np.array_equal(further := root[root], root):
            root = further
        entry_at = np.full(k, -1, np.int64)
        entry_at[new] = entries
        across = verdicts.entry[root] >= 0
        kept = np.where(across, verdicts.entry[root], entry_at[root])
        copied = is_copy & ~verdicts.stays
        return Copies(np.where(copied, verdicts.reason, 0).astype(np.int8), np.where(copied, verdicts.score, np.nan),
                      np.where(copied, kept, -1), kept, copied & across)

    def _decide(self, docs: list[Document], blocks: Segments, scores: list[Optional[tuple]],
                copies: Copies) -> Iterator[CleanedDocument]:
        """The decisions for a chunk of documents, combined for all its blocks at once: their
        ``blocks``, each document's detector ``scores`` (None where none were computed) and the
        copy findings of all the blocks."""
        sizes = blocks.counts.tolist()
        n = len(blocks.texts)
        first = np.zeros(n, bool)
        first[(np.cumsum(blocks.counts) - blocks.counts)[blocks.counts > 0]] = True
        findings = Findings(copies=copies)
        if n:
            if self._spread is not None:
                findings.template = self._spread.template_scores(copies, blocks.texts, self.config)
            scores = [s for s in scores if s is not None]
            if scores:
                findings.boilerplate, findings.offtopic, findings.offtopic_flags, findings.words = (
                    None if parts[0] is None else np.concatenate(parts) for parts in zip(*scores))
        threshold = self.config.boilerplate_threshold
        if threshold is None and self.boilerplate is not None:
            threshold = self.boilerplate.threshold
        strip, reason, score = combine(findings, self.config, threshold or 0.5, first)
        orphans = self._survivors.orphans(copies, strip, reason)
        standing: dict[int, BlockRef] = {}
        if orphans.size:
            standing = self._own_decisions(orphans, docs, blocks, findings, threshold or 0.5, first, strip)
        points = (copies.of >= 0) & np.isin(reason, COPY_REASON_CODES)  # findings that name the kept copy
        refs: list[Optional[BlockRef]] = [None] * n
        pointing = np.flatnonzero(points)
        many = getattr(self.index, "refs", None)
        found = many(copies.of[pointing]) if many else [self.index.ref(int(e)) for e in copies.of[pointing].tolist()]
        for i, ref in zip(pointing.tolist(), found):
            refs[i] = standing.get(i, ref)
        actions = list(map(("keep", "strip").__getitem__, strip.tolist()))
        reasons = [REASONS[r] for r in reason.tolist()]
        values = _or_none(score, np.isnan(score))  # NaN: no finding
        clusters = _or_none(copies.cluster, copies.cluster < 0)
        removed = strip.tolist()
        starts, ends, line_ends, texts = blocks.starts.tolist(), blocks.ends.tolist(), blocks.line_ends.tolist(), blocks.texts
        lo = 0
        for doc, k in zip(docs, sizes):
            hi = lo + k
            # the fields in BlockDecision's order, column by column (a call per block in C)
            decisions = list(map(BlockDecision, repeat(doc.id, k), range(k), starts[lo:hi], ends[lo:hi], texts[lo:hi],
                                 actions[lo:hi], reasons[lo:hi], values[lo:hi], refs[lo:hi], clusters[lo:hi],
                                 repeat(doc.source, k)))
            yield CleanedDocument(doc, strip_lines(doc.text, starts[lo:hi], line_ends[lo:hi], removed[lo:hi]), decisions)
            lo = hi

    def _own_decisions(self, orphans: np.ndarray, docs: list[Document], blocks: Segments, findings: Findings,
                       threshold: float, first: np.ndarray, strip: np.ndarray) -> dict[int, BlockRef]:
        """Decides again, in place in ``strip``, the ``orphans``: blocks found to be copies of
        a first occurrence that is not in the output. One that its own findings strip too goes,
        reported as the copy it is (it names that first occurrence, whose line says why it
        went); the first of a group that they keep stays, flagged as the copy it is, and stands
        for the group from then on: the later copies point to it. Returns ``{block: the kept
        copy it points to}``."""
        owner = np.repeat(np.arange(len(docs)), blocks.counts)
        doc_first = np.concatenate(([0], np.cumsum(blocks.counts)[:-1]))
        copies = findings.copies
        alone = Copies(copies.reason.copy(), copies.score, copies.of, copies.cluster, copies.cross)
        alone.reason[orphans] = 0
        own_strip = combine(dataclasses.replace(findings, copies=alone), self.config, threshold, first)[0]
        standing: dict[int, BlockRef] = {}
        for i in orphans.tolist():
            entry = int(copies.of[i])
            kept = self._survivors.standin.get(entry)
            if kept is not None:
                standing[i] = kept
            elif strip[i] and own_strip[i]:  # its own findings strip it too: it goes, as the copy it is
                continue
            else:  # kept: it stands for the group, flagged as a copy of the block that went
                strip[i] = False
                self._survivors.standin[entry] = BlockRef(docs[owner[i]].id, i - int(doc_first[owner[i]]))
        return standing


def _as_its_twin(copies: Copies, sketches: list[Sketch], exact: np.ndarray) -> Copies:
    """A block identical to an earlier one of its document (its twin) that is itself a copy
    names the block the twin names (copies point to the first occurrence), and so takes the
    twin's reason and score: those of its own match with the twin read "duplicate" 1.0 beside
    a first occurrence that the twin only resembles."""
    if not len(exact) or any(s.earlier is None for s in sketches):  # (sketches of this pipeline have them)
        return copies
    first = np.zeros(len(sketches) + 1, np.int64)
    np.cumsum([len(s.signatures) for s in sketches], out=first[1:])
    earlier = np.concatenate([np.where(s.earlier >= 0, s.earlier + lo, -1)
                              for s, lo in zip(sketches, first[:-1].tolist())])
    twin = np.flatnonzero(earlier >= 0)
    of = earlier[twin]
    identical = exact[twin] == exact[of]
    twin, of = twin[identical], of[identical]
    follows = (copies.reason[twin] != 0) & (copies.reason[of] != 0) & (copies.of[twin] == copies.of[of])
    twin, of = twin[follows], of[follows]
    if not twin.size:
        return copies
    reason, score = copies.reason.copy(), copies.score.copy()
    reason[twin], score[twin] = reason[of], score[of]  # (a twin's twin is the first identical block: no chain)
    return Copies(reason, score, copies.of, copies.cluster, copies.cross)


class _Survivors:
    """Which block stands for each group of copies in the output. The first occurrence does,
    unless it goes itself for another reason (a story pasted off-topic into one article, a
    promo line): its copies are then no copies of a kept block. The first of them that its
    own findings keep stays and stands for the group; the later ones point to it. Entries are
    registered in input order, so a pass meets each first occurrence before its copies."""

    def __init__(self, first_entry: int = 0):
        self.gone = GrowableArray(np.bool_)  # per index entry: its first occurrence was stripped
        self.gone.extend(np.zeros(first_entry, np.bool_))  # entries of an index given from before: kept
        self.standin: dict[int, BlockRef] = {}
        self.seen = first_entry  # entries whose first occurrence was decided (or came from before)

    def orphans(self, copies: Copies, strip: np.ndarray, reason: np.ndarray) -> np.ndarray:
        """Records the first occurrences of a chunk's decisions; returns its blocks decided as
        copies of a first occurrence that was stripped."""
        of, cluster = copies.of, copies.cluster
        new = np.flatnonzero((of < 0) & (cluster >= self.seen))
        if new.size:
            _, at = np.unique(cluster[new], return_index=True)  # a block that stays points to an earlier one
            new = new[at]
            top = int(cluster[new].max()) + 1
            self.gone.extend(np.zeros(top - self.gone.size, np.bool_))
            self.gone.view()[cluster[new]] = strip[new]
            self.seen = top
        copied = np.flatnonzero((of >= 0) & np.isin(reason, COPY_REASON_CODES))
        # an entry beyond those registered came from before this run (an index kept from an
        # earlier one, whose size an Index need not tell): its first occurrence is taken as kept
        known = copied[of[copied] < self.gone.size]
        return known[self.gone.view()[of[known]]]


def _or_none(values: np.ndarray, missing: np.ndarray) -> list:
    """``values.tolist()`` with None where ``missing``."""
    out = values.astype(object)  # the Python numbers tolist() gives
    out[missing] = None
    return out.tolist()


@contextmanager
def _pool_for(shared: Optional[OrderedPool], work: ChunkWork, workers: int) -> Iterator[OrderedPool]:
    """The pool that runs ``work``: ``shared`` switched to it (it stays open), or a new one."""
    if shared is None:
        with OrderedPool(work.for_another_process(), workers, local=work) as pool:
            yield pool
    else:
        shared.switch(work.for_another_process(), local=work)
        yield shared


class _Spread:
    """What the first pass keeps: each block's copy finding (a few bytes a block) and, per group
    of copies, how many documents of the kept copy's source it appears in."""

    def __init__(self, check_texts: bool = True):
        # per document, Python's hash of its id and text: the second pass must get the very
        # documents (the block counts alone let a document edited in place through, decided by
        # another's findings; the texts alone, documents renamed, whose copies then named ids
        # that the second pass never gave)
        self.text_hash = GrowableArray(np.int64) if check_texts else None
        self.reason = GrowableArray(np.int8)
        self.score = GrowableArray(np.float32)
        self.of = GrowableArray(np.int64)
        self.cluster = GrowableArray(np.int64)
        self.cross = GrowableArray(np.bool_)
        self.blocks_per_doc = GrowableArray(np.int32)
        self.docs_with = GrowableArray(np.int32)     # per cluster: documents (of its source) holding it
        self.source_of = GrowableArray(np.int32)     # per cluster: source of the kept copy
        self.sources: dict[Optional[str], int] = {}
        self.docs_per_source: list[int] = []
        self._per_source: Optional[np.ndarray] = None  # docs_per_source as an array, once the pass has counted
        self.documents = 0
        self.replayed = 0
        self._cursor = 0

    def record(self, docs: list[Document], n_blocks: list[int], copies: Copies) -> None:
        """Adds the copy findings of a chunk of documents (each document comes once), which
        have ``n_blocks`` blocks each."""
        sources = []
        self._per_source = None
        for doc in docs:
            source = self.sources.setdefault(doc.source, len(self.sources))
            if source == len(self.docs_per_source):
                self.docs_per_source.append(0)
            self.docs_per_source[source] += 1
            sources.append(source)
        sizes = np.array(n_blocks, dtype=np.int64)
        if self.text_hash is not None:
            self.text_hash.extend(np.fromiter((hash((doc.id, doc.text)) for doc in docs), np.int64, len(docs)))
        self.documents += len(docs)
        self.blocks_per_doc.extend(sizes)
        if not len(copies):
            return
        self.reason.extend(copies.reason)
        self.score.extend(copies.score)
        self.of.extend(copies.of)
        self.cluster.extend(copies.cluster)
        self.cross.extend(copies.cross)
        clusters = copies.cluster
        doc = np.repeat(np.arange(len(docs)), sizes)
        source_of_block = np.array(sources, dtype=np.int64)[doc]
        new = np.flatnonzero(clusters >= self.docs_with.size)  # a kept block starts its own group
        if new.size:
            grow = int(clusters[new].max()) + 1 - self.docs_with.size
            self.docs_with.extend(np.zeros(grow))
            self.source_of.extend(np.zeros(grow))
            # the group's source is its first block's: copies of it later in the chunk came
            # from other sites, and a fancy assignment keeps the last of repeated targets
            _, first = np.unique(clusters[new], return_index=True)
            self.source_of.view()[clusters[new[first]]] = source_of_block[new[first]]
        # each document counts once per group it holds, when it is of the group's source
        width = self.docs_with.size
        pairs = np.unique(doc * width + clusters)
        holder, cluster = pairs // width, pairs % width
        counted = cluster[self.source_of.view()[cluster] == np.array(sources, dtype=np.int64)[holder]]
        np.add.at(self.docs_with.view(), counted, 1)

    def copies(self, doc_number: int, docs: list[Document], n_blocks: np.ndarray) -> Copies:
        """The first pass's findings for the blocks of ``docs`` (documents ``doc_number`` on, in
        order, with ``n_blocks`` blocks each), which must be the documents it saw."""
        seen = self.blocks_per_doc.view()[doc_number:doc_number + len(docs)]
        if self.text_hash is not None and len(seen) == len(docs):
            hashes = np.fromiter((hash((doc.id, doc.text)) for doc in docs), np.int64, len(docs))
            seen = np.where(hashes == self.text_hash.view()[doc_number:doc_number + len(docs)], seen, -1)
        if len(seen) < len(docs) or not np.array_equal(seen, n_blocks):
            first = int(np.argmax(np.r_[seen != n_blocks[:len(seen)], True]))
            changed = docs[first]
            if first == len(seen):  # those fit() saw match: there are more
                raise InputError(f"transform() got more documents than the {self.documents} fit() saw",
                                 changed.location or changed.id)
            raise InputError("the documents changed between the two passes (a text, or an id)",
                             changed.location or changed.id)
        self.replayed += len(docs)
        lo, hi = self._cursor, self._cursor + int(seen.sum())
        self._cursor = hi
        return Copies(self.reason.view()[lo:hi], self.score.view()[lo:hi].astype(np.float64),
                      self.of.view()[lo:hi], self.cluster.view()[lo:hi], self.cross.view()[lo:hi])

    def template_scores(self, copies: Copies, texts: list[str], config: CleanerConfig) -> np.ndarray:
        """Per block (of ``texts``): the share of its source's documents holding it, when that
        makes it site furniture (0 otherwise)."""
        out = np.zeros(len(copies))
        clusters = copies.cluster
        spread = np.where(clusters >= 0, self.docs_with.view()[np.maximum(clusters, 0)], 0)
        wide = np.flatnonzero(spread >= config.template_min_docs)
        short = wide[np.fromiter((count_words(texts[i]) <= config.template_max_words for i in wide.tolist()),
                                 bool, len(wide))]
        if self._per_source is None:  # (once, not per chunk: a dump of 500k sites spent a third of its run here)
            self._per_source = np.asarray(self.docs_per_source, np.int64)
        documents = self._per_source[self.source_of.view()[clusters[short]]]
        out[short] = spread[short] / np.maximum(documents, 1)
        return out


class _Replay:
    """Makes any iterable of documents readable twice: lists as they are, one-shot iterators
    through a temporary pickle spool on disk (never held in memory), written while the first
    pass reads them (so the first pass need not wait for it) and read back by the second.
    Documents are spooled ``batch`` at a time as tuples of their fields: pickling them one by
    one as dataclasses cost a tenth of the benchmark's run."""

    def __init__(self, documents: Iterable[DocumentLike], batch: int = 256):
        self.documents = documents
        self.batch = batch
        self.spool = None
        self._spooled = False  # the first pass read every document

    def __enter__(self):
        if isinstance(self.documents, (list, tuple)):
            return self.documents
        self.spool = temporary_file("dedupe-spool-")
        return self

    def __iter__(self):
        return self._replayed() if self._spooled else self._spooling()

    def _spooling(self) -> Iterator[Document]:
        if self.spool.tell():
            raise InputError("the documents were read only in part before being read again")
        stream = (_as_document(item, number) for number, item in enumerate(self.documents, start=1))
        for batch in chunked(stream, self.batch):
            try:
                pickle.dump(list(map(_document_fields, batch)), self.spool, protocol=pickle.HIGHEST_PROTOCOL)
            except (TypeError, AttributeError, pickle.PicklingError) as exc:  # a record holding a lock, a file...
                raise InputError(f"a document's record cannot be kept for the second pass ({exc}), as documents "
                                 "read once must be: give them as a list, or records of plain values",
                                 _first_unpicklable(batch)) from None
            yield from batch
        self._spooled = True

    def _replayed(self) -> Iterator[Document]:  # (new Document objects: the caller's were not kept)
        self.spool.seek(0)
        while True:
            try:
                batch = pickle.load(self.spool)
            except EOFError:
                return
            yield from (Document(*fields) for fields in batch)

    def __exit__(self, *exc):
        if self.spool is not None:
            self.spool.close()
        return False


# in Document()'s order; not the line as read, which would double the spool (it comes last, and
# replayed documents are written back from their records)
_document_fields = attrgetter(*(f.name for f in dataclasses.fields(Document) if f.name != "line"))


def _first_unpicklable(batch: list[Document]) -> str:
    for doc in batch:
        try:
            pickle.dumps(_document_fields(doc))
        except Exception:
            return f"document {doc.id}"
    return "a document"


def _check_stream(documents, method: str) -> None:
    if isinstance(documents, (str, bytes, dict, Document)) or not hasattr(documents, "__iter__"):
        raise TypeError(f"{method}() takes an iterable of documents (each a str, a dict with a 'text' string or a "
                        f"Document), not one {type(documents).__name__}: pass [document], or use clean_document()")
    if isinstance(documents, io.IOBase):  # each of its lines would be a document of its own
        raise TypeError(f"{method}() takes documents, not an open file (each of its lines would be one document): "
                        "read a dump with dedupe.read_documents(path), or give the lines' texts")


def _as_document(item: DocumentLike, number: int) -> Document:
    if isinstance(item, Document):
        wrong = "text" if not isinstance(item.text, str) else None
        if wrong is None and not (item.source is None or isinstance(item.source, str)):
            wrong = "source"
        if wrong is None:
            return item
        got = f"a Document whose {wrong} is {type(getattr(item, wrong)).__name__}, not str"
    elif isinstance(item, str):
        return Document(id=str(number - 1), text=item)
    elif isinstance(item, dict) and isinstance(item.get("text"), str):
        doc_id = item.get("id")
        # the site as `dedupe clean` reads it by default: the host of a "url" field
        return Document(id=str(number - 1) if doc_id is None else id_text(doc_id), text=item["text"], record=item,
                        source=source_of(item))
    else:
        got = type(item).__name__
    raise TypeError(f"document {number}: expected a Document, a str or a dict with a 'text' string, got {got}")
