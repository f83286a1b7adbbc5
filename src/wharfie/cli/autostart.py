"""Starting wharfied when nothing answers on the default socket.

Only the default address triggers this: an explicit -H, WHARFIE_HOST or
DOCKER_HOST that does not answer is an error, as with docker.
"""

from __future__ import annotations

import os
import sys
import time

from wharfie.errors import Unavailable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from wharfie.client.api import Client

LOG_CANDIDATES = ("/var/log/wharfied.log", "/run/wharfie/wharfied.log")


def should_autostart(host: str, explicit: bool, error: BaseException) -> bool:
    """True for the default unix socket when connecting failed (absent or refused)."""
    from wharfie.client.api import DEFAULT_HOST

    if explicit or host != DEFAULT_HOST:
        return False
    cause = error.__cause__
    return isinstance(cause, (FileNotFoundError, ConnectionRefusedError))


def log_path() -> str:
    """The first log location whose directory is writable."""
    for path in LOG_CANDIDATES:
        directory = os.path.dirname(path)
        if os.path.isdir(directory) and os.access(directory, os.W_OK):
            return path
    return LOG_CANDIDATES[-1]


def daemon_argv() -> list[str]:
    return [sys.executable, "-m", "wharfie.daemon"]


def start_daemon(argv: list[str] | None = None, log: str | None = None) -> tuple[int, str]:
    """Spawn wharfied detached (own session, stdin /dev/null, output to the log)."""
    argv = argv or daemon_argv()
    log = log or log_path()
    os.makedirs(os.path.dirname(log), exist_ok=True)
    out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
    null = os.open(os.devnull, os.O_RDONLY)
    try:
        pid = os.fork()
        if pid == 0:  # pragma: no cover - child
            try:
                os.setsid()
                os.dup2(null, 0)
                os.dup2(out, 1)
                os.dup2(out, 2)
                os.execv(argv[0], argv)
            finally:
                os._exit(127)
    finally:
        os.close(out)
        os.close(null)
    return pid, log


def wait_for_daemon(client: Client, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            client.api_version()
            return
        except Unavailable as exc:
            last = exc
            time.sleep(0.05)
    raise Unavailable(
        f"started wharfied but it did not answer on {client.host} within {timeout:.0f}s "
        f"(see {log_path()})"
    ) from last
