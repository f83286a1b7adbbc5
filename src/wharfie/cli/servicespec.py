"""`service create` and `service update` flags -> the ServiceSpec JSON the docker CLI sends
(pure: no daemon; names of secrets/configs/networks are resolved by the caller's lookups).

The shapes were taken from what docker CLI 28 sends to a wharfie cluster (see
tests/cluster/test_swarm_cli.py): an empty `Resources {Limits, Reservations}`, `Placement {}`,
`Init` and `DNSConfig {}` always; `UpdateConfig`, `RollbackConfig` and `RestartPolicy` only
when one of their flags is given; `EndpointSpec {"Mode": "vip"}`.
"""

from __future__ import annotations

import copy

from wharfie.cli.flags import FlagError, Parsed, arity, table
from wharfie.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    Lookup = Callable[[str], str]  # a name -> its id

_COMMON = """
    e env list
    - env-file list
    - restart-condition value
    - restart-delay value
    - restart-max-attempts value
    - restart-window value
    - update-parallelism value
    - update-delay value
    - update-failure-action value
    - update-monitor value
    - update-max-failure-ratio value
    - update-order value
    - rollback-parallelism value
    - rollback-delay value
    - rollback-failure-action value
    - rollback-monitor value
    - rollback-max-failure-ratio value
    - rollback-order value
    - stop-grace-period value
    - stop-signal value
    w workdir value
    u user value
    - hostname value
    - entrypoint value
    - limit-cpu value
    - limit-memory value
    - limit-pids value
    - reserve-cpu value
    - reserve-memory value
    - endpoint-mode value
    d detach bool
    q quiet bool
    - with-registry-auth bool
    - no-resolve-image bool
    - init bool
    t tty bool
    - read-only bool
    - health-cmd value
    - health-interval value
    - health-timeout value
    - health-retries value
    - health-start-period value
    - no-healthcheck bool
    - log-driver value
    - log-opt list
    - replicas value
    - max-replicas value
    - isolation value
"""

CREATE_FLAGS = table(
    _COMMON
    + """
    - name value
    - mode value
    l label list
    - container-label list
    - constraint list
    - placement-pref list
    - mount list
    p publish list
    - network list
    - secret list
    - config list
    - dns list
    - dns-search list
    - dns-option list
    - host list
    - group list
    - cap-add list
    - cap-drop list
    - sysctl list
    """
)

UPDATE_FLAGS = table(
    _COMMON
    + """
    - image value
    - args value
    - force bool
    - rollback bool
    - env-add list
    - env-rm list
    - label-add list
    - label-rm list
    - container-label-add list
    - container-label-rm list
    - constraint-add list
    - constraint-rm list
    - mount-add list
    - mount-rm list
    - publish-add list
    - publish-rm list
    - network-add list
    - network-rm list
    - secret-add list
    - secret-rm list
    - config-add list
    - config-rm list
    - group-add list
    - group-rm list
    - cap-add list
    - cap-drop list
    """
)


def _ns(text: str, flag: str) -> int:
    from wharfie.units import parse_duration

    try:
        return round(parse_duration(text) * 1e9)
    except InvalidArgument:
        raise FlagError(
            f'invalid argument "{text}" for "--{flag}" flag: time: invalid duration "{text}"'
        ) from None


def _uint(text: str, flag: str) -> int:
    if not text.isdigit():
        raise FlagError(
            f'invalid argument "{text}" for "--{flag}" flag: strconv.ParseUint: parsing '
            f'"{text}": invalid syntax'
        )
    return int(text)


def _nano_cpus(text: str, flag: str) -> int:
    try:
        return round(float(text) * 1e9)
    except ValueError:
        raise FlagError(
            f'invalid argument "{text}" for "--{flag}" flag: failed to parse {text} as a '
            "rational number"
        ) from None


def _bytes(text: str, flag: str) -> int:
    from wharfie.units import ram_in_bytes

    try:
        return ram_in_bytes(text)
    except InvalidArgument as exc:
        raise FlagError(f'invalid argument "{text}" for "--{flag}" flag: {exc}') from None


def kv_map(items: list[str]) -> dict[str, str]:
    """`k=v` words -> a map (docker's ConvertKVStringsToMap: a bare `k` maps to "")."""
    out: dict[str, str] = {}
    for item in items:
        key, _, value = item.partition("=")
        out[key] = value
    return out


def normalize_image(image: str) -> str:
    """docker's TagNameOnly + FamiliarString: `busybox` -> `busybox:latest`."""
    if "@" in image:
        return image
    last = image.rsplit("/", 1)[-1]
    return image if ":" in last else image + ":latest"


def parse_mount(text: str) -> dict[str, Any]:
    """`--mount type=bind,source=/a,target=/b,readonly` -> a Mount."""
    m: dict[str, Any] = {"Type": "volume"}
    for field in text.split(","):
        key, eq, value = field.partition("=")
        key = key.strip().lower()
        if key in ("readonly", "ro"):
            m["ReadOnly"] = value.lower() in ("", "1", "true")
        elif not eq:
            raise InvalidArgument(
                f'invalid argument "{text}" for "--mount" flag: invalid field \'{field}\' must '
                "be a key=value pair"
            )
        elif key == "type":
            m["Type"] = value
        elif key in ("source", "src"):
            m["Source"] = value
        elif key in ("target", "destination", "dst"):
            m["Target"] = value
        elif key == "volume-driver":
            m.setdefault("VolumeOptions", {}).setdefault("DriverConfig", {})["Name"] = value
        elif key == "volume-label":
            k, _, v = value.partition("=")
            m.setdefault("VolumeOptions", {}).setdefault("Labels", {})[k] = v
        elif key == "volume-nocopy":
            m.setdefault("VolumeOptions", {})["NoCopy"] = value.lower() in ("", "1", "true")
        elif key == "bind-propagation":
            m.setdefault("BindOptions", {})["Propagation"] = value
        elif key == "tmpfs-size":
            m.setdefault("TmpfsOptions", {})["SizeBytes"] = _bytes(value, "mount")
        elif key == "tmpfs-mode":
            m.setdefault("TmpfsOptions", {})["Mode"] = int(value, 8)
        else:
            raise InvalidArgument(
                f'invalid argument "{text}" for "--mount" flag: unexpected key \'{key}\' in '
                f"'{field}'"
            )
    if not m.get("Target"):
        raise InvalidArgument(f'invalid argument "{text}" for "--mount" flag: target is required')
    return m


def parse_publish(text: str) -> dict[str, Any]:
    """`-p 8080:80/udp` or `-p published=8080,target=80,mode=host` -> a PortConfig."""
    port: dict[str, Any] = {"Protocol": "tcp", "PublishMode": "ingress"}
    if "=" in text:
        for field in text.split(","):
            key, _, value = field.partition("=")
            if key == "target":
                port["TargetPort"] = int(value)
            elif key == "published":
                port["PublishedPort"] = int(value)
            elif key == "protocol":
                port["Protocol"] = value
            elif key == "mode":
                port["PublishMode"] = value
            else:
                raise InvalidArgument(
                    f'invalid argument "{text}" for "-p, --publish" flag: invalid field key {key}'
                )
        if "TargetPort" not in port:
            raise InvalidArgument(
                f'invalid argument "{text}" for "-p, --publish" flag: missing mandatory field '
                '"target"'
            )
        return port
    spec, _, proto = text.partition("/")
    if proto:
        port["Protocol"] = proto
    published, colon, target = spec.rpartition(":")
    if not colon:
        target, published = spec, ""
    if not target.isdigit() or (published and not published.isdigit()):
        raise InvalidArgument(f'invalid argument "{text}" for "-p, --publish" flag: invalid port')
    port["TargetPort"] = int(target)
    if published:
        port["PublishedPort"] = int(published)
    return port


def _file_ref(text: str, kind: str, lookup: Lookup) -> dict[str, Any]:
    """`--secret name` or `--secret source=name,target=t,uid=0,gid=0,mode=0400`."""
    fields = {"source": text} if "=" not in text else kv_map(text.split(","))
    source = fields.get("source") or fields.get("src") or ""
    if not source:
        raise InvalidArgument(f"source is required for {kind}")
    target = fields.get("target") or source
    mode = int(fields["mode"], 8) if "mode" in fields else 0o444
    file = {"Name": target, "UID": fields.get("uid", "0"), "GID": fields.get("gid", "0")}
    file["Mode"] = mode  # type: ignore[assignment]  # a JSON number
    title = kind.capitalize()
    return {"File": file, f"{title}ID": lookup(source), f"{title}Name": source}


def _restart_policy(f: Parsed, current: dict[str, Any] | None) -> dict[str, Any] | None:
    names = ("restart-condition", "restart-delay", "restart-max-attempts", "restart-window")
    if not any(f.has(n) for n in names):
        return current
    out = dict(current or {})
    if f.has("restart-condition"):
        out["Condition"] = f.get("restart-condition")
    if f.has("restart-delay"):
        out["Delay"] = _ns(f.get("restart-delay") or "", "restart-delay")
    if f.has("restart-max-attempts"):
        out["MaxAttempts"] = _uint(f.get("restart-max-attempts") or "", "restart-max-attempts")
    if f.has("restart-window"):
        out["Window"] = _ns(f.get("restart-window") or "", "restart-window")
    return out


def _update_config(f: Parsed, prefix: str, current: dict[str, Any] | None) -> dict[str, Any] | None:
    keys = ("parallelism", "delay", "failure-action", "monitor", "max-failure-ratio", "order")
    if not any(f.has(f"{prefix}-{k}") for k in keys):
        return current
    # swarmkit's defaults (docker's updateConfigFromDefaults) under the flags' changes
    defaults = {"Parallelism": 1, "FailureAction": "pause", "Monitor": 5_000_000_000}
    out = dict(current or {**defaults, "MaxFailureRatio": 0, "Order": "stop-first"})
    if f.has(f"{prefix}-parallelism"):
        out["Parallelism"] = _uint(f.get(f"{prefix}-parallelism") or "", f"{prefix}-parallelism")
    if f.has(f"{prefix}-delay"):
        out["Delay"] = _ns(f.get(f"{prefix}-delay") or "", f"{prefix}-delay")
    if f.has(f"{prefix}-monitor"):
        out["Monitor"] = _ns(f.get(f"{prefix}-monitor") or "", f"{prefix}-monitor")
    if f.has(f"{prefix}-failure-action"):
        action = f.get(f"{prefix}-failure-action") or ""
        allowed = ("pause", "continue", "rollback") if prefix == "update" else ("pause", "continue")
        if action not in allowed:
            raise InvalidArgument(
                f'invalid argument "{action}" for "--{prefix}-failure-action" flag: must be '
                + " or ".join(f'"{a}"' for a in allowed)
            )
        out["FailureAction"] = action
    if f.has(f"{prefix}-max-failure-ratio"):
        out["MaxFailureRatio"] = float(f.get(f"{prefix}-max-failure-ratio") or 0)
    if f.has(f"{prefix}-order"):
        out["Order"] = f.get(f"{prefix}-order")
    return out


def _healthcheck(f: Parsed, current: dict[str, Any] | None) -> dict[str, Any] | None:
    names = ("health-cmd", "health-interval", "health-timeout", "health-retries")
    if f.on("no-healthcheck"):
        if any(f.has(n) for n in (*names, "health-start-period")):
            raise InvalidArgument("--no-healthcheck conflicts with --health-* options")
        return {"Test": ["NONE"]}
    if not any(f.has(n) for n in (*names, "health-start-period")):
        return current
    out = dict(current or {})
    if f.has("health-cmd"):
        out["Test"] = ["CMD-SHELL", f.get("health-cmd")]
    for flag, key in (
        ("health-interval", "Interval"),
        ("health-timeout", "Timeout"),
        ("health-start-period", "StartPeriod"),
    ):
        if f.has(flag):
            out[key] = _ns(f.get(flag) or "", flag)
    if f.has("health-retries"):
        out["Retries"] = int(f.get("health-retries") or 0)
    return out


def _resources(f: Parsed, current: dict[str, Any] | None) -> dict[str, Any]:
    out = copy.deepcopy(current) if current else {}
    limits = out.setdefault("Limits", {})
    reservations = out.setdefault("Reservations", {})
    if f.has("limit-cpu"):
        limits["NanoCPUs"] = _nano_cpus(f.get("limit-cpu") or "", "limit-cpu")
    if f.has("limit-memory"):
        limits["MemoryBytes"] = _bytes(f.get("limit-memory") or "", "limit-memory")
    if f.has("limit-pids"):
        limits["Pids"] = int(f.get("limit-pids") or 0)
    if f.has("reserve-cpu"):
        reservations["NanoCPUs"] = _nano_cpus(f.get("reserve-cpu") or "", "reserve-cpu")
    if f.has("reserve-memory"):
        reservations["MemoryBytes"] = _bytes(f.get("reserve-memory") or "", "reserve-memory")
    return out


def _env(f: Parsed, names: tuple[str, ...]) -> list[str]:
    import os

    from wharfie.cli.createbody import env_list, read_env_file

    env: list[str] = []
    for path in f.all("env-file"):
        env += read_env_file(path, os.environ)
    for name in names:
        env += env_list(f.all(name), os.environ)
    return env


def _mode(f: Parsed) -> dict[str, Any]:
    mode = f.get("mode") or "replicated"
    replicas = f.get("replicas")
    if mode == "replicated":
        return {"Replicated": {"Replicas": _uint(replicas, "replicas") if replicas else 1}}
    if replicas is not None and mode in ("global", "global-job"):
        raise InvalidArgument("replicas can only be used with replicated or replicated-job mode")
    if mode == "global":
        return {"Global": {}}
    if mode == "replicated-job":
        n = _uint(replicas, "replicas") if replicas else 1
        return {"ReplicatedJob": {"MaxConcurrent": n, "TotalCompletions": n}}
    if mode == "global-job":
        return {"GlobalJob": {}}
    raise InvalidArgument(f"Unknown mode: {mode}, only replicated and global supported")


def create_spec(
    f: Parsed, secret_id: Lookup, config_id: Lookup, network_id: Lookup
) -> dict[str, Any]:
    """The ServiceSpec of `service create [OPTIONS] IMAGE [COMMAND] [ARG...]`."""
    if not f.args:
        raise arity("service create", "requires at least 1 argument")
    image, args = f.args[0], f.args[1:]
    cs: dict[str, Any] = {"Image": normalize_image(image)}
    if f.has("entrypoint"):
        import shlex

        cs["Command"] = shlex.split(f.get("entrypoint") or "")
    if args:
        cs["Args"] = args
    if f.has("hostname"):
        cs["Hostname"] = f.get("hostname")
    env = _env(f, ("env",))
    if env:
        cs["Env"] = env
    if f.all("container-label"):
        cs["Labels"] = kv_map(f.all("container-label"))
    for flag, key in (("workdir", "Dir"), ("user", "User"), ("stop-signal", "StopSignal")):
        if f.get(flag):
            cs[key] = f.get(flag)
    if f.all("group"):
        cs["Groups"] = f.all("group")
    if f.on("tty"):
        cs["TTY"] = True
    if f.on("read-only"):
        cs["ReadOnly"] = True
    if f.all("mount"):
        cs["Mounts"] = [parse_mount(m) for m in f.all("mount")]
    cs["Init"] = f.on("init")
    if f.has("stop-grace-period"):
        cs["StopGracePeriod"] = _ns(f.get("stop-grace-period") or "", "stop-grace-period")
    health = _healthcheck(f, None)
    if health:
        cs["Healthcheck"] = health
    dns: dict[str, Any] = {}
    for flag, key in (("dns", "Nameservers"), ("dns-search", "Search"), ("dns-option", "Options")):
        if f.all(flag):
            dns[key] = f.all(flag)
    cs["DNSConfig"] = dns
    if f.all("host"):
        cs["Hosts"] = [_swarm_host(h) for h in f.all("host")]
    if f.all("secret"):
        cs["Secrets"] = [_file_ref(s, "secret", secret_id) for s in f.all("secret")]
    if f.all("config"):
        cs["Configs"] = [_file_ref(c, "config", config_id) for c in f.all("config")]
    if f.get("isolation"):
        cs["Isolation"] = f.get("isolation")
    if f.all("sysctl"):
        cs["Sysctls"] = kv_map(f.all("sysctl"))
    if f.all("cap-add"):
        cs["CapabilityAdd"] = f.all("cap-add")
    if f.all("cap-drop"):
        cs["CapabilityDrop"] = f.all("cap-drop")

    task: dict[str, Any] = {"ContainerSpec": cs, "Resources": _resources(f, None)}
    restart = _restart_policy(f, None)
    if restart:
        task["RestartPolicy"] = restart
    placement: dict[str, Any] = {}
    if f.all("constraint"):
        placement["Constraints"] = f.all("constraint")
    if f.all("placement-pref"):
        placement["Preferences"] = [_preference(p) for p in f.all("placement-pref")]
    if f.has("max-replicas"):
        placement["MaxReplicas"] = _uint(f.get("max-replicas") or "", "max-replicas")
    task["Placement"] = placement
    if f.all("network"):
        task["Networks"] = [_network(n, network_id) for n in f.all("network")]
    if f.get("log-driver"):
        task["LogDriver"] = {"Name": f.get("log-driver"), "Options": kv_map(f.all("log-opt"))}
    task["ForceUpdate"] = 0

    spec: dict[str, Any] = {
        "Name": f.get("name") or "",
        "Labels": kv_map(f.all("label")),
        "TaskTemplate": task,
        "Mode": _mode(f),
    }
    for key, conf in (
        ("UpdateConfig", _update_config(f, "update", None)),
        ("RollbackConfig", _update_config(f, "rollback", None)),
    ):
        if conf is not None:
            spec[key] = conf
    endpoint: dict[str, Any] = {"Mode": (f.get("endpoint-mode") or "vip").lower()}
    if f.all("publish"):
        endpoint["Ports"] = [parse_publish(p) for p in f.all("publish")]
    spec["EndpointSpec"] = endpoint
    return spec


def _swarm_host(text: str) -> str:
    """`--host name:ip` -> swarm's "ip name" form."""
    name, _, ip = text.partition(":")
    return f"{ip} {name}"


def _preference(text: str) -> dict[str, Any]:
    kind, _, value = text.partition("=")
    if kind != "spread":
        raise InvalidArgument(
            f'invalid argument "{text}" for "--placement-pref" flag: unsupported placement '
            f"preference {kind} (only spread is supported)"
        )
    return {"Spread": {"SpreadDescriptor": value}}


def _network(text: str, network_id: Lookup) -> dict[str, Any]:
    fields = {"name": text} if "=" not in text else kv_map(text.split(","))
    out: dict[str, Any] = {"Target": network_id(fields.get("name") or fields.get("target", ""))}
    if fields.get("alias"):
        out["Aliases"] = [fields["alias"]]
    return out


def _remove_keys(items: list[str], keys: list[str]) -> list[str]:
    """Drop `KEY` and `KEY=...` entries (env-rm, container labels by key)."""
    gone = set(keys)
    return [i for i in items if i.partition("=")[0] not in gone]


def _merge_env(current: list[str], add: list[str], rm: list[str]) -> list[str]:
    out = _remove_keys(current, rm)
    for item in add:
        key = item.partition("=")[0]
        out = [e for e in out if e.partition("=")[0] != key]
        out.append(item)
    return out


def update_spec(
    spec: dict[str, Any],
    f: Parsed,
    secret_id: Lookup,
    config_id: Lookup,
    network_id: Lookup,
) -> dict[str, Any]:
    """The spec `service update` sends: the current one with the flags' changes."""
    spec = copy.deepcopy(spec)
    task = spec.setdefault("TaskTemplate", {})
    cs = task.setdefault("ContainerSpec", {})
    if f.has("image"):
        cs["Image"] = normalize_image(f.get("image") or "")
    if f.has("args"):
        import shlex

        cs["Args"] = shlex.split(f.get("args") or "")
    if f.has("entrypoint"):
        import shlex

        cs["Command"] = shlex.split(f.get("entrypoint") or "")
    for flag, key in (
        ("workdir", "Dir"),
        ("user", "User"),
        ("hostname", "Hostname"),
        ("stop-signal", "StopSignal"),
    ):
        if f.has(flag):
            cs[key] = f.get(flag)
    if f.has("env-add") or f.has("env-rm") or f.has("env") or f.has("env-file"):
        env = _merge_env(cs.get("Env") or [], _env(f, ("env", "env-add")), f.all("env-rm"))
        cs["Env"] = env
    if f.has("container-label-add") or f.has("container-label-rm"):
        labels = dict(cs.get("Labels") or {})
        for key in f.all("container-label-rm"):
            labels.pop(key, None)
        labels.update(kv_map(f.all("container-label-add")))
        cs["Labels"] = labels
    if f.has("label-add") or f.has("label-rm"):
        labels = dict(spec.get("Labels") or {})
        for key in f.all("label-rm"):
            labels.pop(key, None)
        labels.update(kv_map(f.all("label-add")))
        spec["Labels"] = labels
    if f.has("group-add") or f.has("group-rm"):
        groups = [g for g in cs.get("Groups") or [] if g not in f.all("group-rm")]
        cs["Groups"] = groups + [g for g in f.all("group-add") if g not in groups]
    if f.has("cap-add") or f.has("cap-drop"):
        cs["CapabilityAdd"] = sorted(set(cs.get("CapabilityAdd") or []) | set(f.all("cap-add")))
        cs["CapabilityDrop"] = sorted(set(cs.get("CapabilityDrop") or []) | set(f.all("cap-drop")))
    if f.has("mount-add") or f.has("mount-rm"):
        mounts = [m for m in cs.get("Mounts") or [] if m.get("Target") not in f.all("mount-rm")]
        for m in (parse_mount(x) for x in f.all("mount-add")):
            mounts = [x for x in mounts if x.get("Target") != m["Target"]] + [m]
        cs["Mounts"] = mounts
    for kind, lookup in (("secret", secret_id), ("config", config_id)):
        key, name_key = f"{kind.capitalize()}s", f"{kind.capitalize()}Name"
        if f.has(f"{kind}-add") or f.has(f"{kind}-rm"):
            refs = [r for r in cs.get(key) or [] if r.get(name_key) not in f.all(f"{kind}-rm")]
            refs += [_file_ref(x, kind, lookup) for x in f.all(f"{kind}-add")]
            cs[key] = refs
    if f.has("init"):
        cs["Init"] = f.on("init")
    if f.has("tty"):
        cs["TTY"] = f.on("tty")
    if f.has("read-only"):
        cs["ReadOnly"] = f.on("read-only")
    if f.has("stop-grace-period"):
        cs["StopGracePeriod"] = _ns(f.get("stop-grace-period") or "", "stop-grace-period")
    health = _healthcheck(f, cs.get("Healthcheck"))
    if health is not None:
        cs["Healthcheck"] = health
    if any(f.has(n) for n in ("limit-cpu", "limit-memory", "limit-pids")) or any(
        f.has(n) for n in ("reserve-cpu", "reserve-memory")
    ):
        task["Resources"] = _resources(f, task.get("Resources"))
    restart = _restart_policy(f, task.get("RestartPolicy"))
    if restart is not None:
        task["RestartPolicy"] = restart
    if f.has("constraint-add") or f.has("constraint-rm"):
        placement = task.setdefault("Placement", {})
        cons = [c for c in placement.get("Constraints") or [] if c not in f.all("constraint-rm")]
        placement["Constraints"] = cons + [c for c in f.all("constraint-add") if c not in cons]
    if f.has("max-replicas"):
        task.setdefault("Placement", {})["MaxReplicas"] = _uint(
            f.get("max-replicas") or "", "max-replicas"
        )
    if f.has("network-add") or f.has("network-rm"):
        gone = {network_id(n) for n in f.all("network-rm")}
        nets = [n for n in task.get("Networks") or [] if n.get("Target") not in gone]
        task["Networks"] = nets + [_network(n, network_id) for n in f.all("network-add")]
    if f.has("log-driver"):
        task["LogDriver"] = {"Name": f.get("log-driver"), "Options": kv_map(f.all("log-opt"))}
    if f.on("force"):
        task["ForceUpdate"] = int(task.get("ForceUpdate") or 0) + 1
    if f.has("replicas"):
        mode = spec.get("Mode") or {}
        if "Replicated" in mode:
            mode["Replicated"]["Replicas"] = _uint(f.get("replicas") or "", "replicas")
        elif "ReplicatedJob" in mode:
            mode["ReplicatedJob"]["TotalCompletions"] = _uint(f.get("replicas") or "", "replicas")
        else:
            raise InvalidArgument(
                "replicas can only be used with replicated or replicated-job mode"
            )
    for key, prefix in (("UpdateConfig", "update"), ("RollbackConfig", "rollback")):
        conf = _update_config(f, prefix, spec.get(key))
        if conf is not None:
            spec[key] = conf
    if f.has("endpoint-mode") or f.has("publish-add") or f.has("publish-rm"):
        endpoint = spec.setdefault("EndpointSpec", {"Mode": "vip"})
        if f.has("endpoint-mode"):
            endpoint["Mode"] = (f.get("endpoint-mode") or "vip").lower()
        rm = {x.partition("/")[0].rpartition(":")[2] for x in f.all("publish-rm")}
        ports = [p for p in endpoint.get("Ports") or [] if str(p.get("TargetPort")) not in rm]
        ports += [parse_publish(p) for p in f.all("publish-add")]
        endpoint["Ports"] = ports
    return spec
