"""The pure parts of bench/compose.py: the project, medians, ratios, the report, arguments."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "compose.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_compose", BENCH)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["bench_compose"] = mod
    spec.loader.exec_module(mod)
    return mod


bc = _load()


def test_project_has_five_services_and_loads(tmp_path: Path) -> None:
    from wharfie.compose.loader import Options, load

    (tmp_path / "compose.yaml").write_text(bc.project_text())
    p = load(Options(cwd=str(tmp_path), environ={}, project_name="b"))
    assert sorted(p.services) == ["api", "cache", "db", "web", "worker"]
    assert set(p.services["api"]["depends_on"]) == {"db", "cache"}


def test_median_ratio_fmt() -> None:
    assert bc.median([3.0, 1.0, 2.0]) == 2.0
    with pytest.raises(ValueError):
        bc.median([])
    assert bc.ratio([1.0], [4.0]) == 0.25
    assert bc.ratio([], [1.0]) is None
    assert bc.fmt([0.1, 0.2, 0.3]) == "200 ms (100-300)"
    assert bc.fmt([]) == "—"
    assert bc.rotated(["a", "b", "c"], 4) == ["b", "c", "a"]


def test_report_marks_targets_and_skips() -> None:
    samples = {
        "wharfie": {"up": [0.2], "noop": [0.05], "down": [0.4]},
        "docker-compose": {"up": [1.0], "noop": [1.0], "down": [0.5]},
    }
    text = bc.report(samples, ["wharfie", "docker-compose"], {})
    assert (
        "| up | 200 ms (200-200) | 1000 ms (1000-1000) | 0.20x | <= 0.5x docker-compose | yes"
        in text
    )
    assert "| down |" in text and "0.80x | <= 0.5x docker-compose | NO" in text
    skipped = bc.report(
        {"wharfie": samples["wharfie"], "docker-compose": {"up": [], "noop": [], "down": []}},
        ["wharfie", "docker-compose"],
        {"docker-compose": "not installed"},
    )
    assert "SKIPPED" in skipped and "n/a" in skipped


def test_args() -> None:
    a = bc.parse_args(["--rounds", "2", "--stacks", "docker-compose"])
    assert a.rounds == 2 and a.stacks == ["wharfie", "docker-compose"]
    with pytest.raises(SystemExit):
        bc.parse_args(["--stacks", "podman"])


def test_report_marks_failed_stacks() -> None:
    samples = {
        "wharfie": {"up": [0.2], "noop": [0.05], "down": [0.4]},
        "docker-compose@wharfied": {"up": [], "noop": [], "down": []},
    }
    text = bc.report(
        samples,
        ["wharfie", "docker-compose@wharfied"],
        {},
        {"docker-compose@wharfied": "round 0: up -d exited 1: boom"},
    )
    assert "| up | 200 ms (200-200) | FAILED |" in text
    assert "docker-compose@wharfied: FAILED (round 0: up -d exited 1: boom)" in text


def _rows(n: int, state: str = "running", prefix: str = "c") -> list[dict[str, object]]:
    return [{"Id": f"{prefix}{i}", "State": state} for i in range(n)]


def test_check_step() -> None:
    assert bc.check_step("up", _rows(5)) is None
    assert bc.check_step("up", _rows(4)) == "4 of 4 containers running after up, expected 5"
    assert bc.check_step("up", _rows(5, "exited")) is not None
    ids = [f"c{i}" for i in range(5)]
    assert bc.check_step("noop", _rows(5), ids) is None
    assert bc.check_step("noop", _rows(5, prefix="d"), ids) == "the no-op up replaced containers"
    assert bc.check_step("down", []) is None
    assert bc.check_step("down", _rows(1)) == "1 container(s) left after down"


def test_default_stacks_include_compose_v1_against_wharfied() -> None:
    a = bc.parse_args([])
    assert a.stacks == list(bc.STACKS)
    assert "docker-compose@wharfied" in a.stacks
