"""Differential: `spec` writes runc's template, and runc's template runs unchanged under ours.

Observed with runc 1.1.5: its template asks for ambient capabilities (AUDIT_WRITE, KILL,
NET_BIND_SERVICE) with no inheritable set; the kernel refuses to raise an ambient cap that
is not inheritable, runc ignores that and the process runs with CapAmb 0. With the caps
also inheritable, they are raised.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import MakeBoth
from support.oci_runtime import Runtime


@pytest.mark.parametrize("extra", [(), ("--rootless",)], ids=["default", "rootless"])
def test_spec_is_runcs_template_byte_for_byte(
    both: MakeBoth, tmp_path: Path, extra: tuple[str, ...]
) -> None:
    written = {}
    runtimes: dict[str, Runtime] = both.runtimes  # type: ignore[attr-defined]
    for name, rt in runtimes.items():
        d = tmp_path / f"spec-{name}"
        d.mkdir()
        rt("spec", *extra, cwd=d).check()
        written[name] = (d / "config.json").read_bytes()
    assert written["wharfie"] == written["runc"]
    # and it refuses to overwrite, with runc's status and wording
    for name, rt in runtimes.items():
        res = rt("spec", cwd=tmp_path / f"spec-{name}")
        assert res.returncode == 1, res.describe()
        assert "File config.json exists. Remove it first" in res.stderr


def _runc_template(rt: Runtime, tmp_path: Path) -> dict[str, object]:
    d = tmp_path / "template"
    d.mkdir(exist_ok=True)
    if not (d / "config.json").exists():
        rt("spec", cwd=d).check()
    spec: dict[str, object] = json.loads((d / "config.json").read_text())
    return spec


@pytest.mark.parametrize("inheritable", [None, ["CAP_KILL"]], ids=["as-written", "inheritable"])
def test_runc_template_runs_unchanged(
    both: MakeBoth, tmp_path: Path, inheritable: list[str] | None
) -> None:
    pair = both()
    runtimes: dict[str, Runtime] = both.runtimes  # type: ignore[attr-defined]
    template = _runc_template(runtimes["runc"], tmp_path)
    out = {}
    for name, c in pair.items():
        spec = json.loads(json.dumps(template))
        spec["process"]["terminal"] = False
        spec["process"]["args"] = ["grep", "^Cap", "/proc/self/status"]
        spec["linux"]["cgroupsPath"] = c.cgroup_path
        if inheritable is not None:
            spec["process"]["capabilities"]["inheritable"] = inheritable
        c.spec = spec
        res = c.run()
        assert res.returncode == 0, res.describe()
        assert "Traceback" not in res.stderr
        out[name] = res.stdout
    assert out["wharfie"] == out["runc"]
    amb = next(line for line in out["wharfie"].splitlines() if line.startswith("CapAmb"))
    assert amb.split()[1] == ("0000000000000000" if inheritable is None else "0000000000000020")
