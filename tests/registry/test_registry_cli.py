"""`wharfie registry serve|gc` command lines: flags, bad input, help."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def wharfie(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wharfie.cli", *args], capture_output=True, text=True, timeout=30
    )


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


def test_htpasswd_flag(tmp_path: Path) -> None:
    import base64
    import urllib.error
    import urllib.request

    from ourregistry import OurRegistry

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from support.peers import _htpasswd_line

    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text(_htpasswd_line("dan", "pw") + "\n")
    reg = OurRegistry(tmp_path / "reg", extra=["--htpasswd", str(htpasswd)])
    reg.start()
    try:
        try:
            urllib.request.urlopen(f"{reg.url}/v2/", timeout=5)
            raise AssertionError("no credentials, yet 200")
        except urllib.error.HTTPError as exc:
            assert exc.code == 401
            assert exc.headers["WWW-Authenticate"] == 'Basic realm="wharfie-registry"'
        req = urllib.request.Request(
            f"{reg.url}/v2/",
            headers={"Authorization": "Basic " + base64.b64encode(b"dan:pw").decode()},
        )
        with urllib.request.urlopen(req, timeout=5) as r:
            assert r.status == 200
    finally:
        reg.stop()
