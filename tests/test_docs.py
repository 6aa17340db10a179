"""The examples in the docstrings are part of the documentation: they must run as written."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import dedupe

MODULES = sorted(m.name for m in pkgutil.iter_modules(dedupe.__path__, "dedupe.") if m.name != "dedupe.__main__")


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


def test_the_examples_cover_the_stages():
    """A stage module without a runnable example is a gap in the documentation."""
    finder = doctest.DocTestFinder()
    with_examples = {name for name in MODULES
                     if any(test.examples for test in finder.find(importlib.import_module(name)))}
    for stage in ("segmenting", "normalising", "shingling", "minhash", "lsh", "indexing", "pipeline",
                  "boilerplate", "offtopic", "parallel"):
        assert f"dedupe.{stage}" in with_examples
