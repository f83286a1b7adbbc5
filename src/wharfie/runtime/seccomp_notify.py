"""SCMP_ACT_NOTIFY: handing the seccomp listener fd to the agent at `listenerPath`, as runc does.

`attach_listener` runs in the runtime, before the fork: it connects to the agent's unix
socket (a host path, unreachable from inside the container later) and records the
containerProcessState to send. The process that loads the filter (the container's init, or
an exec'd process) fills in its host pid, loads the filter with a new listener and calls
`send_listener`: one message, the JSON with `fds: ["seccompFd"]` and the fd (SCM_RIGHTS).
"""

from __future__ import annotations

import os

from wharfie.errors import FailedPrecondition
from wharfie.oci import jsonio
from wharfie.runtime import console

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from wharfie.runtime.seccomp import SeccompFilter

OCI_VERSION = "1.0.2-dev"


def attach_listener(
    filt: SeccompFilter, seccomp_spec: dict[str, Any], state: dict[str, Any]
) -> int:
    """Connect to `listenerPath` and remember what to send; returns the socket fd, for the
    caller to close on its side once the process that loads the filter has it."""
    path = seccomp_spec.get("listenerPath") or ""
    try:
        filt.listener_sock = console.connect(path)
    except OSError as exc:
        raise FailedPrecondition(
            f"linux.seccomp.listenerPath: cannot connect to the seccomp agent at {path}: "
            f"{exc.strerror or exc}"
        ) from exc
    filt.listener_state = {
        "ociVersion": OCI_VERSION,
        "metadata": seccomp_spec.get("listenerMetadata") or "",
        "state": state,
    }
    return filt.listener_sock


def send_listener(filt: SeccompFilter, fd: int) -> None:
    """containerProcessState and the listener fd to the agent; closes both fds."""
    if fd < 0 or filt.listener_sock < 0:
        raise FailedPrecondition("seccomp: SCMP_ACT_NOTIFY without a listener to send it to")
    try:
        pid = filt.listener_state.get("pid") or 0
        msg = dict(filt.listener_state, fds=["seccompFd"], pid=pid)
        msg["state"] = dict(msg.get("state") or {}, pid=pid)
        console.send_fd(filt.listener_sock, fd, jsonio.dumps(msg))
    except OSError as exc:
        raise FailedPrecondition(
            f"seccomp: sending the listener fd to the agent: {exc.strerror or exc}"
        ) from exc
    finally:
        os.close(fd)
        filt.listener_sock = -1  # send_fd closed it
