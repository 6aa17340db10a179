"""Builds the optional compiled kernels (``src/dedupe/_native.c``); everything else is in
pyproject.toml. Without a C compiler the build goes on without them (``optional=True``) and
news-dedupe runs its numpy code instead, with the same output."""

from setuptools import Extension, setup

# -ffp-contract=off: no fused multiply-adds, so the floating-point kernels round as numpy does
setup(ext_modules=[Extension("dedupe._native", ["src/dedupe/_native.c"], optional=True,
                             extra_compile_args=["-O3", "-ffp-contract=off"])])
