"""What the /build routes need of the engine (moby's build router Backend, in spirit)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol

from wharfie.engine.builds import BuildOptions


class BuildBackend(Protocol):
    def check(self, opts: BuildOptions) -> None: ...

    def build(
        self,
        opts: BuildOptions,
        body: AsyncIterator[bytes],
        gone: Callable[[], Awaitable[object]] | None = None,
    ) -> AsyncIterator[bytes]: ...

    def prune(self, keep_storage: int, everything: bool) -> dict[str, Any]: ...
