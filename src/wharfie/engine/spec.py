"""Container config + image config -> the OCI runtime spec Docker gives runc (pure).

`runtime_spec(SpecInputs)` follows moby 25's daemon/oci_linux.go and oci/defaults.go:
Docker's default mounts, capabilities, masked and read-only paths, device rules, seccomp
profile, namespaces and the resources mapping of HostConfig.

Decisions:

* Bind sources are not checked nor created here: `docker run -v /new:/x` creates a missing
  source directory, and that side effect is the engine's, before it calls this.
* A user mount (Binds, Tmpfs) at the destination of a default mount (/dev/shm, /etc/hosts...)
  replaces it, as moby does.
* Privileged containers get every capability, no seccomp, no masked or read-only paths,
  rw /sys and /sys/fs/cgroup, an allow-all device rule and every device node of the host's
  /dev in linux.devices (read when the spec is built, as moby does; `SpecInputs.devices`
  overrides that list). HostConfig.Devices (`--device`) stats the host paths too.
* No rlimits unless Ulimits asks (the runtime's own limits are inherited, as with dockerd).
* The cgroup namespace follows HostConfig.CgroupnsMode ("private" or "host"); when it is
  empty, the host decides as moby 25 does (private on pure cgroup v2, host otherwise).
* GroupAdd entries are added to the additional gids when numeric; names must be resolved
  by the caller (users.group_ids) and given in SpecInputs.user.
"""

from __future__ import annotations

import os
from typing import Any, NamedTuple

from wharfie.errors import InvalidArgument
from wharfie.oci.capabilities import NAMES as ALL_CAPS
from wharfie.oci.defaults import OCI_VERSION
from wharfie.oci.seccomp_default import DOCKER_DEFAULT_CAPABILITIES, default_profile

__all__ = [
    "DEFAULT_PATH",
    "MASKED_PATHS",
    "READONLY_PATHS",
    "SpecInputs",
    "all_capabilities",
    "capabilities",
    "command",
    "environment",
    "runtime_spec",
    "seccomp_from_docker",
]

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# moby oci/defaults.go (Engine 25)
MASKED_PATHS = [
    "/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
    "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
    "/sys/firmware", "/sys/devices/virtual/powercap",
]  # fmt: skip
READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
RLIMIT_NAMES = {
    name: "RLIMIT_" + name.upper()
    for name in (
        "core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile",
        "nproc", "rss", "rtprio", "rttime", "sigpending", "stack",
    )
}  # fmt: skip
INIT_PATH = "/sbin/docker-init"
CPU_PERIOD = 100_000


def _dev(kind: str, major: int | None, minor: int | None, access: str = "rwm") -> dict[str, Any]:
    rule: dict[str, Any] = {"allow": True, "type": kind}
    if major is not None:
        rule["major"] = major
    if minor is not None:
        rule["minor"] = minor
    rule["access"] = access
    return rule


# Docker's device cgroup rules for an unprivileged container: deny all, then mknod of any
# char/block device, /dev/null, zero, full, random, urandom, tty, console, ptmx, pts/*, tun.
DEFAULT_DEVICE_RULES = [
    {"allow": False, "access": "rwm"},
    _dev("c", None, None, "m"), _dev("b", None, None, "m"),
    _dev("c", 1, 3), _dev("c", 1, 5), _dev("c", 1, 7), _dev("c", 1, 8), _dev("c", 1, 9),
    _dev("c", 5, 0), _dev("c", 5, 1), _dev("c", 5, 2), _dev("c", 136, None),
    _dev("c", 10, 200),
]  # fmt: skip


class SpecInputs(NamedTuple):
    container_id: str
    config: dict[str, Any]
    host_config: dict[str, Any]
    image_config: dict[str, Any]
    rootfs: str
    hostname: str
    user: tuple[int, int, list[int]]
    home: str
    etc_files: dict[str, str]
    network: str
    netns_path: str | None
    cgroups_path: str
    init_path: str | None
    arch: str = "x86_64"
    devices: list[dict[str, Any]] | None = None  # privileged: None = the host's /dev
    # resolved mount points (engine/mounts.spec_mounts: bind or tmpfs, volumes as binds of
    # their host path); None: Binds and Mounts are read from host_config (no volumes)
    mounts: list[dict[str, Any]] | None = None


# ---------------------------------------------------------------- process


def _strs(value: Any) -> list[str] | None:
    if value is None:
        return None
    return [value] if isinstance(value, str) else list(value)


def command(config: dict[str, Any], image_config: dict[str, Any]) -> list[str]:
    """Entrypoint + Cmd as Docker resolves them (runconfig Merge + getEntrypointAndArgs).

    Entrypoint null takes the image's; [] or [""] resets it. Cmd comes from the image only
    when the container gives neither a Cmd nor a non-empty Entrypoint.
    """
    image = image_config or {}
    entrypoint = _strs(config.get("Entrypoint"))
    cmd = _strs(config.get("Cmd")) or []
    if entrypoint == [""]:
        entrypoint = []
    if not entrypoint:
        if not cmd:
            cmd = _strs(image.get("Cmd")) or []
        if entrypoint is None:
            entrypoint = _strs(image.get("Entrypoint")) or []
    args = entrypoint + cmd
    if not args:
        raise InvalidArgument("No command specified")
    return args


def replace_or_append_env(base: list[str], overrides: list[str]) -> list[str]:
    """moby's ReplaceOrAppendEnvValues: same key replaces in place; "KEY" alone removes it."""
    out = list(base)
    index = {entry.split("=", 1)[0]: i for i, entry in enumerate(out)}
    removed: set[int] = set()
    for entry in overrides:
        key, has_value, _ = entry.partition("=")
        if key in index:
            if has_value:
                out[index[key]] = entry
                removed.discard(index[key])
            else:
                removed.add(index[key])
            continue
        if has_value:
            index[key] = len(out)
            out.append(entry)
    return [e for i, e in enumerate(out) if i not in removed]


def environment(
    config: dict[str, Any], image_config: dict[str, Any], hostname: str, home: str, tty: bool
) -> list[str]:
    """PATH, HOSTNAME, TERM (tty), then the image's and the container's env; HOME if unset."""
    base = [f"PATH={DEFAULT_PATH}", f"HOSTNAME={hostname}"]
    if tty:
        base.append("TERM=xterm")
    env = replace_or_append_env(base, [e for e in (image_config or {}).get("Env") or () if e])
    env = replace_or_append_env(env, [e for e in config.get("Env") or () if e])
    if not any(e.startswith("HOME=") for e in env):
        env.append(f"HOME={home}")
    return env


_ALL_CAPS: list[str] = []


def all_capabilities(status_path: str = "/proc/self/status") -> list[str]:
    """What "all capabilities" means here (privileged, CapAdd ALL): every capability the
    kernel knows that is also in our own bounding set, as moby's caps.GetAllCapabilities
    (a daemon that lacks one, e.g. in a restricted sandbox, cannot grant it: capset fails)."""
    if status_path != "/proc/self/status" or not _ALL_CAPS:
        try:
            with open(status_path, encoding="ascii") as f:
                text = f.read()
            bounding = int(text.split("CapBnd:", 1)[1].split()[0], 16)
        except (OSError, IndexError, ValueError):
            bounding = (1 << len(ALL_CAPS)) - 1
        found = [name for i, name in enumerate(ALL_CAPS) if bounding >> i & 1]
        if status_path != "/proc/self/status":
            return found
        _ALL_CAPS[:] = found
    return list(_ALL_CAPS)


def capabilities(host_config: dict[str, Any]) -> list[str]:
    """Docker's default set + CapAdd - CapDrop (moby caps.TweakCapabilities); all if privileged."""
    from .validate import normalise_caps

    if host_config.get("Privileged"):
        return all_capabilities()
    adds = normalise_caps(host_config.get("CapAdd"))
    drops = normalise_caps(host_config.get("CapDrop"))
    if "ALL" in adds:
        base = all_capabilities()
    elif "ALL" in drops:
        base = []
    else:
        base = [c for c in DOCKER_DEFAULT_CAPABILITIES if c not in drops]
    caps = base + [c for c in adds if c != "ALL" and c not in base]
    if "ALL" in adds:
        caps = [c for c in caps if c not in drops]
    return caps


def _rlimits(ulimits: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    out = []
    for ulimit in ulimits or ():
        name = RLIMIT_NAMES.get(ulimit.get("Name") or "")
        if name is None:
            raise InvalidArgument(f"invalid ulimit type: {ulimit.get('Name')}")
        out.append({"type": name, "hard": int(ulimit.get("Hard") or 0),
                    "soft": int(ulimit.get("Soft") or 0)})  # fmt: skip
    return out


def _process(inp: SpecInputs, caps: list[str], nnp: bool) -> dict[str, Any]:
    config, host = inp.config, inp.host_config
    tty = bool(config.get("Tty"))
    args = command(config, inp.image_config)
    if inp.init_path:
        args = [INIT_PATH, "--", *args]
    uid, gid, groups = inp.user
    extra = [int(g) for g in host.get("GroupAdd") or () if str(g).isdigit()]
    gids = list(dict.fromkeys([*groups, *extra]))
    cwd = config.get("WorkingDir") or (inp.image_config or {}).get("WorkingDir") or "/"
    process: dict[str, Any] = {
        "terminal": tty,
        "user": {"uid": uid, "gid": gid, **({"additionalGids": gids} if gids else {})},
        "args": args,
        "env": environment(config, inp.image_config, inp.hostname, inp.home, tty),
        "cwd": cwd,
        "capabilities": {k: list(caps) for k in ("bounding", "effective", "permitted")},
        "noNewPrivileges": nnp,
        "oomScoreAdj": int(host.get("OomScoreAdj") or 0),
    }
    size = host.get("ConsoleSize") or [0, 0]
    if tty and len(size) == 2 and size[0] and size[1]:
        process["consoleSize"] = {"height": int(size[0]), "width": int(size[1])}
    rlimits = _rlimits(host.get("Ulimits"))
    if rlimits:
        process["rlimits"] = rlimits
    return process


# ---------------------------------------------------------------- mounts


def default_mounts(shm_size: int, privileged: bool) -> list[dict[str, Any]]:
    """moby's default mounts, in its order; /sys and /sys/fs/cgroup rw when privileged."""
    ro = [] if privileged else ["ro"]
    return [
        {"destination": "/proc", "type": "proc", "source": "proc",
         "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs",
         "options": ["nosuid", "noexec", "nodev", *ro]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
         "options": [*ro, "nosuid", "noexec", "nodev"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
         "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": ["nosuid", "noexec", "nodev", "mode=1777", f"size={shm_size}"]},
    ]  # fmt: skip


def _bind_mount(source: str, destination: str, rw: bool, propagation: str) -> dict[str, Any]:
    options = ["rbind"] + ([] if rw else ["ro"]) + [propagation or "rprivate"]
    return {"destination": destination, "type": "bind", "source": source, "options": options}


def user_mounts(inp: SpecInputs) -> list[dict[str, Any]]:
    """etc files (unless a user mount covers them), Binds, Tmpfs, the init binary."""
    from .validate import parse_binds, parse_mounts, parse_tmpfs

    host = inp.host_config
    mounts: list[dict[str, Any]] = []
    if inp.mounts is not None:
        given = inp.mounts
    else:
        binds = parse_binds([b for b in host.get("Binds") or () if b])
        given = binds + parse_mounts(host.get("Mounts") or [])
    for m in given:
        if m["Type"] == "volume":
            raise InvalidArgument(f"named volumes are not supported yet: {m['Name']!r}")
        if m["Type"] == "tmpfs":
            mounts.append({"destination": m["Destination"], "type": "tmpfs", "source": "tmpfs",
                           "options": m["Options"]})  # fmt: skip
            continue
        mount = _bind_mount(m["Source"], m["Destination"], m["RW"], m["Propagation"])
        if not m.get("Recursive", True):
            mount["options"][0] = "bind"
        mounts.append(mount)
    for tmpfs in parse_tmpfs(host.get("Tmpfs") or {}):
        mounts.append({"destination": tmpfs["Destination"], "type": "tmpfs", "source": "tmpfs",
                       "options": tmpfs["Options"]})  # fmt: skip
    taken = {m["destination"] for m in mounts}
    etc = [
        _bind_mount(src, dst, True, "rprivate")
        for dst, src in sorted(inp.etc_files.items())
        if dst not in taken
    ]
    mounts = etc + mounts
    if inp.init_path:
        mounts.append({"destination": INIT_PATH, "type": "bind", "source": inp.init_path,
                       "options": ["bind", "ro"]})  # fmt: skip
    return mounts


def _mounts(inp: SpecInputs) -> list[dict[str, Any]]:
    host = inp.host_config
    shm = int(host.get("ShmSize") or 64 * 1024 * 1024)
    own = user_mounts(inp)
    taken = {m["destination"] for m in own}
    defaults = [m for m in default_mounts(shm, bool(host.get("Privileged")))
                if m["destination"] not in taken]  # fmt: skip
    return defaults + own


# ---------------------------------------------------------------- linux


def _namespaces(inp: SpecInputs) -> list[dict[str, Any]]:
    from .validate import default_cgroupns_mode

    out: list[dict[str, Any]] = [{"type": "mount"}]
    if inp.network == "bridge":
        if not inp.netns_path:
            raise InvalidArgument("bridge network mode needs the path of a network namespace")
        out.append({"type": "network", "path": inp.netns_path})
    elif inp.network == "none":
        out.append({"type": "network"})
    elif inp.network != "host":
        raise InvalidArgument(f"unknown network mode {inp.network!r}")
    out += [{"type": "uts"}, {"type": "pid"}, {"type": "ipc"}]
    mode = inp.host_config.get("CgroupnsMode") or default_cgroupns_mode()
    if mode == "private":
        out.append({"type": "cgroup"})
    return out


def resources(host: dict[str, Any], *, update: bool = False) -> dict[str, Any]:
    """HostConfig's resources -> linux.resources (moby getMemoryResources/getCPUResources).

    A PidsLimit of 0 or less means no limit. At create that is no `pids` at all (crun
    writes a -1 into cgroup v1's pids.max, which the kernel refuses); for an `update` it is
    -1, which runtimes take as "remove the previous limit"."""
    out: dict[str, Any] = {}
    memory: dict[str, Any] = {}
    limit = int(host.get("Memory") or 0)
    swap = int(host.get("MemorySwap") or 0)
    if limit:
        memory["limit"] = limit
    if host.get("MemoryReservation"):
        memory["reservation"] = int(host["MemoryReservation"])
    if swap:
        memory["swap"] = swap
    elif limit:
        memory["swap"] = 2 * limit  # docker's default: as much swap as memory
    swappiness = host.get("MemorySwappiness")
    if swappiness is not None and swappiness >= 0:
        memory["swappiness"] = int(swappiness)
    if host.get("OomKillDisable") is not None:
        memory["disableOOMKiller"] = bool(host["OomKillDisable"])
    if memory:
        out["memory"] = memory
    cpu: dict[str, Any] = {}
    if host.get("CpuShares"):
        cpu["shares"] = int(host["CpuShares"])
    nano = int(host.get("NanoCpus") or 0)
    if nano:
        cpu["period"] = CPU_PERIOD
        cpu["quota"] = nano * CPU_PERIOD // 1_000_000_000
    if host.get("CpuPeriod"):
        cpu["period"] = int(host["CpuPeriod"])
    if host.get("CpuQuota"):
        cpu["quota"] = int(host["CpuQuota"])
    if host.get("CpusetCpus"):
        cpu["cpus"] = host["CpusetCpus"]
    if host.get("CpusetMems"):
        cpu["mems"] = host["CpusetMems"]
    if host.get("CpuRealtimePeriod"):
        cpu["realtimePeriod"] = int(host["CpuRealtimePeriod"])
    if host.get("CpuRealtimeRuntime"):
        cpu["realtimeRuntime"] = int(host["CpuRealtimeRuntime"])
    if cpu:
        out["cpu"] = cpu
    pids = host.get("PidsLimit")
    if pids is not None and (pids > 0 or update):
        out["pids"] = {"limit": int(pids) if pids > 0 else -1}
    if host.get("BlkioWeight"):
        out["blockIO"] = {"weight": int(host["BlkioWeight"])}
    if host.get("Privileged"):
        out["devices"] = [{"allow": True, "access": "rwm"}]
    else:
        out["devices"] = [dict(rule) for rule in DEFAULT_DEVICE_RULES]
    return out


# ---------------------------------------------------------------- devices

_SKIP_DIRS = ("pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev")


def _device_node(path: str, in_container: str) -> dict[str, Any] | None:
    import stat

    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    if stat.S_ISCHR(st.st_mode):
        kind = "c"
    elif stat.S_ISBLK(st.st_mode):
        kind = "b"
    else:
        return None
    return {
        "type": kind, "path": in_container, "major": os.major(st.st_rdev),
        "minor": os.minor(st.st_rdev), "fileMode": stat.S_IMODE(st.st_mode),
        "uid": st.st_uid, "gid": st.st_gid,
    }  # fmt: skip


def host_devices(root: str = "/dev") -> list[dict[str, Any]]:
    """Every char/block device under `root` (runc's HostDevices: pts, shm... skipped)."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS)
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            if name == "console" or os.path.islink(path):
                continue
            node = _device_node(path, "/dev" + path[len(root) :])
            if node is not None:
                out.append(node)
    return out


def device_mappings(mappings: list[dict[str, Any]] | None) -> tuple[list[Any], list[Any]]:
    """HostConfig.Devices -> (linux.devices, cgroup allow rules), as moby devicesFromPath."""
    devices: list[dict[str, Any]] = []
    rules: list[dict[str, Any]] = []
    for mapping in mappings or ():
        host_path = mapping.get("PathOnHost") or ""
        target = mapping.get("PathInContainer") or host_path
        access = mapping.get("CgroupPermissions") or "rwm"
        if not host_path.startswith("/") or not target.startswith("/"):
            raise InvalidArgument(f"{host_path}:{target} is not an absolute path")
        if set(access) - set("rwm") or not access:
            raise InvalidArgument(f"invalid device cgroup permissions: {access!r}")
        node = _device_node(host_path, target)
        found = [node] if node else []
        if not node and os.path.isdir(host_path):
            found = [
                {**d, "path": target + d["path"][len("/dev") :]} for d in host_devices(host_path)
            ]
        if not found:
            raise InvalidArgument(
                "error gathering device information while adding custom device "
                f'"{host_path}": not a device node'
            )
        for d in found:
            devices.append(d)
            rules.append(_dev(d["type"], d["major"], d["minor"], access))
    return devices, rules


def _seccomp(inp: SpecInputs, caps: list[str], profile: str | None) -> dict[str, Any] | None:
    if inp.host_config.get("Privileged") or profile == "unconfined":
        return None
    if profile:
        return seccomp_from_docker(profile, caps, inp.arch)
    return default_profile(caps, inp.arch)


def _linux(inp: SpecInputs, caps: list[str], profile: str | None) -> dict[str, Any]:
    host = inp.host_config
    linux: dict[str, Any] = {
        "resources": resources(host),
        "cgroupsPath": inp.cgroups_path,
        "namespaces": _namespaces(inp),
    }
    if host.get("Privileged"):
        linux["devices"] = host_devices() if inp.devices is None else list(inp.devices)
    else:
        devices, rules = device_mappings(host.get("Devices"))
        if devices:
            linux["devices"] = devices
            linux["resources"]["devices"] += rules
    if host.get("Sysctls"):
        linux["sysctl"] = dict(host["Sysctls"])
    seccomp = _seccomp(inp, caps, profile)
    if seccomp is not None:
        linux["seccomp"] = seccomp
    if not host.get("Privileged"):
        from .validate import parse_security_opts

        system_paths = parse_security_opts(host.get("SecurityOpt") or []).writable_system_paths
        masked = host.get("MaskedPaths")
        readonly = host.get("ReadonlyPaths")
        linux["maskedPaths"] = (
            [] if system_paths else list(MASKED_PATHS if masked is None else masked)
        )
        linux["readonlyPaths"] = (
            [] if system_paths else list(READONLY_PATHS if readonly is None else readonly)
        )
    return linux


def runtime_spec(inp: SpecInputs) -> dict[str, Any]:
    """The config.json for this container (a new dict)."""
    from .validate import parse_security_opts

    host = inp.host_config
    opts = parse_security_opts(host.get("SecurityOpt") or [])
    caps = capabilities(host)
    spec: dict[str, Any] = {
        "ociVersion": OCI_VERSION,
        "process": _process(inp, caps, opts.no_new_privileges),
        "root": {"path": inp.rootfs, "readonly": bool(host.get("ReadonlyRootfs"))},
        "hostname": inp.hostname,
        "mounts": _mounts(inp),
        "linux": _linux(inp, caps, opts.seccomp),
    }
    if inp.config.get("Domainname"):
        spec["domainname"] = inp.config["Domainname"]
    if host.get("Annotations"):  # `docker run --annotation` (moby: the spec's annotations)
        spec["annotations"] = {str(k): str(v) for k, v in host["Annotations"].items()}
    return spec


# ---------------------------------------------------------------- seccomp profiles


def _native_arches(profile: dict[str, Any], arch: str) -> list[str] | None:
    if profile.get("architectures"):
        return list(profile["architectures"])
    names = {"x86_64": "SCMP_ARCH_X86_64", "amd64": "SCMP_ARCH_X86_64",
             "aarch64": "SCMP_ARCH_AARCH64", "arm64": "SCMP_ARCH_AARCH64"}  # fmt: skip
    native = names.get(arch)
    for entry in profile.get("archMap") or ():
        if entry.get("architecture") == native:
            return [native, *(entry.get("subArchitectures") or [])]
    return None


def _applies(rule: dict[str, Any], caps: set[str], arch: str) -> bool:
    arch_name = {"x86_64": "amd64", "aarch64": "arm64"}.get(arch, arch)
    inc = rule.get("includes") or {}
    exc = rule.get("excludes") or {}
    if inc.get("caps") and not set(inc["caps"]) <= caps:
        return False
    if inc.get("arches") and arch_name not in inc["arches"]:
        return False
    if exc.get("caps") and set(exc["caps"]) & caps:
        return False
    return not (exc.get("arches") and arch_name in exc["arches"])


def seccomp_from_docker(text: str, caps: list[str], arch: str = "x86_64") -> dict[str, Any]:
    """A Docker seccomp profile (JSON: archMap, names, includes/excludes) -> linux.seccomp."""
    import json

    try:
        profile = json.loads(text)
    except ValueError as e:
        raise InvalidArgument(f"Decoding seccomp profile failed: {e}") from e
    if not isinstance(profile, dict) or not isinstance(profile.get("defaultAction"), str):
        raise InvalidArgument("Decoding seccomp profile failed: defaultAction is required")
    out: dict[str, Any] = {"defaultAction": profile["defaultAction"]}
    if profile.get("defaultErrnoRet") is not None:
        out["defaultErrnoRet"] = profile["defaultErrnoRet"]
    arches = _native_arches(profile, arch)
    if arches:
        out["architectures"] = arches
    for key in ("listenerPath", "listenerMetadata", "flags"):
        if profile.get(key):
            out[key] = profile[key]
    syscalls = []
    have = set(caps)
    for rule in profile.get("syscalls") or ():
        if not isinstance(rule, dict) or not _applies(rule, have, arch):
            continue
        names = list(rule.get("names") or ([rule["name"]] if rule.get("name") else []))
        if not names or not isinstance(rule.get("action"), str):
            raise InvalidArgument("Decoding seccomp profile failed: a rule needs names and action")
        entry: dict[str, Any] = {"names": names, "action": rule["action"]}
        if rule.get("errnoRet") is not None:
            entry["errnoRet"] = rule["errnoRet"]
        if rule.get("args"):
            entry["args"] = [
                {k: a[k] for k in ("index", "value", "valueTwo", "op") if k in a}
                for a in rule["args"]
            ]
        syscalls.append(entry)
    out["syscalls"] = syscalls
    return out


def host_arch() -> str:
    return os.uname().machine
