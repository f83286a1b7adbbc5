"""Routes of swarm mode (/swarm, /nodes, /services, /tasks, /secrets, /configs) and /plugins.

wharfied has no swarm mode: a node is never in a swarm, so these routes answer as dockerd
does on a node outside one -- 503 with its wording -- instead of 404, which clients read as
"old daemon". `swarm init/join` answer 501 (a feature this daemon lacks). No plugins are
installed: `GET /plugins` is an empty list.
"""

from __future__ import annotations

from wharfie.api.http import HTTPError, Reply, Request, Router, json_response

NOT_MANAGER = (
    'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to '
    "connect this node to swarm and try again."
)
NOT_IN_SWARM = "This node is not part of a swarm"
ANY = r"(?:/.*)?"


async def _not_manager(req: Request, **_: str) -> Reply:
    raise HTTPError(503, NOT_MANAGER)


async def _not_in_swarm(req: Request, **_: str) -> Reply:
    raise HTTPError(503, NOT_IN_SWARM)


async def _no_swarm_mode(req: Request, **_: str) -> Reply:
    raise HTTPError(501, "swarm mode is not supported by wharfied")


async def _plugins(req: Request) -> Reply:
    return json_response([])


def register(r: Router) -> None:
    r.add("POST", "/swarm/leave", _not_in_swarm)
    for path in ("/swarm/init", "/swarm/join"):
        r.add("POST", path, _no_swarm_mode)
    for resource in ("swarm", "nodes", "services", "tasks", "secrets", "configs"):
        for method in ("GET", "POST", "DELETE"):
            r.add(method, f"/{resource}{ANY}", _not_manager)
    r.add("GET", "/plugins", _plugins)
