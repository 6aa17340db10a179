"""news-dedupe: strip duplicated, boilerplate and off-topic blocks from scraped news."""
__version__ = "0.1.0"
