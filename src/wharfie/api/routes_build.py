"""Routes of the legacy builder: POST /build (context tar in, JSON lines out) and
POST /build/prune."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from wharfie.api.http import Reply, Request, Router, Stream, json_response
from wharfie.engine.builds import BuildOptions
from wharfie.errors import InvalidArgument, NotImplementedFeature
from wharfie.oci import jsonio

if TYPE_CHECKING:
    from wharfie.engine.core import Engine

_RESOURCES = {
    "memory": "Memory", "memswap": "MemorySwap", "cpushares": "CpuShares",
    "cpuperiod": "CpuPeriod", "cpuquota": "CpuQuota", "shmsize": "ShmSize",
}


class BuildRoutes:
    def __init__(self, engine: Engine) -> None:
        self.e = engine

    def register(self, r: Router) -> None:
        r.add("POST", "/build", self.build)
        r.add("POST", "/build/prune", self.prune)

    async def build(self, req: Request) -> Reply:
        opts = options(req)
        self.e.builds.check(opts)
        return Stream(self.e.builds.build(opts, req.chunks(), gone=lambda: _closed(req)))

    async def prune(self, req: Request) -> Reply:
        keep = req.qint("keep-storage", 0) or req.qint("reserved-space", 0)
        out = await asyncio.to_thread(self.e.builds.prune, keep, req.qbool("all"))
        return json_response(out)


async def _closed(req: Request) -> None:
    """Returns when the client closes its side (the body has been read by then)."""
    try:
        while await req.reader.read(4096):
            pass  # a client sends nothing more during a build; whatever comes is ignored
    except OSError:
        return  # reset: gone too


def options(req: Request) -> BuildOptions:
    if req.q("version") == "2":
        raise NotImplementedFeature(
            "BuildKit (version=2) is not supported: use the legacy builder (DOCKER_BUILDKIT=0)"
        )
    if req.q("remote"):
        raise NotImplementedFeature("remote build contexts are not supported: send a tar")
    host: dict[str, Any] = {}
    for q, key in _RESOURCES.items():
        if req.q(q):
            host[key] = req.qint(q, 0)
    for q, key in (("cpusetcpus", "CpusetCpus"), ("cpusetmems", "CpusetMems"),
                   ("cgroupparent", "CgroupParent")):
        if req.q(q):
            host[key] = req.q(q)
    if req.q("ulimits"):
        host["Ulimits"] = _json_value(req, "ulimits", list)
    if req.q("extrahosts"):
        host["ExtraHosts"] = req.q("extrahosts").split(",")
    return BuildOptions(
        tags=[t for t in req.qlist("t") if t],
        dockerfile=req.q("dockerfile"),
        build_args=_json_map(req, "buildargs"),
        labels=_json_map(req, "labels"),
        target=req.q("target"),
        no_cache=req.qbool("nocache"),
        pull=req.qbool("pull"),
        quiet=req.qbool("q"),
        rm=req.qbool("rm", True),
        force_rm=req.qbool("forcerm"),
        network_mode=_network(req.q("networkmode")),
        cache_from=_json_list(req, "cachefrom"),
        platform=req.q("platform"),
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
    raw = req.q(name)
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
        value = jsonio.loads(req.q(name))
    except ValueError as exc:
        raise InvalidArgument(f"invalid {name} JSON: {exc}") from exc
    if not isinstance(value, kind):
        raise InvalidArgument(f"invalid {name}: a JSON {kind.__name__} is expected")
    return value


def _json_list(req: Request, name: str) -> list[str]:
    raw = req.q(name)
    if not raw:
        return []
    try:
        value = jsonio.loads(raw)
    except ValueError as exc:
        raise InvalidArgument(f"invalid {name} JSON: {exc}") from exc
    if not isinstance(value, list):
        raise InvalidArgument(f"invalid {name}: a JSON list is expected")
    return [str(v) for v in value]
