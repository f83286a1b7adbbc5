"""Smoke tests of the pure parts of bench/runtime_run.py (no runtimes run, no timing)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from wharfie.oci.defaults import default_spec

BENCH = Path(__file__).resolve().parents[2] / "bench" / "runtime_run.py"


def _load() -> ModuleType:
    sys.path.insert(0, str(BENCH.parent))  # runtime_run imports bench_report beside it
    spec = importlib.util.spec_from_file_location("bench_runtime_run", BENCH)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up here
    spec.loader.exec_module(mod)
    return mod


rr = _load()
import bench_report as br  # noqa: E402  (importable once _load() put bench/ on the path)


def _result(name: str, samples: list[float], status: str = "ok", error: str | None = None):
    return {
        "name": name,
        "version": "1.0",
        "status": status,
        "error": error,
        "samples_ms": samples,
        "by_round_ms": list(samples),
        "stats": br.summarize(samples) if status == "ok" and samples else None,
    }


def test_median_odd_even_and_unsorted() -> None:
    assert br.median([3.0, 1.0, 2.0]) == 2.0
    assert br.median([4.0, 1.0, 3.0, 2.0]) == 2.5
    with pytest.raises(ValueError):
        br.median([])


def test_percentile_interpolates() -> None:
    xs = [float(x) for x in range(1, 11)]  # 1..10
    assert br.percentile(xs, 0) == 1.0
    assert br.percentile(xs, 100) == 10.0
    assert br.percentile(xs, 50) == pytest.approx(5.5)
    assert br.percentile(xs, 10) == pytest.approx(1.9)
    assert br.percentile([7.0], 90) == 7.0
    with pytest.raises(ValueError):
        br.percentile(xs, 101)


def test_summarize() -> None:
    s = br.summarize([10.0, 30.0, 20.0])
    assert s == {"median": 20.0, "p10": 12.0, "p90": 28.0, "min": 10.0, "max": 30.0, "n": 3}


def test_ratio_and_paired_ratio() -> None:
    assert br.ratio(30.0, 20.0) == 1.5
    assert br.ratio(None, 20.0) is None
    assert br.ratio(1.0, 0.0) is None
    # rounds where either side is missing are ignored
    assert br.paired_ratio([10.0, 20.0, None, 40.0], [10.0, 10.0, 5.0, 10.0]) == 2.0
    assert br.paired_ratio([None], [1.0]) is None


def test_rotation_puts_each_runtime_in_each_position() -> None:
    names = ["wharfie", "runc", "crun"]
    orders = [br.rotation(names, r) for r in range(3)]
    assert orders[0] == names
    assert orders[1] == ["runc", "crun", "wharfie"]
    for pos in range(3):
        assert sorted(o[pos] for o in orders) == sorted(names)
    assert br.rotation(names, 3) == names
    assert br.rotation([], 5) == []


def test_parse_runtimes() -> None:
    assert rr.parse_runtimes("wharfie, runc,x=/opt/x,") == [
        ("wharfie", None),
        ("runc", None),
        ("x", "/opt/x"),
    ]
    with pytest.raises(ValueError):
        rr.parse_runtimes(" , ")


def test_apply_network() -> None:
    def kinds(spec: dict[str, Any]) -> list[str]:
        return [ns["type"] for ns in spec["linux"]["namespaces"]]

    assert "network" in kinds(rr.apply_network(default_spec(), "default"))
    assert "network" not in kinds(rr.apply_network(default_spec(), "none"))
    assert "network" not in kinds(rr.apply_network(default_spec(), "host"))
    bare = rr.apply_network(default_spec(), "none")
    assert kinds(rr.apply_network(bare, "new")).count("network") == 1
    with pytest.raises(ValueError):
        rr.apply_network(default_spec(), "bridge")


def test_format_table_rows_and_ratios() -> None:
    results = [
        _result("wharfie", [30.0, 40.0, 50.0]),
        _result("runc", [20.0, 20.0, 20.0]),
        _result("crun", [], status="failed", error="exit 1: cgroups in hybrid | mode"),
        _result("other", [], status="skipped", error="not installed"),
    ]
    lines = br.format_table(results).splitlines()
    assert lines[0].startswith("| runtime | version | median ms |")
    assert lines[1] == "|---|---|---|---|---|---|---|---|"
    assert len(lines) == 6
    cells = [c.strip() for c in lines[2].strip("|").split("|")]
    assert cells[0] == "wharfie"
    assert cells[2] == "40.0"
    assert cells[3] == "32.0\u201348.0"
    assert cells[4] == "30.0\u201350.0"
    assert cells[5] == "3"
    assert cells[6] == "2.00"  # 40 / 20
    assert cells[7] == "\u2013"  # crun failed: no ratio
    assert "FAILED: exit 1: cgroups in hybrid \\| mode" in lines[4]  # pipe escaped
    assert "SKIPPED: not installed" in lines[5]


def test_compute_ratios_and_verdicts() -> None:
    results = [
        _result("wharfie", [10.0, 12.0, 14.0]),
        _result("runc", [20.0, 24.0, 28.0]),
        _result("crun", [5.0, 6.0, 7.0]),
    ]
    ratios = br.compute_ratios(results)
    assert ratios["wharfie/runc"]["medians"] == pytest.approx(0.5)
    assert ratios["wharfie/runc"]["paired"] == pytest.approx(0.5)
    assert ratios["wharfie/crun"]["medians"] == pytest.approx(2.0)
    text = br.format_verdicts(ratios)
    assert "wharfie/runc = 0.50" in text and "**MET**" in text
    assert "wharfie/crun = 2.00" in text

    slow = br.compute_ratios([_result("wharfie", [30.0]), _result("runc", [20.0])])
    assert "NOT MET" in br.format_verdicts(slow)
    assert "n/a" in br.format_verdicts(br.compute_ratios(results[1:]))


def test_fmt_ms() -> None:
    assert br.fmt_ms(None) == "\u2013"
    assert br.fmt_ms(8.26) == "8.3"
    assert br.fmt_ms(254.4) == "254"
