"""news-dedupe: strip duplicated, boilerplate and off-topic blocks from scraped news.

>>> from dedupe import Cleaner
>>> [d.action for d in Cleaner().clean_document("Same line twice here, friends.\\nSame line twice here, friends.").decisions]
['keep', 'strip']
"""

__version__ = "0.1.0"

from .config import CleanerConfig  # noqa: E402
from .pipeline import BlockDecision, CleanedDocument, Cleaner  # noqa: E402
from .reading import Document, read_documents  # noqa: E402

__all__ = ["Cleaner", "CleanerConfig", "CleanedDocument", "BlockDecision", "Document", "read_documents"]
