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
