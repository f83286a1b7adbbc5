"""What the /images, /auth and /distribution routes need of the engine (moby's image and
distribution router Backends, in spirit)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import IO, Any, BinaryIO, Protocol

from wharfie.engine.images import AuthConfig, ImageRecord

Progress = Callable[[dict[str, Any]], None]


class ImageBackend(Protocol):
    def list_images(self, all_: bool, raw_filters: str) -> list[dict[str, Any]]: ...

    def inspect(self, name: str) -> dict[str, Any]: ...

    def history(self, name: str) -> list[dict[str, Any]]: ...

    def tag(self, name: str, repo: str, tag: str) -> None: ...

    async def remove(self, name: str, force: bool, noprune: bool) -> list[dict[str, str]]: ...

    async def prune(self, raw_filters: str) -> dict[str, Any]: ...

    def import_tar(
        self,
        stream: BinaryIO,
        reference: str | None,
        changes: list[str],
        message: str,
        platform: str,
    ) -> ImageRecord: ...

    def imported(self, rec: ImageRecord, reference: str | None) -> None: ...


class DistributionBackend(Protocol):
    async def pull(
        self, ref: str, auth: AuthConfig, platform: str = "", progress: Progress = ...
    ) -> ImageRecord: ...

    async def pull_all_tags(
        self, name: str, auth: AuthConfig, platform: str = "", progress: Progress = ...
    ) -> list[ImageRecord]: ...

    async def push(
        self, name: str, tag: str, auth: AuthConfig, progress: Progress = ...
    ) -> list[dict[str, Any]]: ...

    async def login(self, auth: AuthConfig) -> dict[str, str]: ...

    async def distribution_inspect(self, name: str, auth: AuthConfig) -> dict[str, Any]: ...

    def save(self, refs: list[str]) -> Iterator[bytes]: ...

    def load(self, body: IO[bytes]) -> list[str]: ...


class ImagesAndDistribution(ImageBackend, DistributionBackend, Protocol):
    """The image routes' one backend (`engine.images.ImageService`)."""
