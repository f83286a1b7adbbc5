"""Pure helpers of bench/network.py."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import network as bench


def test_added_ms_is_the_difference_of_medians() -> None:
    assert bench.added_ms([0.2, 0.1, 0.3], [0.1, 0.15, 0.05]) == pytest.approx(100.0)
    assert bench.added_ms([], [0.1]) is None


def test_mib_per_s_and_format() -> None:
    assert bench.mib_per_s(1 << 30, [1.0, 2.0, 0.0]) == [1024.0, 512.0]
    assert bench.fmt_rate([100.0, 300.0, 200.0]) == "200 MiB/s (100-300)"
    assert bench.fmt_rate([]) == "—"


def test_rotate_gives_each_variant_each_position() -> None:
    items = ["a", "b", "c"]
    firsts = {bench.rotate(items, r)[0] for r in range(3)}
    assert firsts == {"a", "b", "c"}
    assert bench.rotate([], 4) == []


def test_median_of_nothing_is_an_error() -> None:
    with pytest.raises(ValueError):
        bench.median([])
