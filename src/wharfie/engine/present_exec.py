"""An exec as `GET /exec/{id}/json` shows it, rendered from its record."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wharfie.engine.execs import Exec


def inspect(ex: Exec) -> dict[str, Any]:
    cmd = list(ex.config.get("Cmd") or [])
    return {
        "ID": ex.id,
        "Running": ex.running,
        "ExitCode": ex.exit_code,
        "ProcessConfig": {
            "tty": bool(ex.config.get("Tty")),
            "entrypoint": cmd[0] if cmd else "",
            "arguments": cmd[1:],
            "privileged": bool(ex.config.get("Privileged")),
            **({"user": ex.config["User"]} if ex.config.get("User") else {}),
        },
        "OpenStdin": bool(ex.config.get("AttachStdin")),
        "OpenStderr": bool(ex.config.get("AttachStderr")),
        "OpenStdout": bool(ex.config.get("AttachStdout")),
        "CanRemove": False,
        "ContainerID": ex.container.id,
        "DetachKeys": ex.config.get("DetachKeys") or "",
        "Pid": ex.pid,
    }
