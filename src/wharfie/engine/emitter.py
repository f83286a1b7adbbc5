"""What a service needs of the event bus: one method. Services take an `Events` (the
daemon's `engine.events.EventBus`; a unit test's recorder) rather than the bus itself."""

from __future__ import annotations

from typing import Protocol


class Events(Protocol):
    def emit(self, kind: str, action: str, actor_id: str, attrs: dict[str, str]) -> None: ...
