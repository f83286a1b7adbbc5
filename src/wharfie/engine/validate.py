"""Docker's request bodies -> validated, normalised configs (pure; moby 25 / API 1.44 wording).

`container_create(body)` checks a `POST /containers/create` body the way moby's decoder
(runconfig.decodeContainerConfig) and `daemon.verifyContainerSettings` do, and fills the
defaults that `docker inspect` reports. Every field the client sent is kept.

Decisions (where moby's behaviour could not be matched exactly, or is left to the engine):

* Field names match case-insensitively and type errors follow Go's encoding/json wording
  behind moby's "invalid JSON: " prefix (engine.gojson, with the shapes of moby's structs in
  validate_fields): `invalid JSON: json: cannot unmarshal string into Go struct field
  HostConfig.HostConfig.Memory of type int64` (Go >= 1.20: the innermost struct, then the
  path). Fields of the embedded container.Config are `ContainerConfigWrapper.<Field>`; a
  body that is not an object gives `... into Go value of type
  runconfig.ContainerConfigWrapper`. Unknown fields are ignored and `null` is accepted
  everywhere, as Go does.
* Split by concern: mounts in validate_mounts, the exec/update bodies, detach keys and
  signals in validate_exec (re-exported here).
* A body without any container.Config field (null, {}, only HostConfig) is
  `config cannot be empty in order to create a container`, as moby. An empty Image is not an
  error here (moby too lets it through to the image lookup): the engine answers 404.
* NetworkMode: "", "default" and "bridge" become "bridge"; "none", "host", "container:<ref>"
  and user network names are kept (the engine checks that the network or container exists).
* HostConfig.Mounts of type bind, tmpfs and volume are checked (parse_mounts); the engine
  (engine/mounts.py) turns them, with Binds, VolumesFrom and Config.Volumes, into mount
  points. A destination used twice across Binds, Mounts and Tmpfs is
  `Duplicate mount point: <dest>`.
* apparmor= and label= security options are accepted and ignored (no LSM support): the
  engine may add a warning; `warnings(host_config)` lists them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, NamedTuple

from wharfie.engine.gojson import canonical, check, type_error
from wharfie.engine.validate_exec import (
    EXEC_SCHEMA,
    UPDATE_SCHEMA,
    container_update,
    detach_keys,
    exec_create,
    exec_start,
    platform_signal,
    signal_number,
)
from wharfie.engine.validate_fields import (
    CONFIG_FIELDS,
    CREATE_SCHEMA,
    WRAPPER,
)
from wharfie.engine.validate_mounts import (
    check_duplicate_mounts,
    parse_binds,
    parse_mounts,
    parse_tmpfs,
)
from wharfie.errors import InvalidArgument
from wharfie.oci.capabilities import NUMBERS as CAP_NUMBERS
from wharfie.units import ram_in_bytes

__all__ = [  # the create checks here; exec/update/signals and mounts re-exported
    "CREATE_SCHEMA",
    "EXEC_SCHEMA",
    "UPDATE_SCHEMA",
    "CreateConfig",
    "container_create",
    "container_update",
    "detach_keys",
    "exec_create",
    "exec_start",
    "merge_image_config",
    "parse_binds",
    "parse_log_opts",
    "parse_mounts",
    "parse_security_opts",
    "parse_tmpfs",
    "platform_signal",
    "signal_number",
    "warnings",
]

MIN_MEMORY = 6 * 1024 * 1024
DEFAULT_SHM_SIZE = 64 * 1024 * 1024
LOG_DRIVERS = ("json-file", "none")
JSON_FILE_OPTS = (
    "max-file",
    "max-size",
    "compress",
    "labels",
    "labels-regex",
    "env",
    "env-regex",
    "tag",
)
RESTART_POLICIES = ("no", "always", "on-failure", "unless-stopped")


class CreateConfig(NamedTuple):
    config: dict[str, Any]
    host_config: dict[str, Any]
    networking: dict[str, Any]


def _num(value: Any) -> int:
    return int(value) if value is not None else 0


# ---------------------------------------------------------------- container create


@dataclass(frozen=True)
class CreateDefaults:
    """The daemon's defaults (daemon.json / flags) for what a create body leaves out."""

    log: tuple[str, dict[str, str]] = ("json-file", {})  # --log-driver, --log-opt
    shm_size: int = DEFAULT_SHM_SIZE  # --default-shm-size
    ulimits: tuple[dict[str, Any], ...] = ()  # --default-ulimit
    ipc_mode: str = "private"  # --default-ipc-mode
    cgroupns_mode: str = ""  # --default-cgroupns-mode; "": the host's (default_cgroupns_mode)

    @classmethod
    def of(cls, config: Any) -> CreateDefaults:
        """From the engine's Config."""
        return cls(
            log=(config.log_driver, config.log_opts),
            shm_size=config.default_shm_size,
            ulimits=tuple(config.default_ulimits),
            ipc_mode=config.default_ipc_mode,
            cgroupns_mode=config.default_cgroupns_mode,
        )


def container_create(
    body: object,
    *,
    api_version: tuple[int, int] = (1, 44),
    defaults: CreateDefaults | None = None,
) -> CreateConfig:
    """Check a create body; (Config, HostConfig, NetworkingConfig) with defaults filled."""
    if body is not None and not isinstance(body, dict):
        raise type_error(body, "", f"runconfig.{WRAPPER}")
    doc: dict[str, Any] = canonical(body or {}, CREATE_SCHEMA)
    check(doc, CREATE_SCHEMA)
    body = doc
    config = {k: v for k, v in body.items() if k not in ("HostConfig", "NetworkingConfig")}
    if not any(k in CONFIG_FIELDS for k in config):
        raise InvalidArgument("config cannot be empty in order to create a container")
    host = dict(body.get("HostConfig") or {})
    networking = dict(body.get("NetworkingConfig") or {})
    _normalise_config(config)
    _verify_config(config)
    _verify_host_config(host)
    defaults = defaults or CreateDefaults()
    _fill_host_defaults(host, api_version, defaults)
    if defaults.ulimits:  # the daemon's --default-ulimit
        host["Ulimits"] = merge_ulimits(host.get("Ulimits"), list(defaults.ulimits))
    if networking.get("EndpointsConfig") is None:
        networking["EndpointsConfig"] = {}
    return CreateConfig(config, host, networking)


def merge_ulimits(
    own: list[dict[str, Any]] | None, defaults: list[dict[str, Any]]
) -> list[dict[str, Any]] | None:
    """A container's Ulimits and the daemon's defaults for the names it does not set, as
    moby's mergeUlimits (inspect shows them merged)."""
    names = {u.get("Name") for u in own or [] if isinstance(u, dict)}
    extra = [dict(u) for u in defaults if u["Name"] not in names]
    return [*(own or []), *extra] if extra else own


def _normalise_config(config: dict[str, Any]) -> None:
    for key in ("Cmd", "Entrypoint", "Shell"):
        if isinstance(config.get(key), str):
            config[key] = [config[key]]
    for key in ("Hostname", "Domainname", "User", "Image", "WorkingDir", "StopSignal"):
        config.setdefault(key, "")
    for key in ("AttachStdin", "AttachStdout", "AttachStderr", "Tty", "OpenStdin", "StdinOnce"):
        config.setdefault(key, False)
    for key in ("Cmd", "Entrypoint", "Env", "OnBuild"):
        config.setdefault(key, None)
    if config.get("Labels") is None:
        config["Labels"] = {}
    if config.get("Volumes") is None:
        config["Volumes"] = {}


def _verify_config(config: dict[str, Any]) -> None:
    workdir = config.get("WorkingDir") or ""
    if workdir and not workdir.startswith("/"):
        raise InvalidArgument(
            f"the working directory '{workdir}' is invalid, it needs to be an absolute path"
        )
    if config.get("StopSignal"):
        signal_number(config["StopSignal"])
    for entry in config.get("Env") or ():
        if entry is not None and entry.split("=", 1)[0] == "":
            raise InvalidArgument(f"invalid environment variable: {entry}")
    _verify_healthcheck(config.get("Healthcheck"))
    if config.get("StopTimeout") is not None and config["StopTimeout"] < -1:
        raise InvalidArgument("invalid stop timeout: must be -1 or greater")


def _verify_healthcheck(health: dict[str, Any] | None) -> None:
    if not health:
        return
    for key in ("Interval", "Timeout", "StartPeriod", "StartInterval"):
        value = _num(health.get(key))
        if value != 0 and value < 1_000_000:
            raise InvalidArgument(f"{key} in Healthcheck cannot be less than 1ms")
    if _num(health.get("Retries")) < 0:
        raise InvalidArgument("Retries in Healthcheck cannot be negative")
    test = health.get("Test") or []
    if test and test[0] not in ("NONE", "CMD", "CMD-SHELL"):
        raise InvalidArgument(f"invalid Healthcheck.Test: unknown type {test[0]!r}")
    if test and test[0] in ("CMD", "CMD-SHELL") and len(test) < 2:
        raise InvalidArgument("invalid Healthcheck.Test: no command given")


def _verify_host_config(host: dict[str, Any]) -> None:
    _verify_network_mode(host.get("NetworkMode") or "")
    _verify_namespace_modes(host)
    _verify_port_bindings(host.get("PortBindings") or {})
    _verify_restart(host)
    _verify_resources(host)
    if _num(host.get("ShmSize")) < 0:
        raise InvalidArgument("SHM size can not be less than 0")
    oom = _num(host.get("OomScoreAdj"))
    if not -1000 <= oom <= 1000:
        raise InvalidArgument(f"Invalid value {oom}, range for oom score adj is [-1000, 1000]")
    for field in ("CapAdd", "CapDrop"):  # moby's validateCapabilities (Engine 20.10 and 25)
        try:
            normalise_caps(host.get(field))
        except InvalidArgument as e:
            raise InvalidArgument(f"invalid {field}: {e}") from None
    parse_security_opts(host.get("SecurityOpt") or [])
    parse_binds([b for b in host.get("Binds") or () if b is not None])
    parse_tmpfs(host.get("Tmpfs") or {})
    check_duplicate_mounts(host)
    _verify_ulimits(host.get("Ulimits") or [])
    _verify_log_config(host.get("LogConfig") or {})


def _verify_network_mode(mode: str) -> None:
    if mode in ("", "default", "bridge", "none", "host"):
        return
    if mode.startswith("container:") and not mode[len("container:") :]:
        raise InvalidArgument("invalid container format container:<name|id>")
    # a user-defined network or container:<ref>: the engine checks that it exists


def _verify_namespace_modes(host: dict[str, Any]) -> None:
    """moby's CgroupnsMode.Valid, IpcMode.Valid and UTSMode.Valid, with its wording."""
    cgroupns = host.get("CgroupnsMode") or ""
    if cgroupns not in ("", "host", "private"):
        raise InvalidArgument(f"invalid cgroup namespace mode: {cgroupns}")
    ipc = host.get("IpcMode") or ""
    if ipc not in ("", "none", "private", "shareable", "host") and not (
        ipc.startswith("container:") and ipc[len("container:") :]
    ):
        raise InvalidArgument(f"invalid IPC mode: {ipc}")
    uts = host.get("UTSMode") or ""
    if uts not in ("", "host"):
        raise InvalidArgument(f"invalid UTS mode: {uts}")


def _port_ok(text: str) -> bool:
    """nat.ParsePortRangeToInt: "", "80" or "8000-8010" within 0..65535."""
    if text == "":
        return True
    low, sep, high = text.partition("-")
    parts = [low, high] if sep else [low]
    if not all(p.isascii() and p.isdigit() and int(p) <= 65535 for p in parts):
        return False
    return not sep or int(low) <= int(high)


def _verify_port_bindings(bindings: dict[str, Any]) -> None:
    """moby's verifyPlatformContainerSettings: every key and HostPort is a port (range)."""
    for key, targets in bindings.items():
        port = key.partition("/")[0]
        if not port or not _port_ok(port):
            raise InvalidArgument(f"invalid port specification: {jsonio_quote(port)}")
        for target in targets or ():
            host_port = str((target or {}).get("HostPort") or "").partition("/")[0]
            if not _port_ok(host_port):
                raise InvalidArgument(
                    f"invalid port specification: {jsonio_quote(str(target.get('HostPort')))}"
                )


def jsonio_quote(text: str) -> str:
    """Go's %q for the plain strings these messages quote."""
    import json

    return json.dumps(text, ensure_ascii=False)


def _verify_cpuset(value: str, what: str) -> None:
    """parsers.ParseUintList, as moby words it: `Invalid value abc for cpuset cpus: invalid
    format: abc`."""
    if not value:
        return
    for part in value.split(","):
        low, sep, high = part.partition("-")
        ok = low.isascii() and low.isdigit() and (not sep or (high.isascii() and high.isdigit()))
        if not ok or (sep and int(high) < int(low)):
            raise InvalidArgument(
                f"Invalid value {value} for cpuset {what}: invalid format: {part}"
            )


def _verify_restart(host: dict[str, Any]) -> None:
    policy = host.get("RestartPolicy") or {}
    name = policy.get("Name") or ""
    retries = _num(policy.get("MaximumRetryCount"))
    if name in ("always", "unless-stopped", "no"):
        if retries != 0:
            msg = "invalid restart policy: maximum retry count can only be used with 'on-failure'"
            raise InvalidArgument(msg + (" and cannot be negative" if retries < 0 else ""))
    elif name == "on-failure":
        if retries < 0:
            raise InvalidArgument("invalid restart policy: maximum retry count cannot be negative")
    elif name != "":
        raise InvalidArgument(
            f"invalid restart policy: unknown policy '{name}'; use one of 'no', 'always', "
            "'on-failure', or 'unless-stopped'"
        )
    if host.get("AutoRemove") and name not in ("", "no"):
        raise InvalidArgument("can't create 'AutoRemove' container with restart policy")


def host_cpus() -> int:
    """CPUs this process may run on (moby's sysinfo.NumCPU)."""
    try:
        return len(os.sched_getaffinity(0))
    except OSError:
        return os.cpu_count() or 1


def _verify_resources(host: dict[str, Any]) -> None:
    memory = _num(host.get("Memory"))
    swap = _num(host.get("MemorySwap"))
    reservation = _num(host.get("MemoryReservation"))
    if memory != 0 and memory < MIN_MEMORY:
        raise InvalidArgument("Minimum memory limit allowed is 6MB")
    if swap < -1:  # dockerd passes it on and the start fails (a 500) in the runtime
        raise InvalidArgument(
            f"invalid MemorySwap {swap}: use -1 for unlimited swap, or a limit in bytes"
        )
    if memory == 0 and swap > 0:
        raise InvalidArgument(
            "You should always set the Memory limit when using Memoryswap limit, see usage"
        )
    if swap > 0 and swap < memory:
        raise InvalidArgument(
            "Minimum memoryswap limit should be larger than memory limit, see usage"
        )
    if reservation != 0 and reservation < MIN_MEMORY:
        raise InvalidArgument("Minimum memory reservation allowed is 6MB")
    if memory > 0 and reservation > 0 and memory < reservation:
        raise InvalidArgument(
            "Minimum memory limit can not be less than memory reservation limit, see usage"
        )
    swappiness = host.get("MemorySwappiness")
    if swappiness is not None and swappiness != -1 and not 0 <= swappiness <= 100:
        raise InvalidArgument(
            f"Invalid value: {swappiness}, valid memory swappiness range is 0-100"
        )
    _verify_cpu(host)
    weight = _num(host.get("BlkioWeight"))
    if weight > 0 and not 10 <= weight <= 1000:
        raise InvalidArgument("Range of blkio weight is from 10 to 1000")


def _verify_cpu(host: dict[str, Any]) -> None:
    _verify_cpuset(host.get("CpusetCpus") or "", "cpus")
    _verify_cpuset(host.get("CpusetMems") or "", "mems")
    nano = _num(host.get("NanoCpus"))
    period = _num(host.get("CpuPeriod"))
    quota = _num(host.get("CpuQuota"))
    if nano > 0 and period > 0:
        raise InvalidArgument("Conflicting options: Nano CPUs and CPU Period cannot both be set")
    if nano > 0 and quota > 0:
        raise InvalidArgument("Conflicting options: Nano CPUs and CPU Quota cannot both be set")
    cpus = host_cpus()
    # below 0.01 CPU the quota is under the kernel's 1 ms minimum: dockerd lets it through
    # and the start fails in the cgroup write (a 500); its own wording says 0.01
    if nano < 0 or 0 < nano < 10_000_000 or nano > cpus * 1_000_000_000:
        raise InvalidArgument(
            f"Range of CPUs is from 0.01 to {cpus}.00, as there are only {cpus} CPUs available"
        )
    if period != 0 and not 1000 <= period <= 1_000_000:
        raise InvalidArgument(
            "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)"
        )
    if quota > 0 and quota < 1000:
        raise InvalidArgument("CPU cfs quota can not be less than 1ms (i.e. 1000)")


def normalise_caps(names: list[str] | str | None) -> list[str]:
    """CapAdd/CapDrop -> "CAP_X" names (or "ALL"); `unknown capability: "CAP_FOO"` otherwise."""
    if isinstance(names, str):
        names = [names]
    out: list[str] = []
    for name in names or ():
        upper = name.upper()
        if upper == "ALL":
            out.append("ALL")
            continue
        cap = upper if upper.startswith("CAP_") else "CAP_" + upper
        if cap not in CAP_NUMBERS:
            raise InvalidArgument(f'unknown capability: "{cap}"')
        out.append(cap)
    return out


class SecurityOpts(NamedTuple):
    no_new_privileges: bool
    seccomp: str | None  # None = default profile, "unconfined", or the JSON profile text
    ignored: list[str]  # accepted without effect (apparmor=, label=)
    writable_system_paths: bool  # systempaths=unconfined


def parse_security_opts(opts: list[str]) -> SecurityOpts:
    """HostConfig.SecurityOpt as moby's parseSecurityOpt reads it."""
    nnp = False
    seccomp: str | None = None
    ignored: list[str] = []
    system_paths = False
    for opt in opts:
        if opt == "no-new-privileges":
            nnp = True
            continue
        if opt == "disable":
            ignored.append(opt)
            continue
        key, sep, value = opt.partition("=")
        if not sep:
            if ":" not in opt:
                raise InvalidArgument(f'invalid --security-opt: "{opt}"')
            key, _, value = opt.partition(":")
        if key in ("label", "apparmor"):
            ignored.append(opt)
        elif key == "seccomp":
            seccomp = value
        elif key == "no-new-privileges":
            nnp = _parse_go_bool(value, f'invalid --security-opt 2: "{opt}"')
        elif key == "systempaths" and value == "unconfined":
            system_paths = True
        else:
            raise InvalidArgument(f'invalid --security-opt 2: "{opt}"')
    return SecurityOpts(nnp, seccomp, ignored, system_paths)


def _parse_go_bool(value: str, message: str) -> bool:
    if value in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if value in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    raise InvalidArgument(message)


def warnings(host_config: dict[str, Any]) -> list[str]:
    """Warnings for the create response: options accepted but without effect here."""
    return [
        f"security option {opt!r} is ignored: no LSM support"
        for opt in parse_security_opts(host_config.get("SecurityOpt") or []).ignored
    ]


def _verify_ulimits(ulimits: list[dict[str, Any] | None]) -> None:
    from .spec import RLIMIT_NAMES

    for ulimit in ulimits:
        if not ulimit:
            continue
        name = ulimit.get("Name") or ""
        if name not in RLIMIT_NAMES:
            raise InvalidArgument(f"invalid ulimit type: {name}")
        soft, hard = _num(ulimit.get("Soft")), _num(ulimit.get("Hard"))
        if soft > hard:
            raise InvalidArgument(
                f"ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"
            )


def _verify_log_config(log: dict[str, Any]) -> None:
    kind = log.get("Type") or "json-file"
    opts = log.get("Config") or {}
    if kind not in LOG_DRIVERS:
        raise InvalidArgument(f"logger: no log driver named '{kind}' is registered")
    if kind == "none":
        if opts:
            key = sorted(opts)[0]
            raise InvalidArgument(f"unknown log opt '{key}' for none log driver")
        return
    parse_log_opts(opts)


def parse_log_opts(cfg: dict[str, str]) -> tuple[int, int]:
    """json-file options -> (max_size in bytes or -1 = unlimited, max_file >= 1)."""
    for key in sorted(cfg):
        if key not in JSON_FILE_OPTS:
            raise InvalidArgument(f"unknown log opt '{key}' for json-file log driver")
    max_size = -1
    if cfg.get("max-size"):
        max_size = ram_in_bytes(cfg["max-size"])
    max_file = 1
    if cfg.get("max-file"):
        try:
            max_file = int(cfg["max-file"])
        except ValueError as e:
            raise InvalidArgument(
                f'strconv.Atoi: parsing "{cfg["max-file"]}": invalid syntax'
            ) from e
        if max_file < 1:
            raise InvalidArgument("max-file cannot be less than 1")
    if cfg.get("compress") and cfg["compress"] not in ("true", "false", "1", "0"):
        raise InvalidArgument(f'strconv.ParseBool: parsing "{cfg["compress"]}": invalid syntax')
    return max_size, max_file


def _fill_host_defaults(
    host: dict[str, Any],
    api_version: tuple[int, int],
    defaults: CreateDefaults,
) -> None:
    default_log = defaults.log
    log = dict(host.get("LogConfig") or {})
    if not log.get("Type"):
        log["Type"] = default_log[0]  # the daemon's --log-driver
    log["Config"] = dict(log.get("Config") or {})
    if log["Type"] == default_log[0]:  # dockerd: the daemon's --log-opt fill the gaps
        log["Config"] = {**default_log[1], **log["Config"]}
    host["LogConfig"] = log
    policy = dict(host.get("RestartPolicy") or {})
    if not policy.get("Name"):
        policy["Name"] = "no"
    policy["MaximumRetryCount"] = _num(policy.get("MaximumRetryCount"))
    host["RestartPolicy"] = policy
    if (host.get("NetworkMode") or "default") == "default":
        host["NetworkMode"] = "bridge"
    if _num(host.get("Memory")) > 0 and _num(host.get("MemorySwap")) == 0:
        host["MemorySwap"] = 2 * _num(host.get("Memory"))  # moby adaptContainerSettings
    if not host.get("ShmSize"):
        host["ShmSize"] = defaults.shm_size  # the daemon's --default-shm-size
    for key in (  # as moby: what the client did not send is null (the CLI sends [])
        "Ulimits",
        "Dns",
        "DnsOptions",
        "DnsSearch",
        "BlkioWeightDevice",
        "BlkioDeviceReadBps",
        "BlkioDeviceWriteBps",
        "BlkioDeviceReadIOps",
        "BlkioDeviceWriteIOps",
        "Devices",
        "PortBindings",
    ):
        host.setdefault(key, None)
    for key in (
        "Binds",
        "VolumesFrom",
        "CapAdd",
        "CapDrop",
        "ExtraHosts",
        "GroupAdd",
        "Links",
        "SecurityOpt",
        "DeviceCgroupRules",
        "DeviceRequests",
        "MemorySwappiness",
        "OomKillDisable",
        "PidsLimit",
        "Init",
    ):
        host.setdefault(key, None)
    for key in ("CapAdd", "CapDrop"):
        if isinstance(host[key], str):
            host[key] = [host[key]]
    for key in (
        "ContainerIDFile",
        "VolumeDriver",
        "Cgroup",
        "PidMode",
        "UTSMode",
        "UsernsMode",
        "Isolation",
        "CgroupParent",
        "CpusetCpus",
        "CpusetMems",
    ):
        host.setdefault(key, "")
    for key in ("AutoRemove", "Privileged", "PublishAllPorts", "ReadonlyRootfs"):
        host.setdefault(key, False)
    for key in (
        "OomScoreAdj",
        "CpuShares",
        "Memory",
        "NanoCpus",
        "BlkioWeight",
        "CpuPeriod",
        "CpuQuota",
        "CpuRealtimePeriod",
        "CpuRealtimeRuntime",
        "MemoryReservation",
        "MemorySwap",
        "CpuCount",
        "CpuPercent",
        "IOMaximumIOps",
        "IOMaximumBandwidth",
    ):
        host[key] = _num(host.get(key))
    if not host.get("IpcMode"):  # as moby's adaptContainerSettings: the daemon's default
        host["IpcMode"] = defaults.ipc_mode
    if not host.get("CgroupnsMode"):
        host["CgroupnsMode"] = defaults.cgroupns_mode or default_cgroupns_mode()
    if host.get("ConsoleSize") is None:
        host["ConsoleSize"] = [0, 0]
    host["Runtime"] = host.get("Runtime") or ""  # the engine fills in the daemon's default
    if not host["Privileged"] and api_version >= (1, 44):
        from .spec import MASKED_PATHS, READONLY_PATHS

        if host.get("MaskedPaths") is None:
            host["MaskedPaths"] = list(MASKED_PATHS)
        if host.get("ReadonlyPaths") is None:
            host["ReadonlyPaths"] = list(READONLY_PATHS)


def default_cgroupns_mode(root: str = "/sys/fs/cgroup") -> str:
    """moby 25: "private" on a pure cgroup v2 host, "host" on v1 or hybrid."""
    return "private" if os.path.exists(f"{root}/cgroup.controllers") else "host"


# ---------------------------------------------------------------- image config merge


def merge_image_config(config: dict[str, Any], image_config: dict[str, Any]) -> dict[str, Any]:
    """moby's runconfig Merge at create: image defaults for what the container did not set.

    Env: image entries whose key the container does not set come first; Cmd/Entrypoint:
    the image's Cmd is taken only when neither Cmd nor Entrypoint was given; Labels,
    ExposedPorts and Volumes are unions; User, WorkingDir, StopSignal, Healthcheck (and each
    of its zero fields), Shell, OnBuild from the image when unset. Returns a new dict.
    """
    out = dict(config)
    image = image_config or {}
    own = [e for e in out.get("Env") or () if e is not None]
    keys = {e.split("=", 1)[0] for e in own}
    merged_env = [e for e in image.get("Env") or () if e.split("=", 1)[0] not in keys] + own
    out["Env"] = merged_env or out.get("Env")
    for key in ("Labels", "ExposedPorts", "Volumes"):
        if image.get(key):
            out[key] = {**image[key], **(out.get(key) or {})}
    if not out.get("Entrypoint") and out.get("Entrypoint") is None:
        out["Entrypoint"] = image.get("Entrypoint")
        if not out.get("Cmd"):
            out["Cmd"] = image.get("Cmd")
    for key in ("User", "WorkingDir", "StopSignal", "Shell", "OnBuild"):
        if not out.get(key) and image.get(key):
            out[key] = image[key]
    out["Healthcheck"] = _merge_health(out.get("Healthcheck"), image.get("Healthcheck"))
    return out


def _merge_health(own: dict[str, Any] | None, image: dict[str, Any] | None) -> Any:
    if not image:
        return own
    if not own:
        return dict(image)
    merged = dict(own)
    if not merged.get("Test"):
        merged["Test"] = image.get("Test")
    for key in ("Interval", "Timeout", "StartPeriod", "StartInterval", "Retries"):
        if not merged.get(key) and image.get(key):
            merged[key] = image[key]
    return merged
