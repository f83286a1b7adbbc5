"""The agent on every node: runs the tasks assigned to it as ordinary containers and reports
what it observes.

Each round it compares the node's assignments (from the store on a manager, from a manager's
control endpoint on a worker) with the containers that carry a task id label, and acts:
- a task to run with no container: create and start it (`rejected` when its image is missing
  or the engine refuses it), reporting `running` with the container's id and pid;
- a container of a task to run that has exited: `complete` (exit 0) or `failed`
  ("task: non-zero exit (N)"); the orchestrator decides what replaces it;
- a task to shut down: stop its container within the stop grace period, remove it, `shutdown`;
- a container whose task no longer exists: removed.
A task's restart delay (`not_before_ns`) is honoured here.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Protocol

from wharfie.cluster import taskspec
from wharfie.cluster.secrets import TaskFile
from wharfie.cluster.services import TERMINAL, Service, Task, TaskStatus
from wharfie.errors import WharfieError

log = logging.getLogger("wharfie.cluster.agent")


@dataclass(frozen=True)
class LocalContainer:
    id: str
    running: bool
    exit_code: int
    pid: int


@dataclass(frozen=True)
class LogLine:
    stream: str  # "stdout" | "stderr"
    time_ns: int
    data: bytes


@dataclass(frozen=True)
class LogRequest:
    since_ns: int
    tail: int  # < 0: every line
    stdout: bool
    stderr: bool


@dataclass(frozen=True)
class Assignment:
    task: Task
    service: Service | None  # None once the service is removed (its tasks are shut down)
    status: TaskStatus | None  # what this node reported last
    files: tuple[TaskFile, ...] = ()  # its secrets and configs, in the clear


class TaskEngine(Protocol):
    """What the agent needs of the local engine."""

    def task_containers(self) -> dict[str, LocalContainer]: ...  # by task id
    def image_present(self, ref: str) -> bool: ...
    async def run(
        self, name: str, body: dict[str, object], files: tuple[TaskFile, ...]
    ) -> LocalContainer: ...
    async def remove(self, container_id: str, grace_s: int) -> None: ...
    def sweep(self) -> None: ...  # release what task containers removed by hand left
    def task_log(self, task_id: str, req: LogRequest) -> list[LogLine]: ...


class Agent:
    def __init__(self, engine: TaskEngine) -> None:
        self._engine = engine
        self._reported: dict[str, str] = {}  # task id -> the state last reported

    async def remove_all(self) -> None:
        """Remove every task container of this node and what they held (secrets' tmpfs, task
        files): a node that leaves the swarm keeps none, as dockerd removes them on leave."""
        local = self._engine.task_containers()
        results = await asyncio.gather(
            *(self._engine.remove(c.id, 0) for c in local.values()), return_exceptions=True
        )
        for task_id, result in zip(local, results, strict=True):
            if isinstance(result, Exception):
                log.warning("swarm leave: removing task %s: %s", task_id, result)
            elif isinstance(result, BaseException):
                raise result
        self._engine.sweep()
        self._reported.clear()

    async def round(self, assignments: list[Assignment]) -> list[tuple[str, TaskStatus]]:
        """One pass; the status reports to send (task id, status)."""
        now = time.time_ns()
        local = self._engine.task_containers()
        reports: list[tuple[str, TaskStatus]] = []

        def report(t: Task, status: TaskStatus) -> None:
            self._reported[t.id] = status.state
            reports.append((t.id, status))

        assigned = set()
        stopping: list[tuple[Task, LocalContainer, int, str]] = []
        starting: list[Assignment] = []
        for a in assignments:
            t = a.task
            assigned.add(t.id)
            last = self._reported.get(t.id) or (a.status.state if a.status else "")
            lc = local.get(t.id)
            if t.desired_state in ("running", "complete") and a.service is not None:
                if lc is None:
                    if last in TERMINAL or last == "running" or t.not_before_ns > now:
                        if last == "running":  # its container is gone (removed by hand)
                            report(t, TaskStatus("failed", now, "", "task: container removed"))
                        continue
                    starting.append(a)
                elif not lc.running and last not in TERMINAL:
                    if lc.exit_code == 0:
                        report(t, TaskStatus("complete", now, "finished", "", lc.id, 0, 0))
                    else:
                        err = f"task: non-zero exit ({lc.exit_code})"
                        report(t, TaskStatus("failed", now, "started", err, lc.id, 0, lc.exit_code))
                elif lc.running and last != "running":
                    report(t, TaskStatus("running", now, "started", "", lc.id, lc.pid, 0))
            else:
                if lc is not None:
                    stopping.append((t, lc, t.stop_grace_ns // 1_000_000_000, last))
                elif last and last not in TERMINAL:
                    report(t, TaskStatus("shutdown", now, "shutdown"))
        # new tasks start together, as stopping ones stop together
        for a, status in zip(
            starting, await asyncio.gather(*(self._start(a) for a in starting)), strict=True
        ):
            report(a.task, status)
        orphans = [(tid, lc) for tid, lc in local.items() if tid not in assigned]
        # every container stops within its own grace period, all at once
        results = await asyncio.gather(
            *(self._engine.remove(lc.id, grace) for _, lc, grace, _ in stopping),
            *(self._engine.remove(lc.id, 10) for _, lc in orphans),
            return_exceptions=True,
        )
        for (t, lc, _, last), result in zip(stopping, results, strict=False):
            if isinstance(result, WharfieError):
                log.warning("task %s: removing its container: %s", t.id, result)
            elif isinstance(result, BaseException):
                raise result
            elif last not in TERMINAL:
                report(t, TaskStatus("shutdown", now, "shutdown", "", lc.id, 0, lc.exit_code))
        for (task_id, lc), result in zip(orphans, results[len(stopping) :], strict=True):
            if isinstance(result, BaseException):
                log.warning("orphaned task container %s: %s", lc.id[:12], result)
            self._reported.pop(task_id, None)
        self._engine.sweep()
        return reports

    async def _start(self, a: Assignment) -> TaskStatus:
        t, s = a.task, a.service
        assert s is not None
        now = time.time_ns()
        if not self._engine.image_present(s.spec.image):
            return TaskStatus("rejected", now, "preparing", f"No such image: {s.spec.image}")
        try:
            lc = await self._engine.run(
                taskspec.container_name(s.spec.name, t), taskspec.create_body(s, t), a.files
            )
        except WharfieError as exc:
            return TaskStatus("rejected", time.time_ns(), "starting", str(exc))
        return TaskStatus("running", time.time_ns(), "started", "", lc.id, lc.pid, 0)
