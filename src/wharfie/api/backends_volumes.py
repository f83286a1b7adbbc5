"""What the /volumes routes need of the engine (moby's volume router Backend, in spirit)."""

from __future__ import annotations

from typing import Any, Protocol


class VolumeBackend(Protocol):
    def list_volumes(self, raw_filters: str) -> dict[str, Any]: ...

    def create(self, body: Any) -> dict[str, Any]: ...

    def inspect(self, name: str) -> dict[str, Any]: ...

    async def remove(self, name: str, force: bool) -> None: ...

    async def prune(self, raw_filters: str, api_version: tuple[int, int]) -> dict[str, Any]: ...
