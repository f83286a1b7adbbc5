"""`wharfie swarm init|join|leave|update|join-token|unlock|unlock-key`, with docker's flags,
requests and messages."""

from __future__ import annotations

import sys

from wharfie.cli.flags import arity, parse, table
from wharfie.errors import InvalidArgument, WharfieError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from wharfie.cli.context import Context
    from wharfie.client.api import Client


class PlainError(WharfieError):
    plain = True


_SPEC_FLAGS = """
    - task-history-limit value
    - dispatcher-heartbeat value
    - cert-expiry value
    - external-ca list
    - max-snapshots value
    - snapshot-interval value
    - autolock bool
"""

INIT_FLAGS = table(
    _SPEC_FLAGS
    + """
    - listen-addr value
    - advertise-addr value
    - data-path-addr value
    - data-path-port value
    - force-new-cluster bool
    - availability value
    - default-addr-pool list
    - default-addr-pool-mask-length value
"""
)


def spec_changes(f: Any, spec: dict[str, Any]) -> dict[str, Any]:
    """The ClusterSpec fields the swarm flags set (docker's swarmOptions.mergeSwarmSpec)."""
    from wharfie.cli.servicespec import _ns, _uint

    if f.has("task-history-limit"):
        limit = int(f.get("task-history-limit") or 0)
        spec.setdefault("Orchestration", {})["TaskHistoryRetentionLimit"] = limit
    if f.has("dispatcher-heartbeat"):
        hb = _ns(f.get("dispatcher-heartbeat") or "", "dispatcher-heartbeat")
        spec.setdefault("Dispatcher", {})["HeartbeatPeriod"] = hb
    if f.has("cert-expiry"):
        exp = _ns(f.get("cert-expiry") or "", "cert-expiry")
        spec.setdefault("CAConfig", {})["NodeCertExpiry"] = exp
    if f.has("max-snapshots"):
        n = _uint(f.get("max-snapshots") or "", "max-snapshots")
        spec.setdefault("Raft", {})["KeepOldSnapshots"] = n
    if f.has("snapshot-interval"):
        n = _uint(f.get("snapshot-interval") or "", "snapshot-interval")
        spec.setdefault("Raft", {})["SnapshotInterval"] = n
    if f.has("autolock"):
        spec.setdefault("EncryptionConfig", {})["AutoLockManagers"] = f.on("autolock")
    return spec


def cmd_init(ctx: Context, argv: list[str]) -> int:
    f = parse(argv, INIT_FLAGS)
    if f.args:
        raise arity("swarm init", "accepts no arguments")
    client = ctx.client
    body: dict[str, Any] = {
        "ListenAddr": f.get("listen-addr") or "0.0.0.0:2377",
        "AdvertiseAddr": f.get("advertise-addr") or "",
        "DataPathAddr": f.get("data-path-addr") or "",
        "DataPathPort": int(f.get("data-path-port") or 0),
        "ForceNewCluster": f.on("force-new-cluster"),
        "Spec": spec_changes(f, {}),
        "AutoLockManagers": f.on("autolock"),
        "Availability": f.get("availability") or "active",
        "DefaultAddrPool": f.all("default-addr-pool") or None,
        "SubnetSize": int(f.get("default-addr-pool-mask-length") or 24),
    }
    node_id = client.post_json("/swarm/init", body)
    print(f"Swarm initialized: current node ({node_id}) is now a manager.\n")
    _print_join_command(client, "worker")
    print(
        "To add a manager to this swarm, run 'wharfie swarm join-token manager' and follow "
        "the instructions.\n"
    )
    if f.on("autolock"):
        key = client.get_json("/swarm/unlockkey").get("UnlockKey") or ""
        _print_unlock_command(key)
    return 0


def _print_join_command(client: Client, role: str) -> None:
    swarm = client.get_json("/swarm")
    info = client.get_json("/info").get("Swarm") or {}
    node = client.get_json(f"/nodes/{info.get('NodeID')}")
    token = (swarm.get("JoinTokens") or {}).get("Worker" if role == "worker" else "Manager")
    addr = (node.get("ManagerStatus") or {}).get("Addr") or ""
    print(f"To add a {role} to this swarm, run the following command:\n")
    print(f"    wharfie swarm join --token {token} {addr}\n")


def _print_unlock_command(key: str) -> None:
    if not key:
        return
    print(
        "To unlock a swarm manager after it restarts, run the `wharfie swarm unlock`\n"
        "command and provide the following key:\n\n"
        f"    {key}\n\n"
        "Remember to store this key in a password manager, since without it you\n"
        "will not be able to restart the manager.\n"
    )


JOIN_FLAGS = table(
    """
    - token value
    - listen-addr value
    - advertise-addr value
    - data-path-addr value
    - availability value
"""
)


def cmd_join(ctx: Context, argv: list[str]) -> int:
    f = parse(argv, JOIN_FLAGS)
    if len(f.args) != 1:
        raise arity("swarm join", "requires 1 argument")
    client = ctx.client
    body = {
        "ListenAddr": f.get("listen-addr") or "0.0.0.0:2377",
        "AdvertiseAddr": f.get("advertise-addr") or "",
        "DataPathAddr": f.get("data-path-addr") or "",
        "RemoteAddrs": [f.args[0]],
        "JoinToken": f.get("token") or "",
        "Availability": f.get("availability") or "active",
    }
    client.request("POST", "/swarm/join", body=body)
    info = client.get_json("/info").get("Swarm") or {}
    if info.get("ControlAvailable"):
        print("This node joined a swarm as a manager.")
    else:
        print("This node joined a swarm as a worker.")
    return 0


def cmd_leave(ctx: Context, argv: list[str]) -> int:
    f = parse(argv, table("f force bool"))
    if f.args:
        raise arity("swarm leave", "accepts no arguments")
    ctx.client.request("POST", "/swarm/leave", query={"force": f.on("force") or None})
    print("Node left the swarm.")
    return 0


def cmd_update(ctx: Context, argv: list[str]) -> int:
    f = parse(argv, table(_SPEC_FLAGS))
    if f.args:
        raise arity("swarm update", "accepts no arguments")
    client = ctx.client
    swarm = client.get_json("/swarm")
    spec = spec_changes(f, swarm.get("Spec") or {})
    version = swarm["Version"]["Index"]
    client.request("POST", "/swarm/update", query={"version": version}, body=spec)
    print("Swarm updated.")
    if f.on("autolock"):
        key = client.get_json("/swarm/unlockkey").get("UnlockKey") or ""
        _print_unlock_command(key)
    return 0


def cmd_join_token(ctx: Context, argv: list[str]) -> int:
    f = parse(argv, table("q quiet bool\n- rotate bool"))
    if len(f.args) != 1:
        raise arity("swarm join-token", "requires 1 argument")
    role = f.args[0]
    if role not in ("worker", "manager"):
        raise InvalidArgument("unknown role " + role)
    client = ctx.client
    if f.on("rotate"):
        swarm = client.get_json("/swarm")
        query = {
            "version": swarm["Version"]["Index"],
            "rotateWorkerToken": role == "worker",
            "rotateManagerToken": role == "manager",
        }
        client.request("POST", "/swarm/update", query=query, body=swarm.get("Spec") or {})
        if not f.on("quiet"):
            print(f"Successfully rotated {role} join token.\n")
    if f.on("quiet"):
        swarm = client.get_json("/swarm")
        print((swarm.get("JoinTokens") or {}).get("Worker" if role == "worker" else "Manager"))
        return 0
    _print_join_command(client, role)
    return 0


def cmd_unlock_key(ctx: Context, argv: list[str]) -> int:
    f = parse(argv, table("q quiet bool\n- rotate bool"))
    if f.args:
        raise arity("swarm unlock-key", "accepts no arguments")
    client = ctx.client
    if f.on("rotate"):
        swarm = client.get_json("/swarm")
        spec = swarm.get("Spec") or {}
        if not (spec.get("EncryptionConfig") or {}).get("AutoLockManagers"):
            raise PlainError("cannot rotate because autolock is not turned on")
        query = {"version": swarm["Version"]["Index"], "rotateManagerUnlockKey": True}
        client.request("POST", "/swarm/update", query=query, body=spec)
        if not f.on("quiet"):
            print("Successfully rotated manager unlock key.\n")
    key = client.get_json("/swarm/unlockkey").get("UnlockKey") or ""
    if not key:
        raise PlainError("no unlock key is set")
    if f.on("quiet"):
        print(key)
        return 0
    _print_unlock_command(key)
    return 0


def cmd_unlock(ctx: Context, argv: list[str]) -> int:
    f = parse(argv, table(""))
    if f.args:
        raise arity("swarm unlock", "accepts no arguments")
    client = ctx.client
    state = (client.get_json("/info").get("Swarm") or {}).get("LocalNodeState")
    if state == "inactive":
        raise PlainError("Error: This node is not part of a swarm")
    if state != "locked":
        raise PlainError("Error: swarm is not locked")
    if sys.stdin.isatty():
        import getpass

        key = getpass.getpass("Enter unlock key: ")
    else:
        key = sys.stdin.readline()
    client.request("POST", "/swarm/unlock", body={"UnlockKey": key.strip()})
    return 0
