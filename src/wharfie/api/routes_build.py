"""Routes of the legacy builder: POST /build (context tar in, JSON lines out) and
POST /build/prune."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from wharfie.api.decoding import arg, flag, number
from wharfie.api.http import Reply, Request, Router, Stream, json_response
from wharfie.engine import filters
from wharfie.engine.builds import BuildOptions
from wharfie.errors import InvalidArgument, NotImplementedFeature
from wharfie.oci import jsonio

if TYPE_CHECKING:
    from wharfie.api.backends_build import BuildBackend

# moby's build cache prune filters: none is implemented by wharfie's cache yet, and a prune
# must never delete more than it was asked to, so each is refused rather than ignored
BUILD_PRUNE_FILTERS = frozenset({
    "description", "id", "immutable", "inuse", "mutable", "parent", "private", "shared",
    "type", "unused-for", "until",
})  # fmt: skip
_RESOURCES = {
    "memory": "Memory",
    "memswap": "MemorySwap",
    "cpushares": "CpuShares",
    "cpuperiod": "CpuPeriod",
    "cpuquota": "CpuQuota",
    "shmsize": "ShmSize",
}


class BuildRoutes:
    def __init__(self, backend: BuildBackend) -> None:
        self.b = backend

    def register(self, r: Router) -> None:
        r.add("POST", "/build", self.build)
        r.add("POST", "/build/prune", self.prune)

    async def build(self, req: Request) -> Reply:
        opts = options(req)
        self.b.check(opts)
        chunks = self.b.build(opts, req.chunks(), gone=lambda: _closed(req))
        return Stream(await errors_before_output_as_status(chunks))

    async def prune(self, req: Request) -> Reply:
        f = filters.parse(arg(req, "filters"))
        try:
            filters.validate(f, BUILD_PRUNE_FILTERS)
        except InvalidArgument as exc:
            raise InvalidArgument(f"failed to prune build cache: {exc}") from None
        if f:
            raise NotImplementedFeature(
                f"failed to prune build cache: filter '{sorted(f)[0]}' is not supported"
            )
        keep = number(req, "keep-storage", 0) or number(req, "reserved-space", 0)
        out = await asyncio.to_thread(self.b.prune, keep, flag(req, "all"))
        return json_response(out)


async def errors_before_output_as_status(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """As dockerd: an error before the stream says anything (a bad context, a Dockerfile that
    does not parse) is the HTTP status; once output has begun, errors are JSON lines in it."""
    first = await anext(chunks, b"")
    lines = first.splitlines()
    if len(lines) == 1 and lines[0].startswith(b'{"errorDetail"'):
        await chunks.aclose()  # type: ignore[attr-defined]  # an async generator
        raise InvalidArgument(str(jsonio.loads(lines[0]).get("error") or "build failed"))

    async def again() -> AsyncIterator[bytes]:
        if first:
            yield first
        async for chunk in chunks:
            yield chunk

    return again()


async def _closed(req: Request) -> None:
    """Returns when the client closes its side (the body has been read by then)."""
    try:
        while await req.reader.read(4096):
            pass  # a client sends nothing more during a build; whatever comes is ignored
    except OSError:
        return  # reset: gone too


def options(req: Request) -> BuildOptions:
    if arg(req, "version") == "2":
        raise NotImplementedFeature(
            "BuildKit (version=2) is not supported: use the legacy builder (DOCKER_BUILDKIT=0)"
        )
    if arg(req, "remote"):
        raise NotImplementedFeature("remote build contexts are not supported: send a tar")
    host: dict[str, Any] = {}
    for q, key in _RESOURCES.items():
        if arg(req, q):  # moby's Int64ValueOrZero: what is not a number is 0
            try:
                host[key] = number(req, q, 0)
            except InvalidArgument:
                host[key] = 0
    for q, key in (
        ("cpusetcpus", "CpusetCpus"),
        ("cpusetmems", "CpusetMems"),
        ("cgroupparent", "CgroupParent"),
    ):
        if arg(req, q):
            host[key] = arg(req, q)
    if arg(req, "ulimits"):
        host["Ulimits"] = _json_value(req, "ulimits", list)
    if arg(req, "extrahosts"):
        host["ExtraHosts"] = arg(req, "extrahosts").split(",")
    return BuildOptions(
        tags=[t for t in req.qlist("t") if t],
        dockerfile=arg(req, "dockerfile"),
        build_args=_json_map(req, "buildargs"),
        labels=_json_map(req, "labels"),
        target=arg(req, "target"),
        no_cache=flag(req, "nocache"),
        pull=flag(req, "pull"),
        quiet=flag(req, "q"),
        rm=flag(req, "rm", True),
        force_rm=flag(req, "forcerm"),
        network_mode=_network(arg(req, "networkmode")),
        cache_from=_json_list(req, "cachefrom"),
        platform=arg(req, "platform"),
        host_config=host,
        registry_auth=_registry_config(req.headers.get("x-registry-config", "")),
    )


def _registry_config(header: str) -> dict[str, dict[str, Any]]:
    """X-Registry-Config: base64url(JSON {registry: AuthConfig}); "" or "e30=" for none."""
    if not header.strip():
        return {}
    import base64

    raw = header.strip()
    try:
        value = jsonio.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)) or b"{}")
    except ValueError as exc:
        raise InvalidArgument(f"invalid X-Registry-Config header: {exc}") from exc
    if not isinstance(value, dict):
        raise InvalidArgument("invalid X-Registry-Config header: not a JSON object")
    return {str(k): v for k, v in value.items() if isinstance(v, dict)}


def _network(mode: str) -> str:
    """RUN containers' network: bridge, host, none, a user network (its DNS works) or
    container:<ref>, as dockerd's classic builder; the engine checks that it exists."""
    return "bridge" if mode in ("", "default") else mode


def _json_map(req: Request, name: str) -> dict[str, str]:
    raw = arg(req, name)
    if not raw:
        return {}
    try:
        value = jsonio.loads(raw)
    except ValueError as exc:
        raise InvalidArgument(f"invalid {name} JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise InvalidArgument(f"invalid {name}: a JSON object is expected")
    return {str(k): "" if v is None else str(v) for k, v in value.items()}


def _json_value(req: Request, name: str, kind: type) -> Any:
    try:
        value = jsonio.loads(arg(req, name))
    except ValueError as exc:
        raise InvalidArgument(f"invalid {name} JSON: {exc}") from exc
    if not isinstance(value, kind):
        raise InvalidArgument(f"invalid {name}: a JSON {kind.__name__} is expected")
    return value


def _json_list(req: Request, name: str) -> list[str]:
    raw = arg(req, name)
    if not raw:
        return []
    try:
        value = jsonio.loads(raw)
    except ValueError as exc:
        raise InvalidArgument(f"invalid {name} JSON: {exc}") from exc
    if not isinstance(value, list):
        raise InvalidArgument(f"invalid {name}: a JSON list is expected")
    return [str(v) for v in value]
