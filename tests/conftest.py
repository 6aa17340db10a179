import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"


def console_script() -> str:
    """The installed `dedupe` command of this environment (what the README runs)."""
    exe = Path(sys.executable).with_name("dedupe")
    if not exe.exists():
        pytest.fail("the `dedupe` console script is not installed: run the README's test command")
    return str(exe)


def run_dedupe(*args, input: bytes | None = None, cwd=ROOT, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([console_script(), *map(str, args)], input=input, capture_output=True,
                          cwd=cwd, env={**os.environ, **(env or {})}, timeout=300)


def seed_lines(name: str) -> list[str]:
    """1-based line numbers -> text, as an editor shows them."""
    return (SEEDS / name).read_text(encoding="utf-8").split("\n")


@pytest.fixture
def seeds_dir() -> Path:
    return SEEDS


@pytest.fixture(scope="session")
def corpus() -> list[str]:
    """The seed articles' distinct paragraphs: text for benchmark dumps, no shared data needed."""
    lines = [" ".join(line.split()) for path in sorted(SEEDS.glob("*.txt"))
             for line in path.read_text(encoding="utf-8").splitlines()]
    return list(dict.fromkeys(line for line in lines if line))
