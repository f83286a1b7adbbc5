"""The site-less wharfie-runtime launcher that scripts/setup.sh writes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from wharfie.runtime import launcher


def test_render() -> None:
    text = launcher.render("/venv/bin/python", "/src")
    assert text.startswith("#!/venv/bin/python -S\n")
    assert "sys.path.insert(0, '/src')" in text
    assert text.rstrip().endswith("entry()")


def test_written_launcher_runs_without_site(tmp_path: Path) -> None:
    path = tmp_path / "wharfie-runtime"
    launcher.write(str(path))
    assert path.stat().st_mode & 0o111
    assert path.read_text().startswith(f"#!{sys.executable} -S\n")
    out = subprocess.run([str(path), "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("wharfie-runtime version")
    probe = subprocess.run(
        [sys.executable, "-S", "-c", "import sys; print('site' in sys.modules)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert probe.stdout.strip() == "False"


def test_preload_imports_the_start_path() -> None:
    """The monitor calls runtime.preload() before forking runtimes in-process."""
    code = (
        "import sys; from wharfie import runtime; runtime.preload();"
        "missing = [m for m in runtime._MODULES if m not in sys.modules];"
        "print(missing)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
