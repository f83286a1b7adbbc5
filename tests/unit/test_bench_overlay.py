"""Pure helpers of bench/overlay.py."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import overlay as bench


def test_started_at_reads_docker_nanosecond_times() -> None:
    assert bench.started_at("1970-01-01T00:00:01.5Z") == pytest.approx(1.5)
    assert bench.started_at("2026-12-08T00:40:01.123456789Z") == pytest.approx(
        1796690401.123456, abs=1e-6
    )
    assert bench.started_at("2026-12-08T00:40:01Z") == 1796690401.0
