"""A container as the engine keeps it: typed records, plus the rest of its document.

Identity (id, name, created, command), the state (`lifecycle_state.State`), the restart
count and the engine's own bookkeeping (runtime, manual stop, restart delay, health) are
typed fields. What is not typed yet (Config, HostConfig, NetworkSettings, the paths,
Image, Mounts...) stays in `doc`, in inspect's shape; the bookkeeping of the network,
volume and link services stays in `private` (a dict those services own).

`present_container` renders the inspect document and the stored record from these; the
stored record keeps the shape it always had (the document, with the bookkeeping under
"_w"), so `from_stored(stored(c))` gives back the same container. Everything that is only
meaningful while the daemon runs (waiters, locks, tasks) lives on the object only.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from wharfie.engine.lifecycle_state import NEVER, State, now_rfc3339

__all__ = ["NEVER", "Container", "HealthRecord", "now_rfc3339"]


@dataclass
class HealthRecord:
    """State.Health as inspect shows it: status, failing streak, the last probes."""

    status: str = "starting"
    failing_streak: int = 0
    log: list[dict[str, Any]] = field(default_factory=list)

    def to_doc(self) -> dict[str, Any]:
        return {"Status": self.status, "FailingStreak": self.failing_streak, "Log": self.log}

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> HealthRecord:
        return cls(
            status=str(doc.get("Status") or "starting"),
            failing_streak=int(doc.get("FailingStreak") or 0),
            log=list(doc.get("Log") or []),
        )


class Container:
    def __init__(
        self,
        *,
        id: str,
        name: str,
        created: str,
        path: str,
        args: list[str],
        doc: dict[str, Any],
        state: State | None = None,
        restart_count: int = 0,
        runtime: str = "",
        manual_stop: bool | None = None,
        started_once: bool = False,
        restart_delay: float | None = None,
        health: HealthRecord | None = None,
        private: dict[str, Any] | None = None,
    ) -> None:
        self.id = id
        self.name = name.lstrip("/")
        self.created = created
        self.path = path
        self.args = args
        self.doc = doc  # the untyped rest of the inspect document
        self.state = state or State()
        self.restart_count = restart_count
        self.runtime = runtime
        self.manual_stop = manual_stop  # None: never started nor stopped (not stored)
        self.started_once = started_once
        self.restart_delay = restart_delay
        self.health = health
        self.private = private if private is not None else {}  # other services' keys
        # only while the daemon runs
        self.lock = asyncio.Lock()
        self.exit_waiters: list[asyncio.Future[dict[str, Any]]] = []
        self.remove_waiters: list[asyncio.Future[dict[str, Any]]] = []
        self.restart_task: asyncio.Task[None] | None = None
        self.health_task: asyncio.Task[None] | None = None
        self.mount_users = 0  # archive/export users of a temporary rootfs mount
        # The runtime is known to hold no state for it (created here and not started since,
        # or its `delete` succeeded): `release` has no runtime delete to make. False when
        # unknown (loaded at start-up), so the first release deletes.
        self.runtime_released = False

    @classmethod
    def from_stored(cls, stored: dict[str, Any]) -> Container:
        """From the stored record (or the document create builds): the typed fields are
        taken out; the rest stays in `doc`."""
        doc = dict(stored)
        priv = dict(doc.pop("_w", None) or {})
        health = priv.pop("health", None)
        delay = priv.pop("restart_delay", None)
        manual = priv.pop("manual_stop", None)
        return cls(
            id=str(doc.pop("Id")),
            name=str(doc.pop("Name")),
            created=str(doc.pop("Created")),
            path=str(doc.pop("Path")),
            args=list(doc.pop("Args") or []),
            state=State.from_doc(doc.pop("State", None) or {}),
            restart_count=int(doc.pop("RestartCount", 0) or 0),
            runtime=str(priv.pop("runtime", "") or ""),
            manual_stop=None if manual is None else bool(manual),
            started_once=bool(priv.pop("started_once", False)),
            restart_delay=None if delay is None else float(delay),
            health=HealthRecord.from_doc(health) if isinstance(health, dict) else None,
            private=priv,
            doc=doc,
        )

    # -- derived --
    @property
    def removing(self) -> bool:
        return self.state.removing

    @property
    def config(self) -> dict[str, Any]:
        config: dict[str, Any] = self.doc["Config"]
        return config

    @property
    def host_config(self) -> dict[str, Any]:
        hc: dict[str, Any] = self.doc["HostConfig"]
        return hc

    @property
    def image_id(self) -> str:
        return str(self.doc["Image"])

    @property
    def running(self) -> bool:
        return self.state.running

    @property
    def paused(self) -> bool:
        return self.state.paused

    @property
    def tty(self) -> bool:
        return bool(self.config.get("Tty"))

    @property
    def network_mode(self) -> str:
        return str(self.host_config.get("NetworkMode") or "bridge")

    def inspect(self) -> dict[str, Any]:
        from wharfie.engine import present_container

        return present_container.inspect(self)

    def event_attrs(self) -> dict[str, str]:
        attrs = {"name": self.name, "image": str(self.config.get("Image", ""))}
        attrs.update(self.config.get("Labels") or {})
        return attrs

    def exit_result(self) -> dict[str, Any]:
        result: dict[str, Any] = {"StatusCode": self.state.exit_code, "Error": None}
        if self.state.error:
            result["Error"] = {"Message": self.state.error}
        return result

    def resolve_waiters(self, waiters: list[asyncio.Future[dict[str, Any]]]) -> None:
        result = self.exit_result()
        for fut in waiters:
            if not fut.done():
                fut.set_result(result)
        waiters.clear()
