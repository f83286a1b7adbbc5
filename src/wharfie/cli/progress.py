"""Waiting for a service to converge, with docker's progress output
(cli/command/service/progress): an `overall progress: N out of M tasks` line, one line per
slot (or node, for a global service) up to 20, then `verify: Waiting N seconds to verify that
tasks are stable...` for the update monitor period (5 s by default) and
`verify: Service <id> converged`.

On a terminal the lines are redrawn in place with progress bars, as docker's jsonmessage
does; otherwise every message without a bar is printed as a line `<id>: <action>` (docker
prints nothing for the bar messages then). The pure part is `Updater`, fed one poll at a
time; `service_progress` polls the daemon every 200 ms as the docker CLI does.
"""

from __future__ import annotations

import time

from wharfie.errors import WharfieError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, TextIO

    from wharfie.client.api import Client

STATES = {
    "new": 1,
    "allocated": 2,
    "pending": 3,
    "assigned": 4,
    "accepted": 5,
    "preparing": 6,
    "ready": 7,
    "starting": 8,
    "running": 9,
    "complete": 10,
    "shutdown": 11,
    "failed": 12,
    "rejected": 13,
}
LONGEST_STATE = max(len(s) for s, n in STATES.items() if n <= 10)
MAX_PROGRESS = 9
MAX_BARS = 20


class ProgressError(WharfieError):
    plain = True


def _terminal(state: str) -> bool:
    return STATES.get(state, 0) > STATES["running"]


def trunc_error(msg: str) -> str:
    msg = msg.replace("\n", " ")
    return msg[:74] + "…" if len(msg) > 75 else msg


class Message:
    """One progress message: an id, its action and maybe a bar (current of total)."""

    __slots__ = ("action", "current", "ident", "total")

    def __init__(self, ident: str, action: str, current: int = 0, total: int = 0) -> None:
        self.ident, self.action, self.current, self.total = ident, action, current, total


class Updater:
    """docker's replicated/global progress updaters: each `update` returns whether every
    slot runs, and appends the messages to `out`."""

    def __init__(self, spec: dict[str, Any]) -> None:
        mode = spec.get("Mode") or {}
        if (mode.get("Replicated") or {}).get("Replicas") is not None:
            self.kind = "replicated"
        elif mode.get("Global") is not None:
            self.kind = "global"
        elif mode.get("ReplicatedJob") is not None or mode.get("GlobalJob") is not None:
            self.kind = "job"
        else:
            raise ProgressError("unrecognized service mode")
        self.initialized = False
        self.done = False
        self.slots: dict[int, int] = {}

    def update(
        self,
        spec: dict[str, Any],
        tasks: list[dict[str, Any]],
        active: set[str],
        rollback: bool,
        out: list[Message],
    ) -> bool:
        if self.kind == "global":
            return self._global(tasks, active, rollback, out)
        if self.kind == "job":
            return self._job(spec, tasks, out)
        replicas = int(spec["Mode"]["Replicated"]["Replicas"])
        if not self.initialized:
            out.append(_overall(0, replicas, rollback))
            if replicas <= MAX_BARS:
                out += [Message(f"{i}/{replicas}", " ") for i in range(1, replicas + 1)]
            self.initialized = True
        by_slot = _best(tasks, lambda t: t.get("Slot") or 0, active)
        if self.done and any(_state(t) != "running" for t in by_slot.values()):
            self.done = False
        running = 0
        for slot, t in by_slot.items():
            mapped = self.slots.setdefault(slot, len(self.slots) + 1)
            if not _terminal(t.get("DesiredState") or "") and _state(t) == "running":
                running += 1
            if not self.done and replicas <= MAX_BARS and 0 <= mapped <= replicas:
                out += _task_message(t, f"{mapped}/{replicas}")
        if not self.done:
            out.append(_overall(running, replicas, rollback))
            self.done = running == replicas
        return running == replicas

    def _global(
        self, tasks: list[dict[str, Any]], active: set[str], rollback: bool, out: list[Message]
    ) -> bool:
        by_node = _best(tasks, lambda t: t.get("NodeID") or "", None)
        count = len(by_node)
        if not self.initialized:
            if count == 0:
                out.append(Message("overall progress", "waiting for new tasks"))
                return False
            out.append(_overall(0, count, rollback))
            self.initialized = True
        if self.done and any(_state(t) != "running" for t in by_node.values()):
            self.done = False
        running = 0
        for node, t in by_node.items():
            if node not in active:
                continue
            if not _terminal(t.get("DesiredState") or "") and _state(t) == "running":
                running += 1
            if not self.done and count <= MAX_BARS:
                out += _task_message(t, node[:12])
        if not self.done:
            out.append(_overall(running, count, rollback))
            self.done = running == count
        return running == count

    def _job(self, spec: dict[str, Any], tasks: list[dict[str, Any]], out: list[Message]) -> bool:
        mode = spec.get("Mode") or {}
        total = int((mode.get("ReplicatedJob") or {}).get("TotalCompletions") or 0)
        done = sum(1 for t in tasks if _state(t) == "complete")
        if mode.get("GlobalJob") is not None:
            total = len({t.get("NodeID") for t in tasks}) or 0
        out.append(Message("job progress", f"{done} out of {total} complete"))
        return total > 0 and done >= total


def _state(t: dict[str, Any]) -> str:
    return str((t.get("Status") or {}).get("State") or "")


def _overall(n: int, m: int, rollback: bool) -> Message:
    if rollback:
        return Message("overall progress", f"rolling back update: {n} out of {m} tasks")
    return Message("overall progress", f"{n} out of {m} tasks")


def _task_message(t: dict[str, Any], ident: str) -> list[Message]:
    err = (t.get("Status") or {}).get("Err") or ""
    if err:
        return [Message(ident, trunc_error(err))]
    state = _state(t)
    if not _terminal(t.get("DesiredState") or "") and not _terminal(state):
        return [Message(ident, state.ljust(LONGEST_STATE), STATES.get(state, 0), MAX_PROGRESS)]
    return []


def _best(tasks: list[dict[str, Any]], key: Any, active: set[str] | None) -> dict[Any, Any]:
    """Per slot (or node) the task with the lowest desired state, then observed state."""
    out: dict[Any, dict[str, Any]] = {}
    for t in tasks:
        desired = STATES.get(t.get("DesiredState") or "", 0)
        observed = STATES.get(_state(t), 0)
        if not desired or not observed:
            continue
        k = key(t)
        old = out.get(k)
        if old is not None:
            old_desired = STATES.get(old.get("DesiredState") or "", 0)
            if old_desired < desired:
                continue
            if old_desired == desired and STATES.get(_state(old), 0) <= observed:
                continue
        if active is not None and t.get("NodeID") and t["NodeID"] not in active:
            continue
        out[k] = t
    return out


class Printer:
    """docker's jsonmessage display: in place with bars on a terminal, lines otherwise."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.tty = out.isatty()
        self.lines: dict[str, int] = {}

    def write(self, m: Message) -> None:
        if not self.tty:
            if not m.total:
                self.out.write(f"{m.ident}: {m.action}\n")
            return
        bar = _bar(m.current, m.total) if m.total else ""
        text = f"{m.ident}: {m.action} {bar}".rstrip(" ") if bar else f"{m.ident}: {m.action}"
        if m.ident in self.lines:
            up = len(self.lines) - self.lines[m.ident]
            self.out.write(f"\x1b[{up}A\r\x1b[2K{text}\x1b[{up}B\r")
        else:
            self.lines[m.ident] = len(self.lines)
            self.out.write(f"\x1b[2K\r{text}\n")
        self.out.flush()


def _bar(current: int, total: int) -> str:
    width = 50
    filled = width * current // total if total else 0
    return "[" + "=" * max(filled - 1, 0) + ">" + " " * (width - filled) + "]"


def service_progress(client: Client, sid: str, out: TextIO | None, poll: float = 0.2) -> None:
    """Poll until the service converges and stays so for its monitor period."""
    printer = Printer(out) if out is not None else None

    def emit(msgs: list[Message]) -> None:
        if printer is not None:
            for m in msgs:
                printer.write(m)

    updater: Updater | None = None
    converged_at = 0.0
    rollback = False
    final: Message | None = None
    while True:
        svc = client.get_json(f"/services/{sid}", {"insertDefaults": False})
        spec = svc["Spec"]
        monitor = ((spec.get("UpdateConfig") or {}).get("Monitor") or 5_000_000_000) / 1e9
        if updater is None:
            updater = Updater(spec)
        us = svc.get("UpdateStatus") or {}
        state, message = us.get("State") or "", us.get("Message") or ""
        if state == "updating":
            rollback = False
        elif state == "completed" and not converged_at:
            return
        elif state == "paused":
            raise ProgressError(f"service update paused: {message}")
        elif state == "rollback_started":
            if not rollback and message:
                emit([Message("rollback", message)])
            rollback = True
        elif state == "rollback_paused":
            raise ProgressError(f"service rollback paused: {message}")
        elif state == "rollback_completed":
            if not converged_at:
                final = Message("rollback", message)
            rollback = True
        if converged_at and time.monotonic() - converged_at >= monitor:
            emit([Message("verify", f"Service {sid} converged")])
            if final is not None:
                emit([final])
            return
        tasks = client.get_json(
            "/tasks", {"filters": {"service": {svc["ID"]: True}, "_up-to-date": {"true": True}}}
        )
        nodes = client.get_json("/nodes") or []
        active = {n["ID"] for n in nodes if (n.get("Status") or {}).get("State") != "down"}
        msgs: list[Message] = []
        converged = updater.update(spec, tasks or [], active, rollback, msgs)
        emit(msgs)
        if converged:
            if svc.get("JobStatus") is not None:
                emit([Message("", "job complete")])
                return
            if not converged_at:
                converged_at = time.monotonic()
            wait = monitor - (time.monotonic() - converged_at)
            if wait >= 0:
                n = int(wait) + 1
                emit([Message("verify", f"Waiting {n} seconds to verify that tasks are stable...")])
        else:
            if converged_at:
                emit([Message("verify", "Detected task failure")])
            converged_at = 0.0
        time.sleep(poll)
