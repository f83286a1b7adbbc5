"""Differential: SCMP_ACT_NOTIFY, the listener fd sent to `listenerPath`, runc vs ours.

The agent here takes the containerProcessState message and the fd, records them and
closes the fd: a notified syscall then fails with ENOSYS, in both runtimes.
"""

from __future__ import annotations

import array
import json
import os
import socket
import threading
from pathlib import Path
from typing import Any

import pytest

from conftest import MakeBoth


class Agent:
    """Accepts `count` connections; records each message and closes each fd it gets."""

    def __init__(self, path: Path, count: int = 1) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(path))
        self.sock.listen(count)
        self.sock.settimeout(20)
        self.messages: list[dict[str, Any]] = []
        self.fds = 0
        self.thread = threading.Thread(target=self._serve, args=(count,), daemon=True)
        self.thread.start()

    @property
    def message(self) -> dict[str, Any] | None:
        return self.messages[0] if self.messages else None

    @property
    def got_fd(self) -> bool:
        return self.fds > 0

    def _serve(self, count: int) -> None:
        for _ in range(count):
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                fds = array.array("i")
                msg, anc, _, _ = conn.recvmsg(1 << 16, socket.CMSG_SPACE(4 * fds.itemsize))
                for level, kind, data in anc:
                    if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                        fds.frombytes(data[: len(data) - len(data) % fds.itemsize])
                for fd in fds:
                    self.fds += 1
                    os.close(fd)  # no answer: notified syscalls fail with ENOSYS
                self.messages.append(json.loads(msg.decode()))

    def close(self) -> None:
        self.sock.close()
        self.thread.join(5)


@pytest.mark.parametrize("nnp", [True, False], ids=["nnp", "no-nnp"])
def test_notify_listener_gets_fd_and_state(both: MakeBoth, short_tmp: Path, nnp: bool) -> None:
    got = {}
    msgs = {}
    for name, c in both("sh", "-c", "mkdir /tmp/x; echo rc=$?").items():
        agent = Agent(short_tmp / f"{name}.sock")
        c.spec["process"]["noNewPrivileges"] = nnp
        c.spec["annotations"] = {"org.example": "yes"}
        c.spec["linux"]["seccomp"] = {
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": str(agent.path),
            "listenerMetadata": "meta-data",
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}],
        }
        try:
            got[name] = c.run()
        finally:
            agent.close()
        assert agent.got_fd, f"{name}: the agent got no fd"
        msgs[name] = agent.message
    runc, ours = got["runc"], got["wharfie"]
    detail = f"runc:\n{runc.describe()}\nours:\n{ours.describe()}"
    assert ours.returncode == runc.returncode == 0, detail
    assert ours.stdout == runc.stdout, detail
    assert "rc=1" in ours.stdout
    m_runc, m_ours = msgs["runc"], msgs["wharfie"]
    assert m_runc is not None and m_ours is not None
    assert sorted(m_ours) == sorted(m_runc), (m_runc, m_ours)
    assert sorted(m_ours["state"]) == sorted(m_runc["state"]), (m_runc, m_ours)
    for m, c_name in ((m_runc, "runc"), (m_ours, "wharfie")):
        assert m["fds"] == ["seccompFd"]
        assert m["metadata"] == "meta-data"
        assert m["pid"] > 0 and m["state"]["pid"] == m["pid"], (c_name, m)
        assert m["state"]["annotations"] == {"org.example": "yes"}
    assert m_ours["state"]["status"] == m_runc["state"]["status"]


def test_notify_needs_a_listener_path(both: MakeBoth) -> None:
    got = {}
    for name, c in both("true").items():
        c.spec["linux"]["seccomp"] = {
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}],
        }
        got[name] = c.run()
    assert got["wharfie"].returncode == got["runc"].returncode != 0, got["runc"].describe()
    assert "Traceback" not in got["wharfie"].stderr


def test_exec_sends_its_listener_too(both: MakeBoth, short_tmp: Path) -> None:
    got = {}
    for name, c in both("sleep", "1000").items():
        agent = Agent(short_tmp / f"{name}.sock", count=2)
        try:
            c.spec["linux"]["seccomp"] = {
                "defaultAction": "SCMP_ACT_ALLOW",
                "listenerPath": str(agent.path),
                "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}],
            }
            c.run_detached().check()
            got[name] = c.exec("sh", "-c", "mkdir /tmp/y; echo rc=$?")
            agent.thread.join(10)
        finally:
            agent.close()
        assert agent.fds == 2 and len(agent.messages) == 2, (name, agent.messages)
        init_msg, exec_msg = agent.messages
        assert init_msg["pid"] == c.init_pid()
        assert exec_msg["pid"] != init_msg["pid"] > 0
        got[name + "-status"] = exec_msg["state"]["status"]  # type: ignore[assignment]
    assert got["wharfie"].returncode == got["runc"].returncode == 0
    assert got["wharfie"].stdout == got["runc"].stdout == "rc=1\n"
    assert got["wharfie-status"] == got["runc-status"]
