"""Builds the optional compiled kernels (``src/dedupe/_native.c``); everything else is in
pyproject.toml. Without a C compiler the build goes on without them (``optional=True``) and
news-dedupe runs its numpy code instead, with the same output."""

import hashlib
from pathlib import Path

from setuptools import Extension, setup

SOURCE = "src/dedupe/_native.c"
# The library says which source it was built from: dedupe.native does not use a build that a
# later edit of the source (one that failed to compile, say) left behind.
SOURCE_HASH = hashlib.sha256((Path(__file__).parent / SOURCE).read_bytes()).hexdigest()[:16]

# -ffp-contract=off: no fused multiply-adds, so the floating-point kernels round as numpy does
setup(ext_modules=[Extension("dedupe._native", [SOURCE], optional=True,
                             define_macros=[("DD_SOURCE_HASH", f'"{SOURCE_HASH}"')],
                             extra_compile_args=["-O3", "-ffp-contract=off"])])
