"""A container as the engine keeps it: the document inspect reports, plus private fields.

The document (`doc`) is what `GET /containers/{id}/json` returns and what the store
persists; private bookkeeping lives under the "_w" key, which inspect drops.
Everything that is only meaningful while the daemon runs (waiters, locks) lives on
the object, never in the document.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from wharfie.engine import present

NEVER = "0001-01-01T00:00:00Z"


def now_rfc3339() -> str:
    return present.rfc3339nano(time.time_ns())


def initial_state() -> dict[str, Any]:
    return {
        "Status": "created",
        "Running": False,
        "Paused": False,
        "Restarting": False,
        "OOMKilled": False,
        "Dead": False,
        "Pid": 0,
        "ExitCode": 0,
        "Error": "",
        "StartedAt": NEVER,
        "FinishedAt": NEVER,
    }


class Container:
    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.lock = asyncio.Lock()
        self.exit_waiters: list[asyncio.Future[dict[str, Any]]] = []
        self.remove_waiters: list[asyncio.Future[dict[str, Any]]] = []
        self.restart_task: asyncio.Task[None] | None = None
        self.health_task: asyncio.Task[None] | None = None
        self.removing = False
        self.mount_users = 0  # archive/export users of a temporary rootfs mount

    # -- identity --
    @property
    def id(self) -> str:
        return str(self.doc["Id"])

    @property
    def name(self) -> str:
        return str(self.doc["Name"]).lstrip("/")

    @property
    def state(self) -> dict[str, Any]:
        state: dict[str, Any] = self.doc["State"]
        return state

    @property
    def config(self) -> dict[str, Any]:
        config: dict[str, Any] = self.doc["Config"]
        return config

    @property
    def host_config(self) -> dict[str, Any]:
        hc: dict[str, Any] = self.doc["HostConfig"]
        return hc

    @property
    def private(self) -> dict[str, Any]:
        priv: dict[str, Any] = self.doc.setdefault("_w", {})
        return priv

    @property
    def running(self) -> bool:
        return bool(self.state["Running"])

    @property
    def paused(self) -> bool:
        return bool(self.state["Paused"])

    @property
    def tty(self) -> bool:
        return bool(self.config.get("Tty"))

    @property
    def network_mode(self) -> str:
        return str(self.host_config.get("NetworkMode") or "bridge")

    def inspect(self) -> dict[str, Any]:
        out = {k: v for k, v in self.doc.items() if k != "_w"}
        health = self.private.get("health")
        if health is not None:
            out["State"] = {**self.state, "Health": health}
        return out

    # -- state transitions (the caller saves the document) --
    def set_running(self, pid: int) -> None:
        self.state.update(
            Status="running",
            Running=True,
            Paused=False,
            Restarting=False,
            OOMKilled=False,
            Dead=False,
            Pid=pid,
            ExitCode=0,
            Error="",
            StartedAt=now_rfc3339(),
        )
        self.private["started_once"] = True

    def set_exited(self, code: int, oom: bool, finished: str | None = None) -> None:
        self.state.update(
            Status="exited",
            Running=False,
            Paused=False,
            Restarting=False,
            OOMKilled=oom,
            Pid=0,
            ExitCode=code,
            FinishedAt=finished or now_rfc3339(),
        )

    def set_start_failed(self, code: int, error: str) -> None:
        self.state.update(
            Status="created" if not self.private.get("started_once") else "exited",
            Running=False,
            Pid=0,
            ExitCode=code,
            Error=error,
        )

    def event_attrs(self) -> dict[str, str]:
        attrs = {"name": self.name, "image": str(self.config.get("Image", ""))}
        attrs.update(self.config.get("Labels") or {})
        return attrs

    def resolve_waiters(self, waiters: list[asyncio.Future[dict[str, Any]]]) -> None:
        result: dict[str, Any] = {"StatusCode": int(self.state["ExitCode"]), "Error": None}
        if self.state.get("Error"):
            result["Error"] = {"Message": self.state["Error"]}
        for fut in waiters:
            if not fut.done():
                fut.set_result(result)
        waiters.clear()
