"""The cleaning pass: read -> segment -> shingle -> MinHash -> index lookup -> decide -> write.

:class:`Cleaner` is the Python API. It streams: documents are taken from any iterable in chunks,
sketched a chunk at a time, and yielded as :class:`CleanedDocument` objects in input order, each
with one :class:`BlockDecision` per block. Only the index of kept blocks grows with the input.

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

from dataclasses import dataclass
from itertools import islice
from typing import Iterable, Iterator, Optional, Union

import numpy as np

from .config import CleanerConfig
from .deciding import Verdict, find_copies
from .indexing import BlockIndex, BlockRef, Index
from .minhash import MinHasher
from .reading import Document
from .segmenting import Block, segment, strip_blocks
from .shingling import ShingleBatch, Shingler


@dataclass
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

    def to_record(self) -> dict:
        return {
            "doc_id": self.doc_id, "block": self.block, "start": self.start, "end": self.end,
            "text": self.text, "action": self.action, "reason": self.reason,
            "score": None if self.score is None else round(self.score, 4),
            "duplicate_of": None if self.duplicate_of is None
            else {"doc_id": self.duplicate_of.doc_id, "block": self.duplicate_of.block},
            "cluster": self.cluster,
        }


@dataclass
class CleanedDocument:
    document: Document
    text: str
    decisions: list[BlockDecision]

    @property
    def stripped(self) -> list[BlockDecision]:
        return [d for d in self.decisions if d.action == "strip"]


DocumentLike = Union[Document, str, dict]


class Cleaner:
    """Strips duplicated blocks from a stream of documents.

    Parameters
    ----------
    config : CleanerConfig, optional
        All parameters (see :class:`dedupe.config.CleanerConfig`); keyword arguments override
        single fields, e.g. ``Cleaner(cross_doc="flag")``.
    index : Index, optional
        Where kept blocks are remembered; a fresh in-memory :class:`BlockIndex` by default. Pass
        the same index to several cleaners (or calls) to check new documents against old ones.
    chunk_size : int
        Documents sketched together (numpy works best on a few thousand blocks at a time).
    """

    def __init__(self, config: CleanerConfig | None = None, *, index: Index | None = None,
                 chunk_size: int = 64, **params):
        self.config = (config or CleanerConfig()).with_(**params) if params else (config or CleanerConfig())
        c = self.config
        self.index = index if index is not None else BlockIndex(
            num_perm=c.num_perm, threshold=c.threshold, bands=c.lsh_bands, rows=c.lsh_rows)
        self.shingler = Shingler(c.shingle_size)
        self.minhasher = MinHasher(c.num_perm, c.seed)
        self.chunk_size = chunk_size

    def clean(self, documents: Iterable[DocumentLike]) -> Iterator[CleanedDocument]:
        """Clean documents in order, yielding each as soon as it is decided."""
        stream = (_as_document(d, n) for n, d in enumerate(documents, start=1))
        while True:
            chunk = list(islice(stream, self.chunk_size))
            if not chunk:
                return
            segmented = [segment(doc.text) for doc in chunk]
            sketches = self._sketch(segmented)
            for doc, blocks, (batch, sigs) in zip(chunk, segmented, sketches):
                yield self._clean_one(doc, blocks, batch, sigs)

    def clean_document(self, document: DocumentLike) -> CleanedDocument:
        return next(self.clean([document]))

    def _sketch(self, segmented: list[list[Block]]) -> list[tuple[ShingleBatch, np.ndarray]]:
        """Shingle and MinHash all blocks of a chunk at once, then split per document."""
        texts = [b.text for blocks in segmented for b in blocks]
        batch = self.shingler.shingle(texts)
        sigs = self.minhasher.signatures(batch.hashes, batch.offsets)
        out, lo = [], 0
        for blocks in segmented:
            hi = lo + len(blocks)
            offsets = batch.offsets[lo:hi + 1]
            part = ShingleBatch(batch.hashes[offsets[0]:offsets[-1]], offsets - offsets[0],
                                batch.exact[lo:hi], batch.words[lo:hi])
            out.append((part, sigs[lo:hi]))
            lo = hi
        return out

    def _clean_one(self, doc: Document, blocks: list[Block], batch: ShingleBatch, sigs: np.ndarray) -> CleanedDocument:
        cross = self.index.lookup(sigs, batch.exact) if blocks else []
        verdicts = find_copies(batch, sigs, cross, self.config)
        new = [i for i, v in enumerate(verdicts) if not v.is_copy]
        entries = self.index.add(sigs[new], batch.exact[new], doc.id, new)
        own_entry = dict(zip(new, entries.tolist()))
        decisions = [self._decision(doc.id, b, v, verdicts, own_entry) for b, v in zip(blocks, verdicts)]
        text = strip_blocks(doc.text, blocks, [v.strip for v in verdicts])
        return CleanedDocument(doc, text, decisions)

    def _decision(self, doc_id: str, block: Block, verdict: Verdict, verdicts: list[Verdict],
                  own_entry: dict[int, int]) -> BlockDecision:
        # Follow in-document pointers to the copy that was kept.
        target, v = None, verdict
        while v.local is not None:
            target, v = v.local, verdicts[v.local]
        if v.entry is not None:
            cluster = v.entry
            ref = self.index.ref(v.entry)
        else:
            cluster = own_entry.get(block.index if target is None else target)
            ref = BlockRef(doc_id, target) if target is not None else None
        return BlockDecision(
            doc_id=doc_id, block=block.index, start=block.start, end=block.end, text=block.text,
            action="strip" if verdict.strip else "keep", reason=verdict.reason, score=verdict.score,
            duplicate_of=ref if verdict.is_copy else None, cluster=cluster,
        )


def _as_document(item: DocumentLike, number: int) -> Document:
    if isinstance(item, Document):
        return item
    if isinstance(item, str):
        return Document(id=str(number - 1), text=item)
    if isinstance(item, dict) and isinstance(item.get("text"), str):
        return Document(id=str(item.get("id", number - 1)), text=item["text"], record=item)
    raise TypeError(f"document {number}: expected a Document, a str or a dict with a 'text' string")
