"""The events stream: what happened to containers and images, as Docker reports it.

Events are kept in a bounded in-memory history (for `since`) and pushed to
subscribers' queues. `GET /events` without `until` stays open.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any

HISTORY = 1024


def make_event(kind: str, action: str, actor_id: str, attrs: dict[str, str]) -> dict[str, Any]:
    now = time.time_ns()
    event: dict[str, Any] = {
        "Type": kind,
        "Action": action,
        "Actor": {"ID": actor_id, "Attributes": attrs},
        "scope": "local",
        "time": now // 1_000_000_000,
        "timeNano": now,
    }
    if kind in ("container", "image"):  # the legacy fields moby still sends
        event["status"] = action
        event["id"] = actor_id
        if "image" in attrs:
            event["from"] = attrs["image"]
    return event


def matches(event: dict[str, Any], filters: dict[str, list[str]]) -> bool:
    attrs = event["Actor"]["Attributes"]
    checks: dict[str, Callable[[str], bool]] = {
        "type": lambda v: event["Type"] == v,
        "event": lambda v: event["Action"] == v or event["Action"].split(":")[0] == v,
        "container": lambda v: (
            event["Type"] == "container"
            and (event["Actor"]["ID"].startswith(v) or attrs.get("name") == v)
        ),
        "image": lambda v: (
            attrs.get("image") == v
            or (event["Type"] == "image" and event["Actor"]["ID"] in (v, f"sha256:{v}"))
        ),
        "label": lambda v: _label(attrs, v),
        "scope": lambda v: v == "local",
    }
    for key, wanted in filters.items():
        check = checks.get(key)
        if check is not None and wanted and not any(check(v) for v in wanted):
            return False
    return True


def _label(attrs: dict[str, str], wanted: str) -> bool:
    key, eq, value = wanted.partition("=")
    return key in attrs and (not eq or attrs[key] == value)


class EventBus:
    def __init__(self) -> None:
        self.history: deque[dict[str, Any]] = deque(maxlen=HISTORY)
        self.queues: set[asyncio.Queue[dict[str, Any]]] = set()

    def emit(self, kind: str, action: str, actor_id: str, attrs: dict[str, str]) -> None:
        event = make_event(kind, action, actor_id, attrs)
        self.history.append(event)
        for q in self.queues:
            q.put_nowait(event)

    async def stream(
        self, filters: dict[str, list[str]], since_ns: int | None, until_ns: int | None
    ) -> AsyncIterator[dict[str, Any]]:
        q: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.queues.add(q)
        replayed = 0  # events replayed from history are also in the queue: skip them there
        try:
            if since_ns is not None:
                for event in list(self.history):
                    replayed = event["timeNano"]
                    if event["timeNano"] >= since_ns and matches(event, filters):
                        if until_ns is not None and event["timeNano"] > until_ns:
                            break
                        yield event
            while until_ns is None or time.time_ns() < until_ns:
                timeout = None if until_ns is None else (until_ns - time.time_ns()) / 1e9
                try:
                    event = await asyncio.wait_for(q.get(), timeout)
                except TimeoutError:
                    return
                if event["timeNano"] <= replayed or (
                    since_ns is not None and event["timeNano"] < since_ns
                ):
                    continue
                if matches(event, filters):
                    yield event
        finally:
            self.queues.discard(q)
