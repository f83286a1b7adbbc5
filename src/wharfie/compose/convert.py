"""A normalized service → the body of POST /containers/create (pure).

Bind mounts go in HostConfig.Binds (so a missing host folder is created, as with
compose's short syntax), named/anonymous volumes and tmpfs in HostConfig.Mounts,
file-based secrets and configs as read-only binds at their targets. The first
network goes in NetworkingConfig (aliases: the service name, the container's
short name and the listed aliases); the others are connected before start.
"""

from __future__ import annotations

from wharfie.compose import plan, syntax
from wharfie.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class Context:
    """What conversion needs beyond the service: project facts and real object names."""

    def __init__(
        self,
        project: dict[str, Any],
        working_dir: str,
        config_files: list[str],
        networks_supported: bool = True,
        container_ids: dict[str, str] | None = None,
    ) -> None:
        self.project = project
        self.name: str = project["name"]
        self.working_dir = working_dir
        self.config_files = config_files
        self.networks_supported = networks_supported
        self.container_ids = container_ids or {}  # service name -> a container id


def labels(
    ctx: Context, service: str, svc: dict[str, Any], number: int, oneoff: bool = False
) -> dict[str, str]:
    deps = ",".join(
        f"{d}:{v['condition']}:{str(v.get('restart', False)).lower()}"
        for d, v in svc.get("depends_on", {}).items()
    )
    return {
        **svc.get("labels", {}),
        plan.PROJECT: ctx.name,
        plan.SERVICE: service,
        plan.NUMBER: str(number),
        plan.ONEOFF: "True" if oneoff else "False",
        plan.CONFIG_HASH: plan.config_hash(svc),
        plan.WORKING_DIR: ctx.working_dir,
        plan.CONFIG_FILES: ",".join(ctx.config_files),
        plan.VERSION: plan.COMPOSE_VERSION,
        plan.DEPENDS_ON: deps,
        plan.IMAGE: svc.get("image", ""),
    }


def create_body(
    ctx: Context,
    service: str,
    svc: dict[str, Any],
    number: int,
    name: str,
    oneoff: bool = False,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "Image": svc["image"],
        "Env": [f"{k}={v}" for k, v in svc.get("environment", {}).items()],
        "Labels": labels(ctx, service, svc, number, oneoff),
        "Tty": bool(svc.get("tty")),
        "OpenStdin": bool(svc.get("stdin_open")),
        "AttachStdin": False,
        "AttachStdout": False,
        "AttachStderr": False,
        "HostConfig": host_config(ctx, svc),
    }
    if svc.get("command") is not None:
        body["Cmd"] = svc["command"]
    if svc.get("entrypoint") is not None:
        body["Entrypoint"] = svc["entrypoint"]
    for key, field in (
        ("working_dir", "WorkingDir"),
        ("user", "User"),
        ("hostname", "Hostname"),
        ("domainname", "Domainname"),
        ("stop_signal", "StopSignal"),
        ("mac_address", "MacAddress"),
    ):
        if svc.get(key):
            body[field] = svc[key]
    if svc.get("stop_grace_period") is not None:
        body["StopTimeout"] = syntax.duration_ns(svc["stop_grace_period"]) // 10**9
    exposed: dict[str, Any] = {
        f"{p['target']}/{p.get('protocol', 'tcp')}": {} for p in svc.get("ports", [])
    }
    for e in svc.get("expose", []):
        port, _, proto = e.partition("/")
        exposed[f"{port}/{proto or 'tcp'}"] = {}
    if exposed:
        body["ExposedPorts"] = exposed
    if "healthcheck" in svc:
        body["Healthcheck"] = healthcheck(svc["healthcheck"])
    networking = endpoints(ctx, service, svc, name)
    if networking:
        body["NetworkingConfig"] = {"EndpointsConfig": networking}
    return body


def healthcheck(h: dict[str, Any]) -> dict[str, Any]:
    if h.get("disable"):
        return {"Test": ["NONE"]}
    out: dict[str, Any] = {}
    if h.get("test"):
        out["Test"] = h["test"]
    for key, field in (
        ("interval", "Interval"),
        ("timeout", "Timeout"),
        ("start_period", "StartPeriod"),
        ("start_interval", "StartInterval"),
    ):
        if h.get(key) is not None:
            out[field] = syntax.duration_ns(h[key])
    if h.get("retries") is not None:
        out["Retries"] = h["retries"]
    return out


def host_config(ctx: Context, svc: dict[str, Any]) -> dict[str, Any]:
    hc: dict[str, Any] = {
        "NetworkMode": network_mode(ctx, svc),
        "RestartPolicy": restart_policy(svc.get("restart", "no")),
        "PortBindings": port_bindings(svc.get("ports", [])),
    }
    binds, mounts = mounts_of(ctx, svc)
    if binds:
        hc["Binds"] = binds
    if mounts:
        hc["Mounts"] = mounts
    if svc.get("tmpfs"):
        hc["Tmpfs"] = {t.partition(":")[0]: t.partition(":")[2] for t in svc["tmpfs"]}
    res = svc.get("resources", {})
    for key, field in (("memory", "Memory"), ("pids", "PidsLimit"), ("shm_size", "ShmSize")):
        if key in res:
            hc[field] = res[key]
    if "cpus" in res:
        hc["NanoCpus"] = int(res["cpus"] * 10**9)
    for key, field in (
        ("init", "Init"),
        ("privileged", "Privileged"),
        ("read_only", "ReadonlyRootfs"),
    ):
        if svc.get(key) is not None:
            hc[field] = svc[key]
    for key, field in (
        ("cap_add", "CapAdd"),
        ("cap_drop", "CapDrop"),
        ("extra_hosts", "ExtraHosts"),
        ("dns", "Dns"),
        ("dns_search", "DnsSearch"),
        ("dns_opt", "DnsOptions"),
        ("security_opt", "SecurityOpt"),
        ("sysctls", "Sysctls"),
    ):
        if svc.get(key):
            hc[field] = svc[key]
    if svc.get("group_add"):
        hc["GroupAdd"] = [str(g) for g in svc["group_add"]]
    for key, field in (("ipc", "IpcMode"), ("pid", "PidMode"), ("runtime", "Runtime")):
        if svc.get(key):
            hc[field] = svc[key]
    if svc.get("ulimits"):
        hc["Ulimits"] = [
            {"Name": k, "Soft": v["soft"], "Hard": v["hard"]} for k, v in svc["ulimits"].items()
        ]
    if svc.get("logging"):
        hc["LogConfig"] = {
            "Type": svc["logging"].get("driver", ""),
            "Config": {k: str(v) for k, v in (svc["logging"].get("options") or {}).items()},
        }
    return hc


def reuse_anonymous_volumes(body: dict[str, Any], old_mounts: list[dict[str, Any]]) -> None:
    """On recreate, the old container's anonymous volumes (declared without a source, or
    the image's VOLUMEs) are mounted again at the same place, as compose does (its -V /
    --renew-anon-volumes turns that off); a place the new body mounts something else at
    is left to the new body."""
    hc = body["HostConfig"]
    taken = {m["Target"] for m in hc.get("Mounts", []) if m.get("Source")}
    taken |= {b.split(":")[1] for b in hc.get("Binds", [])}
    taken |= set(hc.get("Tmpfs", {}))
    anon = {
        m["Destination"]: m["Name"]
        for m in old_mounts
        if m.get("Type") == "volume"
        and m.get("Name")
        and m.get("Destination")
        and len(m["Name"]) == 64
    }  # anonymous volumes are named by 64 hex digits
    mounts = [m for m in hc.get("Mounts", []) if m.get("Source") or m["Target"] not in anon]
    for dest, vol in sorted(anon.items()):
        if dest not in taken:
            mounts.append({"Type": "volume", "Source": vol, "Target": dest, "ReadOnly": False})
    if mounts:
        hc["Mounts"] = mounts


def restart_policy(value: str) -> dict[str, Any]:
    name, _, count = value.partition(":")
    return {"Name": "" if name == "no" else name, "MaximumRetryCount": int(count) if count else 0}


def port_bindings(ports: list[dict[str, Any]]) -> dict[str, list[dict[str, str]]]:
    out: dict[str, list[dict[str, str]]] = {}
    for p in ports:
        key = f"{p['target']}/{p.get('protocol', 'tcp')}"
        out.setdefault(key, []).append(
            {"HostIp": p.get("host_ip", ""), "HostPort": str(p.get("published", ""))}
        )
    return out


def mounts_of(ctx: Context, svc: dict[str, Any]) -> tuple[list[str], list[dict[str, Any]]]:
    binds: list[str] = []
    mounts: list[dict[str, Any]] = []
    volumes = ctx.project.get("volumes", {})
    for v in svc.get("volumes", []):
        ro = bool(v.get("read_only"))
        if v["type"] == "bind":
            opts = ["ro"] if ro else []
            prop = (v.get("bind") or {}).get("propagation")
            if prop:
                opts.append(prop)
            binds.append(":".join([v["source"], v["target"], *([",".join(opts)] if opts else [])]))
        elif v["type"] == "volume":
            src = v.get("source") or ""
            m: dict[str, Any] = {
                "Type": "volume",
                "Source": volumes[src]["name"] if src in volumes else src,
                "Target": v["target"],
                "ReadOnly": ro,
            }
            if (v.get("volume") or {}).get("nocopy"):
                m["VolumeOptions"] = {"NoCopy": True}
            mounts.append(m)
        elif v["type"] == "tmpfs":
            t: dict[str, Any] = {"Type": "tmpfs", "Target": v["target"], "ReadOnly": ro}
            size = (v.get("tmpfs") or {}).get("size")
            if size is not None:
                t["TmpfsOptions"] = {"SizeBytes": syntax.byte_size(size)}
            mounts.append(t)
    for kind in ("secrets", "configs"):
        defined = ctx.project.get(kind, {})
        for ref in svc.get(kind, []):
            spec = defined.get(ref["source"], {})
            if spec.get("file"):
                binds.append(f"{spec['file']}:{ref['target']}:ro")
    return binds, mounts


def inline_files(ctx: Context, svc: dict[str, Any]) -> bytes | None:
    """Secrets and configs given as `content:` or `environment:` as a tar rooted at "/",
    for PUT /containers/{id}/archive?path=/ before start (compose copies them the same way).
    """
    entries = []
    for kind in ("secrets", "configs"):
        defined = ctx.project.get(kind, {})
        for ref in svc.get(kind, []):
            spec = defined.get(ref["source"], {})
            if spec.get("missing"):
                raise InvalidArgument(spec["missing"])
            if not spec.get("file") and spec.get("content") is not None:
                mode = ref.get("mode", 0o444)
                entries.append(
                    (
                        ref["target"],
                        str(spec["content"]).encode(),
                        int(mode, 8) if isinstance(mode, str) else int(mode),
                    )
                )
    if not entries:
        return None
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        dirs: set[str] = set()
        for target, data, mode in entries:
            parts = target.strip("/").split("/")
            for i in range(1, len(parts)):
                d = "/".join(parts[:i])
                if d not in dirs:
                    dirs.add(d)
                    info = tarfile.TarInfo(d)
                    info.type, info.mode = tarfile.DIRTYPE, 0o755
                    tar.addfile(info)
            info = tarfile.TarInfo("/".join(parts))
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def network_mode(ctx: Context, svc: dict[str, Any]) -> str:
    mode = svc.get("network_mode")
    if mode:
        if mode.startswith("service:"):
            target = mode.partition(":")[2]
            return f"container:{ctx.container_ids.get(target, target)}"
        return str(mode)
    nets = list(svc.get("networks", {}))
    if not nets or not ctx.networks_supported:
        return "bridge"
    return str(ctx.project["networks"][primary_network(svc)]["name"])


def primary_network(svc: dict[str, Any]) -> str:
    """The network with the highest priority (then the first by name), as compose."""
    nets = svc.get("networks", {})
    return str(sorted(nets, key=lambda n: (-int((nets[n] or {}).get("priority", 0)), n))[0])


def endpoint(service: str, svc: dict[str, Any], net: str) -> dict[str, Any]:
    cfg = svc["networks"].get(net) or {}
    aliases = [service, *[a for a in cfg.get("aliases", []) if a != service]]
    ep: dict[str, Any] = {"Aliases": aliases}
    ipam = {
        k: cfg[f]
        for k, f in (("IPv4Address", "ipv4_address"), ("IPv6Address", "ipv6_address"))
        if cfg.get(f)
    }
    if ipam:
        ep["IPAMConfig"] = ipam
    return ep


def endpoints(ctx: Context, service: str, svc: dict[str, Any], name: str) -> dict[str, Any]:
    if svc.get("network_mode") or not svc.get("networks") or not ctx.networks_supported:
        return {}
    net = primary_network(svc)
    return {ctx.project["networks"][net]["name"]: endpoint(service, svc, net)}


def secondary_networks(svc: dict[str, Any]) -> list[str]:
    if svc.get("network_mode") or not svc.get("networks"):
        return []
    first = primary_network(svc)
    return [n for n in svc["networks"] if n != first]


def network_body(ctx: Context, key: str, net: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "Name": net["name"],
        "CheckDuplicate": True,
        "Driver": net.get("driver") or "bridge",
        "Internal": bool(net.get("internal")),
        "Attachable": bool(net.get("attachable")),
        "EnableIPv6": bool(net.get("enable_ipv6")),
        "Options": {k: str(v) for k, v in (net.get("driver_opts") or {}).items()},
        "Labels": {
            **net.get("labels", {}),
            plan.PROJECT: ctx.name,
            plan.NETWORK: key,
            plan.VERSION: plan.COMPOSE_VERSION,
        },
    }
    ipam = net.get("ipam")
    if ipam:
        body["IPAM"] = {
            "Driver": ipam.get("driver") or "default",
            "Config": [
                {
                    f: c[k]
                    for k, f in (
                        ("subnet", "Subnet"),
                        ("gateway", "Gateway"),
                        ("ip_range", "IPRange"),
                        ("aux_addresses", "AuxiliaryAddresses"),
                    )
                    if c.get(k)
                }
                for c in ipam.get("config") or []
            ],
            "Options": ipam.get("options") or {},
        }
    return body


def volume_body(ctx: Context, key: str, vol: dict[str, Any]) -> dict[str, Any]:
    return {
        "Name": vol["name"],
        "Driver": vol.get("driver") or "local",
        "DriverOpts": {k: str(v) for k, v in (vol.get("driver_opts") or {}).items()},
        "Labels": {
            **vol.get("labels", {}),
            plan.PROJECT: ctx.name,
            plan.VOLUME: key,
            plan.VERSION: plan.COMPOSE_VERSION,
        },
    }
