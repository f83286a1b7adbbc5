"""The pure parts of bench/registry.py: median, ratios, throughput, rows, table, arguments."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "registry.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_registry", BENCH)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["bench_registry"] = mod
    spec.loader.exec_module(mod)
    return mod


br = _load()


def test_median_ratio_rotation() -> None:
    assert br.median([3.0, 1.0, 2.0]) == 2.0
    with pytest.raises(ValueError):
        br.median([])
    assert br.ratio([2.0], [4.0]) == 0.5
    assert br.ratio([], [1.0]) is None and br.ratio([1.0], [0.0]) is None
    assert br.rotated(["a", "b"], 1) == ["b", "a"] and br.rotated([], 3) == []


def test_throughput() -> None:
    assert br.throughput_mbs(2_000_000, 0.5) == 4.0
    with pytest.raises(ValueError):
        br.throughput_mbs(1, 0)


def test_rows_targets_and_table() -> None:
    push = br.Row("push", "s", 1.0)
    push.add("wharfie", 3.0)
    push.add("reference", 4.0)
    assert push.ratio() == 0.75 and push.met() == "yes"
    conc = br.Row("conc", "MB/s", 1.0)
    conc.add("wharfie", 500.0)
    conc.add("reference", 600.0)
    assert conc.met() == "NO"
    assert br.Row("empty", "s", 1.0).met() == "n/a"
    lat = br.Row("lat", "us", None)
    lat.add("wharfie", 300.0)
    lat.add("reference", 1500.0)
    assert lat.met() == "" and lat.cells()[3:] == ["0.20x", "—", ""]
    assert lat.cells()[1] == "300 us (300-300)"
    text = br.table([push, conc])
    assert "| push | 3.00 s (3.00-3.00) | 4.00 s (4.00-4.00) | 0.75x | <= 1x | yes |" in text
    assert "| conc | 500 MB/s (500-500) | 600 MB/s (600-600) | 0.83x | >= 1x | NO |" in text
    assert push.to_json()["median"] == {"wharfie": 3.0, "reference": 4.0}


def test_parse_args() -> None:
    args = br.parse_args(["--rounds", "2", "--only", "pull,concurrent"])
    assert args.rounds == 2 and args.only == ["pull", "concurrent"]
    with pytest.raises(SystemExit):
        br.parse_args(["--only", "nope"])
    with pytest.raises(SystemExit):
        br.parse_args(["--rounds", "0"])
