"""The flags of run/create and the create body docker's CLI builds from them.

Every field is present, with null/{} for empty ones, in the shapes of
docker-api-notes §2.1 (CLI 28.2.2 traces). Pure: the environment and the
terminal size are parameters.
"""

from __future__ import annotations

from wharfie.cli.flags import table
from wharfie.cli.units import go_duration, ram_in_bytes
from wharfie.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from wharfie.cli.flags import Parsed

RUN_FLAGS = table(
    """
    d detach bool
    i interactive bool
    t tty bool
    - rm bool
    - name value
    e env list
    - env-file list
    v volume list
    - mount list
    - volumes-from list
    - volume-driver value
    - tmpfs list
    w workdir value
    u user value
    - entrypoint value
    l label list
    - label-file list
    h hostname value
    - domainname value
    m memory value
    - memory-swap value
    - memory-reservation value
    - cpus value
    c cpu-shares value
    - cpuset-cpus value
    - pids-limit value
    - ulimit list
    - cap-add list
    - cap-drop list
    - privileged bool
    - read-only bool
    - security-opt list
    - restart value
    - init bool
    - network value net
    - network-alias list
    - ip value
    - log-driver value
    - log-opt list
    - stop-signal value
    - stop-timeout value
    - health-cmd value
    - health-interval value
    - health-timeout value
    - health-retries value
    - health-start-period value
    - no-healthcheck bool
    - runtime value
    - isolation value
    - detach-keys value
    - sig-proxy bool
    p publish list
    P publish-all bool
    a attach list
    - add-host list
    - dns list
    - dns-option list
    - dns-search list
    - group-add list
    - pid value
    - ipc value
    - uts value
    - userns value
    - cgroupns value
    - cgroup-parent value
    - shm-size value
    - sysctl list
    - device list
    - oom-kill-disable bool
    - oom-score-adj value
    - expose list
    - platform value
    - pull value
    q quiet bool
    - cidfile value
    - annotation list
    """
)


def _kv_map(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        k, _, v = item.partition("=")
        out[k] = v
    return out


def read_env_file(path: str, environ: Mapping[str, str]) -> list[str]:
    """docker's --env-file: KEY=VALUE lines, `#` comments, bare KEY taken from our env."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError as exc:
        reason = exc.strerror.lower() if exc.strerror else str(exc)
        raise InvalidArgument(f"open {path}: {reason}") from exc
    out = []
    for raw in lines:
        line = raw.lstrip()
        if not line or line.startswith("#"):
            continue
        out.extend(env_list([line], environ))
    return out


def env_list(items: list[str], environ: Mapping[str, str]) -> list[str]:
    """-e K=V stays; -e K takes our K (dropped when unset), as docker does."""
    out = []
    for item in items:
        if "=" in item:
            if item.startswith("="):
                raise InvalidArgument(f"invalid environment variable: {item}")
            out.append(item)
        elif item in environ:
            out.append(f"{item}={environ[item]}")
    return out


def parse_ports(specs: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """-p [ip:][hostport:]containerport[/proto] -> (ExposedPorts, PortBindings)."""
    exposed: dict[str, Any] = {}
    bindings: dict[str, Any] = {}
    for spec in specs:
        body, _, proto = spec.partition("/")
        proto = proto or "tcp"
        if body.startswith("["):  # [::1]:8080:80
            close = body.index("]")
            ip, rest = body[1:close], body[close + 2 :]
            parts = [ip, *rest.split(":")]
        else:
            parts = body.split(":")
        if len(parts) == 1:
            ip, host, cport = "", "", parts[0]
        elif len(parts) == 2:
            ip, host, cport = "", parts[0], parts[1]
        elif len(parts) == 3:
            ip, host, cport = parts
        else:
            raise InvalidArgument(f"invalid port format for --publish: {spec}")
        if not cport or not cport.replace("-", "").isdigit():
            raise InvalidArgument(f"invalid containerPort: {cport}")
        key = f"{cport}/{proto}"
        exposed[key] = {}
        bindings.setdefault(key, []).append({"HostIp": ip, "HostPort": host})
    return exposed, bindings


def _parse_bool(key: str, value: str) -> bool:
    low = value.lower()
    if low in ("1", "t", "true"):
        return True
    if low in ("0", "f", "false"):
        return False
    raise InvalidArgument(f"invalid value for {key}: {value}")


def parse_mount(spec: str) -> dict[str, Any]:
    """--mount as docker's CLI (opts/mount.go) reads it: type=bind|volume|tmpfs,
    source=,target=,readonly, bind-propagation, bind-nonrecursive, volume-nocopy,
    volume-label, volume-driver, volume-opt, tmpfs-size, tmpfs-mode."""
    import csv

    m: dict[str, Any] = {"Type": "volume"}
    vol: dict[str, Any] = {}
    bind: dict[str, Any] = {}
    tmpfs: dict[str, Any] = {}
    for field in next(csv.reader([spec]), []):
        key, eq, value = field.partition("=")
        if not eq:
            if key in ("readonly", "ro"):
                m["ReadOnly"] = True
            elif key == "volume-nocopy":
                vol["NoCopy"] = True
            elif key == "bind-nonrecursive":
                bind["NonRecursive"] = True
            else:
                raise InvalidArgument(f"invalid field '{field}' must be a key=value pair")
            continue
        if key == "type":
            m["Type"] = value.lower()
        elif key in ("source", "src"):
            m["Source"] = value
        elif key in ("target", "destination", "dst"):
            m["Target"] = value
        elif key in ("readonly", "ro"):
            m["ReadOnly"] = _parse_bool(key, value)
        elif key == "consistency":
            m["Consistency"] = value.lower()
        elif key == "bind-propagation":
            bind["Propagation"] = value.lower()
        elif key == "bind-nonrecursive":
            bind["NonRecursive"] = _parse_bool(key, value)
        elif key == "volume-nocopy":
            vol["NoCopy"] = _parse_bool(key, value)
        elif key == "volume-label":
            _set_kv(vol.setdefault("Labels", {}), value)
        elif key == "volume-driver":
            vol.setdefault("DriverConfig", {})["Name"] = value
        elif key == "volume-opt":
            _set_kv(vol.setdefault("DriverConfig", {}).setdefault("Options", {}), value)
        elif key == "tmpfs-size":
            try:
                tmpfs["SizeBytes"] = ram_in_bytes(value)
            except InvalidArgument as exc:
                raise InvalidArgument(f"invalid value for {key}: {value}") from exc
        elif key == "tmpfs-mode":
            try:
                tmpfs["Mode"] = int(value, 8)
            except ValueError as exc:
                raise InvalidArgument(f"invalid value for {key}: {value}") from exc
        else:
            raise InvalidArgument(f"unexpected key '{key}' in '{field}'")
    if not m["Type"]:
        raise InvalidArgument("type is required")
    if "Target" not in m or not m["Target"]:
        raise InvalidArgument("target is required")
    for kind, opts, key in (("volume", vol, "VolumeOptions"), ("bind", bind, "BindOptions"),
                            ("tmpfs", tmpfs, "TmpfsOptions")):  # fmt: skip
        if opts and m["Type"] != kind:
            raise InvalidArgument(f"cannot mix '{kind}-*' options with mount type '{m['Type']}'")
        if opts:
            m[key] = opts
    return m


def _set_kv(target: dict[str, str], value: str) -> None:
    key, _, val = value.partition("=")
    if key:
        target[key] = val


def parse_ulimit(spec: str) -> dict[str, Any]:
    name, _, limits = spec.partition("=")
    soft, _, hard = limits.partition(":")
    try:
        s = int(soft)
        h = int(hard) if hard else s
    except ValueError:
        raise InvalidArgument(f"invalid ulimit argument: {spec}") from None
    return {"Name": name, "Hard": h, "Soft": s}


def parse_restart(spec: str) -> dict[str, Any]:
    name, _, count = spec.partition(":")
    if name not in ("no", "always", "on-failure", "unless-stopped"):
        raise InvalidArgument(f"invalid restart policy: unknown policy '{name}'")
    if count and name != "on-failure":
        raise InvalidArgument(
            "invalid restart policy: maximum retry count can only be used with 'on-failure'"
        )
    return {"Name": name, "MaximumRetryCount": int(count) if count else 0}


def nano_cpus(text: str) -> int:
    try:
        return round(float(text) * 1e9)
    except ValueError:
        raise InvalidArgument(f'invalid argument "{text}" for "--cpus" flag') from None


def _ns(text: str | None) -> int:
    return int(go_duration(text) * 1e9) if text else 0


def _endpoint() -> dict[str, Any]:
    return {
        "IPAMConfig": None,
        "Links": None,
        "Aliases": None,
        "MacAddress": "",
        "DriverOpts": None,
        "GwPriority": 0,
        "NetworkID": "",
        "EndpointID": "",
        "Gateway": "",
        "IPAddress": "",
        "IPPrefixLen": 0,
        "IPv6Gateway": "",
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "DNSNames": None,
    }


def _volumes(specs: list[str]) -> tuple[list[str] | None, dict[str, Any]]:
    """-v: "/data" is an anonymous volume (Config.Volumes), anything else a bind."""
    binds: list[str] = []
    anon: dict[str, Any] = {}
    for spec in specs:
        if ":" in spec:
            binds.append(spec)
        else:
            anon[spec] = {}
    return binds or None, anon


def _healthcheck(f: Parsed) -> dict[str, Any] | None:
    if f.on("no-healthcheck"):
        return {"Test": ["NONE"]}
    keys = ["health-cmd", "health-interval", "health-timeout", "health-retries"]
    keys.append("health-start-period")
    if not any(f.has(k) for k in keys):
        return None
    cmd = f.get("health-cmd")
    return {
        "Test": ["CMD-SHELL", cmd] if cmd else None,
        "Interval": _ns(f.get("health-interval")),
        "Timeout": _ns(f.get("health-timeout")),
        "StartPeriod": _ns(f.get("health-start-period")),
        "Retries": int(f.get("health-retries") or 0),
    }


def build(
    f: Parsed,
    image: str,
    cmd: list[str],
    environ: Mapping[str, str],
    console: tuple[int, int] = (0, 0),
) -> dict[str, Any]:
    """The POST /containers/create body for `run`/`create` flags `f`."""
    detach = f.on("detach")
    interactive = f.on("interactive")
    attach = [a.lower() for a in f.all("attach")]
    env: list[str] = []
    for path in f.all("env-file"):
        env.extend(read_env_file(path, environ))
    env.extend(env_list(f.all("env"), environ))
    labels = _kv_map(f.all("label"))
    exposed, bindings = parse_ports(f.all("publish"))
    for e in f.all("expose"):
        exposed[e if "/" in e else f"{e}/tcp"] = {}
    binds, anon = _volumes(f.all("volume"))
    entrypoint: list[str] | None = None
    if f.has("entrypoint"):
        entrypoint = [f.get("entrypoint") or ""]
    network = f.get("network") or "default"
    endpoint = _endpoint()
    if f.all("network-alias"):
        endpoint["Aliases"] = f.all("network-alias")
    if f.get("ip"):
        endpoint["IPAMConfig"] = {"IPv4Address": f.get("ip")}
    log_driver = f.get("log-driver") or ""
    mounts = [parse_mount(m) for m in f.all("mount")]
    tmpfs = {}
    for t in f.all("tmpfs"):
        path, _, opts = t.partition(":")
        tmpfs[path] = opts
    restart = parse_restart(f.get("restart") or "no")
    if f.on("rm") and restart["Name"] != "no":
        raise InvalidArgument("conflicting options: cannot specify both --restart and --rm")
    memory_swap = f.get("memory-swap")
    pids = f.get("pids-limit")
    config: dict[str, Any] = {
        "Hostname": f.get("hostname") or "",
        "Domainname": f.get("domainname") or "",
        "User": f.get("user") or "",
        "AttachStdin": interactive if not attach else "stdin" in attach,
        "AttachStdout": (not detach) if not attach else "stdout" in attach,
        "AttachStderr": (not detach) if not attach else "stderr" in attach,
    }
    if exposed:
        config["ExposedPorts"] = exposed
    config |= {
        "Tty": f.on("tty"),
        "OpenStdin": interactive,
        "StdinOnce": interactive and not detach,
        "Env": env,
        "Cmd": cmd or None,
    }
    health = _healthcheck(f)
    if health is not None:
        config["Healthcheck"] = health
    config |= {
        "Image": image,
        "Volumes": anon,
        "WorkingDir": f.get("workdir") or "",
        "Entrypoint": entrypoint,
        "OnBuild": None,
        "Labels": labels,
    }
    if f.has("stop-signal"):
        config["StopSignal"] = f.get("stop-signal")
    if f.has("stop-timeout"):
        config["StopTimeout"] = int(f.get("stop-timeout") or 0)
    host: dict[str, Any] = {
        "Binds": binds,
        "ContainerIDFile": f.get("cidfile") or "",
        "LogConfig": {"Type": log_driver, "Config": _kv_map(f.all("log-opt"))},
        "NetworkMode": network,
        "PortBindings": bindings,
        "RestartPolicy": restart,
        "AutoRemove": f.on("rm"),
        "VolumeDriver": f.get("volume-driver") or "",
        "VolumesFrom": f.all("volumes-from") or None,
        "ConsoleSize": [console[0], console[1]],
    }
    if f.all("annotation"):
        host["Annotations"] = _kv_map(f.all("annotation"))
    host |= {
        "CapAdd": f.all("cap-add") or None,
        "CapDrop": f.all("cap-drop") or None,
        "CgroupnsMode": f.get("cgroupns") or "",
        "Dns": f.all("dns"),
        "DnsOptions": f.all("dns-option"),
        "DnsSearch": f.all("dns-search"),
        "ExtraHosts": f.all("add-host") or None,
        "GroupAdd": f.all("group-add") or None,
        "IpcMode": f.get("ipc") or "",
        "Cgroup": "",
        "Links": None,
        "OomScoreAdj": int(f.get("oom-score-adj") or 0),
        "PidMode": f.get("pid") or "",
        "Privileged": f.on("privileged"),
        "PublishAllPorts": f.on("publish-all"),
        "ReadonlyRootfs": f.on("read-only"),
        "SecurityOpt": f.all("security-opt") or None,
    }
    if tmpfs:
        host["Tmpfs"] = tmpfs
    host |= {"UTSMode": f.get("uts") or "", "UsernsMode": f.get("userns") or ""}
    host["ShmSize"] = ram_in_bytes(f.get("shm-size") or "0")
    if f.all("sysctl"):
        host["Sysctls"] = _kv_map(f.all("sysctl"))
    if f.has("runtime"):
        host["Runtime"] = f.get("runtime")
    isolation = f.get("isolation") or ""
    if isolation == "vm":  # wharfie's VM isolation is a runtime (docs/vm.md)
        host["Runtime"] = "wharfie-vm"
    elif isolation not in ("", "default"):
        raise InvalidArgument(f'invalid isolation "{isolation}": use "vm" or "default"')
    host |= {
        "Isolation": "",
        "CpuShares": int(f.get("cpu-shares") or 0),
        "Memory": ram_in_bytes(f.get("memory") or "0"),
        "NanoCpus": nano_cpus(f.get("cpus") or "0"),
        "CgroupParent": f.get("cgroup-parent") or "",
        "BlkioWeight": 0,
        "BlkioWeightDevice": [],
        "BlkioDeviceReadBps": [],
        "BlkioDeviceWriteBps": [],
        "BlkioDeviceReadIOps": [],
        "BlkioDeviceWriteIOps": [],
        "CpuPeriod": 0,
        "CpuQuota": 0,
        "CpuRealtimePeriod": 0,
        "CpuRealtimeRuntime": 0,
        "CpusetCpus": f.get("cpuset-cpus") or "",
        "CpusetMems": "",
        "Devices": [_device(d) for d in f.all("device")],
        "DeviceCgroupRules": None,
        "DeviceRequests": None,
        "MemoryReservation": ram_in_bytes(f.get("memory-reservation") or "0"),
        "MemorySwap": -1 if memory_swap == "-1" else ram_in_bytes(memory_swap or "0"),
        "MemorySwappiness": None,
        "OomKillDisable": f.on("oom-kill-disable"),
        "PidsLimit": int(pids) if pids and int(pids) != 0 else None,
        "Ulimits": [parse_ulimit(u) for u in f.all("ulimit")] or None,
        "CpuCount": 0,
        "CpuPercent": 0,
        "IOMaximumIOps": 0,
        "IOMaximumBandwidth": 0,
    }
    if mounts:
        host["Mounts"] = mounts
    host |= {"MaskedPaths": None, "ReadonlyPaths": None}
    if f.has("init"):
        host["Init"] = f.on("init")
    return {
        **config,
        "HostConfig": host,
        "NetworkingConfig": {"EndpointsConfig": {network: endpoint}},
    }


def _device(spec: str) -> dict[str, str]:
    parts = spec.split(":")
    host = parts[0]
    inner = parts[1] if len(parts) > 1 and parts[1] else host
    perms = parts[2] if len(parts) > 2 else "rwm"
    return {"PathOnHost": host, "PathInContainer": inner, "CgroupPermissions": perms}
