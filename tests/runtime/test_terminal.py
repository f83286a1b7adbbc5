"""process.terminal with --console-socket: the pty master comes back over SCM_RIGHTS.

Observed with runc 1.1.5: `create --console-socket S` connects to S during create and
sends one message (payload b"/dev/ptmx") carrying the master fd; after `start` the master
reads "hello from tty\\r\\n/dev/pts/0\\r\\nstdin-is-tty\\r\\nstdout-is-tty\\r\\n".
`create` of a terminal=true spec without --console-socket fails:
"runc create failed: cannot allocate tty if runc will detach without setting console
socket".
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from support.console_socket import ConsoleSocket
from support.oci_runtime import Container

pytestmark = pytest.mark.root


def test_terminal_via_console_socket(ctr: Container, short_tmp: Path) -> None:
    ctr.process["terminal"] = True
    ctr.sh(
        "echo hello from tty; tty; [ -t 0 ] && echo stdin-is-tty; "
        "[ -t 1 ] && echo stdout-is-tty; echo done-probe; sleep 0.2"
    )
    console = ConsoleSocket(short_tmp / "console.sock")
    try:
        ctr.create("--console-socket", str(console.path)).check()
        console.wait_master()
        ctr.start().check()
        out = console.read_until(b"done-probe").decode(errors="replace")
    finally:
        console.close()
    assert "hello from tty\r\n" in out, out
    assert re.search(r"^/dev/pts/\d+\r$", out, re.M), out
    assert "stdin-is-tty" in out
    assert "stdout-is-tty" in out


def test_without_terminal_stdio_is_not_a_tty(ctr: Container) -> None:
    ctr.sh("tty; [ -t 0 ] && echo stdin-is-tty; echo end")
    res = ctr.run()
    assert "stdin-is-tty" not in res.stdout
    assert "not a tty" in res.stdout
    assert "end" in res.stdout


def test_terminal_create_without_console_socket_fails(ctr: Container) -> None:
    ctr.process["terminal"] = True
    res = ctr.create().fails()
    assert re.search(r"console.socket|console|tty", res.stderr, re.I), res.describe()
    assert ctr.status() is None
