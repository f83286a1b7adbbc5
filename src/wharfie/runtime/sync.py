"""The little protocol between the runtime and the processes it forks.

Two pipes carry single-line messages: the child sends a tag letter plus an
optional payload ("P4242", "Eerror text"), the parent answers with one letter.
EOF on either side means the peer died; the child then exits at once, so a
runtime killed half-way through `create` leaves no process behind.
"""

from __future__ import annotations

import os

# child -> parent
USERNS = "U"  # unshared a user namespace: write the id maps now
PID = "P"  # payload: pid of the container process (host pid namespace)
HOOKS = "H"  # namespaces and mounts are ready: run prestart/createRuntime hooks
READY = "R"  # set up, waiting on the exec fifo
ERROR = "E"  # payload: what failed; the child exits after sending it
# parent -> child
GO = "G"
CGROUP_READY = "C"  # linux.resources are applied: the init may go past its rootfs setup


class PeerGone(Exception):
    """The other side closed its end."""


class Channel:
    """One end of the pipe pair, used by both parent and child after fork."""

    __slots__ = ("buf", "rfd", "wfd")

    def __init__(self, rfd: int, wfd: int) -> None:
        self.rfd = rfd
        self.wfd = wfd
        self.buf = b""

    def send(self, tag: str, payload: str = "") -> None:
        msg = (tag + payload.replace("\n", " ") + "\n").encode()
        try:
            os.write(self.wfd, msg)
        except BrokenPipeError as exc:
            raise PeerGone("peer closed the sync pipe") from exc

    def recv(self) -> tuple[str, str]:
        while b"\n" not in self.buf:
            chunk = os.read(self.rfd, 4096)
            if not chunk:
                raise PeerGone("peer closed the sync pipe")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        text = line.decode(errors="replace")
        return text[:1], text[1:]

    def close(self) -> None:
        for fd in (self.rfd, self.wfd):
            try:
                os.close(fd)
            except OSError:
                pass


def pair() -> tuple[Channel, Channel]:
    """(parent end, child end); each end closes the other's fds after fork."""
    p_r, c_w = os.pipe()
    c_r, p_w = os.pipe()
    return Channel(p_r, p_w), Channel(c_r, c_w)
