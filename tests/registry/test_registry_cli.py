"""`wharfie registry serve|gc` command lines: flags, bad input, help."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def wharfie(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wharfie.cli", *args], capture_output=True,
                          text=True, timeout=30)


def test_serve_bad_input(tmp_path: Path) -> None:
    out = wharfie("registry", "serve", "--addr", "nope", "--root", str(tmp_path))
    assert out.returncode != 0 and "bad address 'nope'" in out.stderr
    out = wharfie("registry", "serve")
    assert out.returncode != 0 and "no storage root" in out.stderr
    out = wharfie("registry", "serve", "--root", str(tmp_path), "--tls-cert", "/nonexistent")
    assert out.returncode != 0 and "TLS needs both" in out.stderr
    cfg = tmp_path / "c.yml"
    cfg.write_text("auth: [1, 2]\n")
    out = wharfie("registry", "serve", "--root", str(tmp_path), "--config", str(cfg))
    assert out.returncode != 0 and "auth must be a mapping" in out.stderr
    out = wharfie("registry", "serve", "--bogus")
    assert out.returncode == 125 and "unknown flag: --bogus" in out.stderr


def test_help_and_gc_on_empty_root(tmp_path: Path) -> None:
    out = wharfie("registry", "serve", "--help")
    assert out.returncode == 0 and "--addr HOST:PORT" in out.stdout
    out = wharfie("registry", "gc", "--root", str(tmp_path / "r"), "--dry-run")
    assert out.returncode == 0
    assert out.stdout == "0 blobs in use; would delete 0 blobs (0 bytes) and 0 stale uploads\n"
    out = wharfie("registry", "gc", "--root", str(tmp_path), "--upload-age", "soon")
    assert out.returncode != 0 and "--upload-age" in out.stderr
