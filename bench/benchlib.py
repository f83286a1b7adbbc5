"""What every benchmark in bench/ shares: medians, ratios, round-robin order, and the
byte-compile step. The scripts run as `python bench/<name>.py`, so this directory is on
sys.path; the unit tests add it through pytest's `pythonpath`."""

from __future__ import annotations

import statistics
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def median(values: Sequence[float]) -> float:
    if not values:
        raise ValueError("median of no values")
    return float(statistics.median(values))


def ratio(ours: Sequence[float], peer: Sequence[float]) -> float | None:
    """median(ours) / median(peer); None when either side has no samples or the peer's
    median is 0."""
    if not ours or not peer:
        return None
    p = median(peer)
    return None if p == 0 else median(ours) / p


def rotated(items: Sequence[T], k: int) -> list[T]:
    """`items` started at position k: round k of an interleaved run begins with another
    engine, so no engine always runs right after the same one."""
    if not items:
        return []
    k %= len(items)
    return [*items[k:], *items[:k]]


def compile_sources() -> None:
    """Byte-compile Wharfie as scripts/setup.sh does. Under PYTHONDONTWRITEBYTECODE (set in
    some shells) a module edited since the last compile is recompiled by every process
    that imports it, which would put a few ms of compiler time into every wharfie figure."""
    src = Path(__file__).resolve().parents[1] / "src"
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(src)], check=True, stdout=subprocess.DEVNULL
    )
