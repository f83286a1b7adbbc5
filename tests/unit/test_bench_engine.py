"""The pure parts of bench/engine.py: median, formatting, ratios, targets, table, arguments."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "engine.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_engine", BENCH)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["bench_engine"] = mod
    spec.loader.exec_module(mod)
    return mod


be = _load()


def test_median_odd_even_and_empty() -> None:
    assert be.median([3.0, 1.0, 2.0]) == 2.0
    assert be.median([4.0, 1.0, 2.0, 3.0]) == 2.5
    with pytest.raises(ValueError):
        be.median([])


def test_fmt_value_units() -> None:
    assert be.fmt_value([0.067, 0.066, 0.068], "s") == "67 ms (66-68)"
    assert be.fmt_value([2.5, 2.41, 2.7], "s") == "2.50 s (2.41-2.70)"
    assert be.fmt_value([0.41, 0.39, 0.44], "MiB") == "0.41 MiB (0.39-0.44)"
    assert be.fmt_value([], "s") == "—"


def test_ratio_and_targets() -> None:
    assert be.ratio([1.0, 2.0, 3.0], [8.0]) == pytest.approx(0.25)
    assert be.ratio([], [1.0]) is None
    assert be.ratio([1.0], [0.0]) is None
    assert be.fmt_ratio(0.254) == "0.25x"
    assert be.fmt_ratio(None) == "—"
    le = be.Target("docker", "le", 0.25)
    assert le.met(0.25) is True and le.met(0.26) is False and le.met(None) is None
    ge = be.Target("docker", "ge", 20.0)
    assert ge.met(21.0) is True and ge.met(19.9) is False
    assert str(le) == "<= 0.25x docker" and str(ge) == ">= 20x docker"


def test_row_met_and_table() -> None:
    row = be.Row(
        "run", "s", targets=[be.Target("docker", "le", 0.25), be.Target("podman", "le", 0.5)]
    )
    for v in (0.05, 0.06, 0.07):
        row.add("wharfie", v)
    row.add("docker", 0.3)
    assert row.met() == "n/a"  # no podman sample yet
    row.add("podman", 0.1)
    assert row.met() == "NO"  # 0.6x podman
    row.samples["podman"] = [0.2]
    assert row.met() == "yes"
    text = be.table([row])
    lines = text.splitlines()
    assert lines[0] == (
        "| measurement | wharfie | docker | podman | ratio vs docker | "
        "ratio vs podman | target | met? |"
    )
    assert lines[1] == "|---|---|---|---|---|---|---|---|"
    assert lines[2] == (
        "| run | 60 ms (50-70) | 300 ms (300-300) | 200 ms (200-200) | 0.20x | "
        "0.30x | <= 0.25x docker, <= 0.5x podman | yes |"
    )
    assert be.Row("x", "s").met() == ""


def test_rotated() -> None:
    assert be.rotated(["a", "b", "c"], 0) == ["a", "b", "c"]
    assert be.rotated(["a", "b", "c"], 4) == ["b", "c", "a"]
    assert be.rotated([], 3) == []


def test_pss_kib() -> None:
    text = "55d0-7ffd ---p 00000000 00:00 0 [rollup]\nRss:  2048 kB\nPss:  1234 kB\n"
    assert be.pss_kib(text) == 1234
    assert be.pss_kib("") == 0


def test_parse_args_defaults_and_options() -> None:
    a = be.parse_args([])
    assert (a.rounds, a.scale, a.reps, a.log_rounds) == (10, 50, 3, 5)
    assert a.only == list(be.SECTIONS) and a.engines == ["wharfie", "docker", "podman"]
    a = be.parse_args(
        ["--rounds", "3", "--only", "run,logs", "--engines", "docker", "--json", "/tmp/x.json"]
    )
    assert a.rounds == 3 and a.only == ["run", "logs"] and a.json == "/tmp/x.json"
    assert a.engines == ["wharfie", "docker"]
    with pytest.raises(argparse.ArgumentTypeError):
        be.parse_sections("run,bogus")
    for bad in (["--only", "bogus"], ["--rounds", "0"], ["--engines", "lxc"]):
        with pytest.raises(SystemExit):
            be.parse_args(bad)
