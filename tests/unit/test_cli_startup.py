"""What `wharfie ps` and `wharfie run` import at start-up (the CLI's speed budget)."""

import subprocess
import sys

import pytest

HEAVY = {
    "re",
    "enum",
    "typing",
    "json",
    "socket",
    "selectors",
    "argparse",
    "dataclasses",
    "http.client",
    "urllib.parse",
    "email",
    "subprocess",
    "logging",
    "shutil",
    "signal",
    "tarfile",
    "datetime",
}


@pytest.mark.parametrize(
    "argv",
    [
        ["ps"],
        ["ps", "-a", "--format", "{{.Names}}"],
        ["run", "--rm", "-i", "busybox", "true"],
        ["images"],
        ["exec", "c", "true"],
        ["logs", "c"],
        ["stop", "c"],
    ],
)
def test_no_heavy_imports(argv: list[str], tmp_path: object) -> None:
    code = (
        "import sys\n"
        "from wharfie.cli import run\n"
        f"run(['-H', 'unix:///nonexistent/wharfie.sock', *{argv!r}])\n"
        "print(sorted(sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=30
    )
    loaded = set(eval(out.stdout.strip().splitlines()[-1]))
    assert "Cannot connect" in out.stderr
    assert not (HEAVY & loaded), sorted(HEAVY & loaded)


@pytest.mark.parametrize("flag", ["--version", "-v"])
def test_version_flag_asks_no_daemon(flag: str, tmp_path: object) -> None:
    """`wharfie --version` prints the client's version, as `docker --version` does, without
    reaching (or starting) a daemon: no DOCKER_HOST is given, and a daemon started on first use
    would say so on stderr."""
    import os

    from wharfie import __version__

    env = {k: v for k, v in os.environ.items() if k not in ("DOCKER_HOST", "WHARFIE_HOST")}
    env["HOME"] = str(tmp_path)
    out = subprocess.run(
        [sys.executable, "-c", f"from wharfie.cli import run; raise SystemExit(run([{flag!r}]))"],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
    )
    assert (out.returncode, out.stdout, out.stderr) == (0, f"Wharfie version {__version__}\n", "")
