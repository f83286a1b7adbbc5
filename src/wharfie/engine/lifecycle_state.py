"""A container's state, and the one function through which every state change goes.

`State` is the typed record of what inspect shows under `State` (plus `removing`, which
lives only while the daemon runs). `transition(c, move, events, ...)` checks that the move
is legal from the container's phase, refuses it with a `Conflict` in dockerd's words
where dockerd has words for it, applies it, and emits the lifecycle events that go with
it (create, start, die, oom, pause, unpause, destroy). `check(c, move)` is the same test
without the change, for callers that must refuse before a side effect (the runtime's
pause). Events that are not state changes (kill, stop, restart, rename, update, attach,
health_status) go through `notify`, so every container event leaves from this module.

The phase is computed from the record (`phase(state)`); the table `LEGAL` says which
moves each phase allows. Moves that recovery makes (adopt, lost, frozen, thawed) change
the state silently: they record what happened while nobody was watching.
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from wharfie import times
from wharfie.errors import Conflict

if TYPE_CHECKING:
    from wharfie.engine.model import Container

NEVER = "0001-01-01T00:00:00Z"


def now_rfc3339() -> str:
    return times.format_nano(time.time_ns())


@dataclass
class State:
    """The container's state as inspect reports it; `removing` is in memory only."""

    status: str = "created"
    running: bool = False
    paused: bool = False
    restarting: bool = False
    oom_killed: bool = False
    dead: bool = False
    pid: int = 0
    exit_code: int = 0
    error: str = ""
    started_at: str = NEVER
    finished_at: str = NEVER
    removing: bool = False

    def to_doc(self) -> dict[str, Any]:
        return {
            "Status": self.status,
            "Running": self.running,
            "Paused": self.paused,
            "Restarting": self.restarting,
            "OOMKilled": self.oom_killed,
            "Dead": self.dead,
            "Pid": self.pid,
            "ExitCode": self.exit_code,
            "Error": self.error,
            "StartedAt": self.started_at,
            "FinishedAt": self.finished_at,
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> State:
        return cls(
            status=str(doc.get("Status") or "created"),
            running=bool(doc.get("Running")),
            paused=bool(doc.get("Paused")),
            restarting=bool(doc.get("Restarting")),
            oom_killed=bool(doc.get("OOMKilled")),
            dead=bool(doc.get("Dead")),
            pid=int(doc.get("Pid") or 0),
            exit_code=int(doc.get("ExitCode") or 0),
            error=str(doc.get("Error") or ""),
            started_at=str(doc.get("StartedAt") or NEVER),
            finished_at=str(doc.get("FinishedAt") or NEVER),
        )


class Phase(enum.Enum):
    CREATED = "created"
    RUNNING = "running"
    PAUSED = "paused"
    RESTARTING = "restarting"
    EXITED = "exited"
    REMOVING = "removing"
    DEAD = "dead"


class Move(enum.Enum):
    CREATE = "create"  # the record exists: the "create" event
    START = "start"  # the runtime runs its process (pid)
    START_FAILED = "start-failed"  # the runtime refused (code, error)
    EXIT = "exit"  # the process ended (code, oom, finished)
    PAUSE = "pause"
    UNPAUSE = "unpause"
    RESTARTING = "restarting"  # the restart policy will start it after a delay
    RESTART_CANCELLED = "restart-cancelled"  # a stop came first, or the start is moot
    REMOVE = "remove"  # removal in progress (of a container that does not run)
    REMOVE_FORCED = "remove-forced"  # removal in progress, killing it if it runs
    REMOVE_FAILED = "remove-failed"  # the removal failed half-way: it stays
    DESTROY = "destroy"  # the record is gone
    ADOPT = "adopt"  # recovery: the monitor runs it (pid)
    LOST = "lost"  # recovery: nobody runs it any more
    FROZEN = "frozen"  # recovery: the freezer says it is paused
    THAWED = "thawed"  # recovery: the freezer says it is not


def phase(s: State) -> Phase:
    if s.removing:
        return Phase.REMOVING
    if s.running:
        return Phase.PAUSED if s.paused else Phase.RUNNING
    if s.dead:
        return Phase.DEAD
    if s.restarting:
        return Phase.RESTARTING
    return Phase.CREATED if s.status == "created" else Phase.EXITED


P = Phase
LEGAL: dict[Move, frozenset[Phase]] = {
    Move.CREATE: frozenset({P.CREATED}),
    Move.START: frozenset({P.CREATED, P.EXITED, P.RESTARTING}),
    Move.START_FAILED: frozenset({P.CREATED, P.EXITED, P.RESTARTING, P.REMOVING}),
    Move.EXIT: frozenset({P.RUNNING, P.PAUSED, P.REMOVING}),
    Move.PAUSE: frozenset({P.RUNNING}),
    Move.UNPAUSE: frozenset({P.PAUSED}),
    Move.RESTARTING: frozenset({P.EXITED}),
    Move.RESTART_CANCELLED: frozenset({P.RESTARTING}),
    Move.REMOVE: frozenset({P.CREATED, P.EXITED, P.DEAD}),
    Move.REMOVE_FORCED: frozenset(set(P) - {P.REMOVING}),
    Move.REMOVE_FAILED: frozenset({P.REMOVING}),
    Move.DESTROY: frozenset({P.REMOVING}),
    Move.ADOPT: frozenset({P.CREATED, P.EXITED, P.RESTARTING, P.RUNNING, P.PAUSED}),
    Move.LOST: frozenset({P.CREATED, P.EXITED, P.RESTARTING, P.RUNNING, P.PAUSED}),
    Move.FROZEN: frozenset({P.RUNNING}),
    Move.THAWED: frozenset({P.PAUSED}),
}


def refusal(cid: str, move: Move, now: Phase, ref: str = "", name: str = "") -> str:
    """Why `move` is illegal in phase `now`, in dockerd's words where it has them (those
    of removal measured against dockerd by tests/differential)."""
    if move is Move.START:
        if now is P.PAUSED:
            return "cannot start a paused container, try unpause instead"
        if now in (P.REMOVING, P.DEAD):
            return "container is marked for removal and cannot be started"
        return f"Container {cid} is already running"
    if move is Move.PAUSE:
        if now is P.PAUSED:
            return f"Container {cid} is already paused"
        if now is P.RESTARTING:
            return f"Container {cid} is restarting, wait until the container is running"
        return f"Container {cid} is not running"
    if move in (Move.UNPAUSE, Move.THAWED):
        return f"Container {cid} is not paused"
    if move in (Move.REMOVE, Move.REMOVE_FORCED):
        if now is P.RUNNING:
            return (
                f'cannot remove container "/{name}": container is running: stop the '
                "container before removing or force remove"
            )
        if now is P.PAUSED:
            return (
                f"You cannot remove a paused container {cid}. Unpause and then stop the "
                "container before attempting removal or force remove"
            )
        if now is P.RESTARTING:
            return (
                f"You cannot remove a restarting container {cid}. Stop the container before "
                "attempting removal or force remove"
            )
        return f"removal of container {ref or cid} is already in progress"
    if move in (Move.EXIT, Move.FROZEN):
        return f"Container {cid} is not running"
    return f"container {cid} is {now.value}: cannot {move.value}"


class EventSink(Protocol):
    def emit(self, kind: str, action: str, actor_id: str, attrs: dict[str, str]) -> None: ...


def allowed(c: Container, move: Move) -> bool:
    return phase(c.state) in LEGAL[move]


def check(c: Container, move: Move, ref: str = "") -> None:
    """Raise the Conflict `transition` would raise, changing nothing."""
    now = phase(c.state)
    if now not in LEGAL[move]:
        raise Conflict(refusal(c.id, move, now, ref, c.name))


def transition(
    c: Container,
    move: Move,
    events: EventSink,
    *,
    pid: int = 0,
    code: int = 0,
    oom: bool = False,
    error: str = "",
    finished: str | None = None,
    ref: str = "",
) -> None:
    """The one place a container's state changes (the caller saves the record)."""
    check(c, move, ref)
    s = c.state
    if move in (Move.START, Move.ADOPT):
        if not s.running:
            _run(c, pid)
        s.pid = pid
        if move is Move.START:
            events.emit("container", "start", c.id, c.event_attrs())
    elif move is Move.START_FAILED:
        s.status = "exited" if c.started_once else "created"
        s.running, s.restarting, s.pid, s.exit_code, s.error = False, False, 0, code, error
        events.emit("container", "die", c.id, {**c.event_attrs(), "exitCode": str(code)})
    elif move in (Move.EXIT, Move.LOST):
        if move is Move.LOST:
            code, oom = 255, False
        s.status, s.running, s.paused, s.restarting = "exited", False, False, False
        s.oom_killed, s.pid, s.exit_code = oom, 0, code
        s.finished_at = finished or now_rfc3339()
        if move is Move.EXIT:
            attrs = c.event_attrs()
            if oom:
                events.emit("container", "oom", c.id, attrs)
            events.emit("container", "die", c.id, {**attrs, "exitCode": str(code)})
    elif move in (Move.PAUSE, Move.FROZEN):
        s.paused, s.status = True, "paused"
        if move is Move.PAUSE:
            events.emit("container", "pause", c.id, c.event_attrs())
    elif move in (Move.UNPAUSE, Move.THAWED):
        s.paused, s.status = False, "running"
        if move is Move.UNPAUSE:
            events.emit("container", "unpause", c.id, c.event_attrs())
    elif move is Move.RESTARTING:
        s.restarting, s.status = True, "restarting"
    elif move is Move.RESTART_CANCELLED:
        s.restarting, s.status = False, "exited"
    elif move in (Move.REMOVE, Move.REMOVE_FORCED):
        if s.restarting:  # the removal cancels the pending restart
            s.restarting, s.status = False, "exited"
        s.removing = True
    elif move is Move.REMOVE_FAILED:
        s.removing = False
    elif move is Move.DESTROY:
        events.emit("container", "destroy", c.id, c.event_attrs())
    elif move is Move.CREATE:
        events.emit("container", "create", c.id, c.event_attrs())


def _run(c: Container, pid: int) -> None:
    s = c.state
    s.status, s.running, s.paused, s.restarting = "running", True, False, False
    s.oom_killed, s.dead, s.pid, s.exit_code, s.error = False, False, pid, 0, ""
    s.started_at = now_rfc3339()
    c.started_once = True


def notify(c: Container, action: str, events: EventSink, **extra: str) -> None:
    """A container event that changes no state (kill, stop, restart, rename, update...)."""
    events.emit("container", action, c.id, {**c.event_attrs(), **extra})
