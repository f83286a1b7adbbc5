"""The commands around a running container: `update`, `events`, `checkpoint` and `restore`.

`update` turns runc's flags (or `-r resources.json`) into `linux.resources` and applies
them with the cgroup driver (every hierarchy, on v1, v2 and hybrid hosts), then records
them in state.json so a later `update` or `events` sees them. `events` prints runc's
event JSON lines: `--stats` once, otherwise a stats event every `--interval` and an
`oom` event whenever the memory controller records a new OOM kill, until the container
stops. Checkpoint and restore need CRIU: its absence (or a version check failing) is
reported as runc reports it.
"""

from __future__ import annotations

import os
import sys

from wharfie.errors import FailedPrecondition, InvalidArgument
from wharfie.oci import jsonio
from wharfie.runtime import lifecycle, state

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from wharfie.runtime.state import State

_UNITS = {"b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def ram_in_bytes(text: str) -> int:
    """docker/go-units RAMInBytes: "512", "10m", "1.5g", "64KiB" (binary units)."""
    t = text.strip().lower()
    num = t.rstrip("bikmgtp")
    unit = t[len(num) :].removesuffix("ib").removesuffix("b") or "b"
    try:
        value = float(num)
    except ValueError:
        raise InvalidArgument(f"invalid size: '{text}'") from None
    if unit not in _UNITS or value < 0:
        raise InvalidArgument(f"invalid size: '{text}'")
    return int(value * _UNITS[unit])


# flag -> (section, key, parser)
_INT = "int"
_UINT = "uint"
_SIZE = "size"
_STR = "str"
UPDATE_FLAGS: dict[str, tuple[str, str, str]] = {
    "--blkio-weight": ("blockIO", "weight", _UINT),
    "--cpu-period": ("cpu", "period", _UINT),
    "--cpu-quota": ("cpu", "quota", _INT),
    "--cpu-share": ("cpu", "shares", _UINT),
    "--cpu-rt-period": ("cpu", "realtimePeriod", _UINT),
    "--cpu-rt-runtime": ("cpu", "realtimeRuntime", _INT),
    "--cpuset-cpus": ("cpu", "cpus", _STR),
    "--cpuset-mems": ("cpu", "mems", _STR),
    "--memory": ("memory", "limit", _SIZE),
    "--memory-reservation": ("memory", "reservation", _SIZE),
    "--memory-swap": ("memory", "swap", _SIZE),
    "--pids-limit": ("pids", "limit", _INT),
}


def _parse_value(flag: str, kind: str, text: str) -> int | str:
    name = flag.lstrip("-")
    if kind == _STR:
        return text
    if kind == _SIZE:
        if text == "-1":
            return -1
        try:
            return ram_in_bytes(text)
        except InvalidArgument as exc:
            raise InvalidArgument(f"invalid value for {name}: {exc}") from None
    try:
        value = int(text)
    except ValueError:
        raise InvalidArgument(f'invalid value "{text}" for flag -{name}: parse error') from None
    if kind == _UINT and value < 0:
        raise InvalidArgument(f'invalid value "{text}" for flag -{name}: parse error')
    return value


def update_resources(flags: dict[str, Any], stdin: Any = None) -> dict[str, Any]:
    """linux.resources from runc's `update` flags, or from `-r FILE|-` (then flags are ignored)."""
    source = flags.get("--resources")
    if source:
        try:
            if source == "-":
                data = (stdin or sys.stdin).buffer.read()
            else:
                with open(source, "rb") as f:
                    data = f.read()
            res = jsonio.loads(data)
        except OSError as exc:
            raise InvalidArgument(f"open {source}: {exc.strerror}") from exc
        except ValueError as exc:
            raise InvalidArgument(f"decode resources {source}: {exc}") from exc
        if not isinstance(res, dict):
            raise InvalidArgument(f"decode resources {source}: expected a JSON object")
        return res
    out: dict[str, Any] = {}
    for flag, (section, key, kind) in UPDATE_FLAGS.items():
        if flag in flags:
            out.setdefault(section, {})[key] = _parse_value(flag, kind, flags[flag])
    for flag in ("--l3-cache-schema", "--mem-bw-schema"):
        if flags.get(flag):
            raise InvalidArgument(f"{flag}: Intel RDT is not enabled on this host")
    return out


def merge(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The container's resources after an update: sections merged key by key."""
    out = dict(old)
    for section, value in new.items():
        if isinstance(value, dict) and isinstance(out.get(section), dict):
            out[section] = {**out[section], **value}
        else:
            out[section] = value
    return out


def update(st: State, resources: dict[str, Any]) -> list[str]:
    from wharfie import cgroups

    status = lifecycle.current_status(st)
    if status == "stopped":
        raise FailedPrecondition("container not running")
    linux = st.config.setdefault("linux", {})
    merged = merge(linux.get("resources") or {}, resources)
    cg = cgroups.from_paths(st.data["cgroup_paths"])
    changed = {k: v for k, v in resources.items() if k != "devices"}
    warnings = cg.set(changed, default_devices=False)
    linux["resources"] = merged
    st.save()
    return warnings


# --- events ----------------------------------------------------------------------


def stats_event(cid: str, stats: dict[str, Any]) -> dict[str, Any]:
    """runc's `{"type": "stats", "id", "data"}` from the cgroup driver's stats."""
    return {"type": "stats", "id": cid, "data": runc_stats(stats)}


def runc_stats(stats: dict[str, Any]) -> dict[str, Any]:
    """The cgroup driver's stats as runc 1.1's `types.Stats` JSON (libcontainer/types):
    the same keys, and `omitempty` fields left out when zero or empty, as Go writes them."""
    data: dict[str, Any] = {}
    cpu = stats.get("cpu")
    if cpu is not None:
        usage = _omitempty(
            {
                "total": cpu.get("usage_ns", 0),
                "percpu": cpu.get("percpu") or [],
                "percpu_kernel": cpu.get("percpu_kernel") or [],
                "percpu_user": cpu.get("percpu_user") or [],
            }
        )
        usage["kernel"] = cpu.get("system_ns", 0)
        usage["user"] = cpu.get("user_ns", 0)
        data["cpu"] = {
            "usage": usage,
            "throttling": _omitempty(
                {
                    "periods": cpu.get("periods", 0),
                    "throttled_periods": cpu.get("throttled_periods", 0),
                    "throttled_time": cpu.get("throttled_ns", 0),
                }
            ),
        }
    mem = stats.get("memory")
    if mem is not None:
        raw = mem.get("stat") or {}
        entry = {
            "limit": mem.get("limit") or UNLIMITED,
            **_omitempty({"usage": mem.get("usage") or 0, "max": mem.get("max_usage") or 0}),
            "failcnt": mem.get("failcnt") or 0,
        }
        data["memory"] = {
            **_omitempty({"cache": raw.get("cache", raw.get("file", 0))}),
            "usage": entry,
            **_omitempty({"raw": raw}),
        }
    pids = stats.get("pids")
    if pids is not None:
        data["pids"] = _omitempty({"current": pids.get("current", 0), "limit": pids.get("limit")})
    blkio = stats.get("blkio")
    if blkio is not None:
        data["blkio"] = {
            key: [_omitempty(e) for e in entries]
            for key, entries in (blkio.get("entries") or {}).items()
            if entries
        }
    return data


UNLIMITED = 9223372036854771712  # what runc reports as the limit of an unlimited v1 counter


def _omitempty(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v}


_DURATION_UNITS = ("ns", "us", "µs", "ms", "s", "m", "h")  # longest match first


def parse_interval(text: str) -> float:
    """A Go duration as runc takes it: "5s", "500ms", "1m", "1m30s"."""
    units = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
    total, num, i = 0.0, "", 0
    while i < len(text):
        ch = text[i]
        if ch.isdigit() or ch == ".":
            num += ch
            i += 1
            continue
        unit = next(
            (u for u in ("ns", "us", "µs", "ms", "s", "m", "h") if text.startswith(u, i)), ""
        )
        if not unit or not num:
            break
        total += float(num) * units[unit]
        num, i = "", i + len(unit)
    if num or i != len(text) or not text or total <= 0:
        raise InvalidArgument(f'invalid value "{text}" for flag -interval: parse error')
    return total


def events(st: State, interval: float, once: bool) -> int:
    import time

    from wharfie import cgroups

    if lifecycle.current_status(st) == "stopped":
        raise FailedPrecondition("container with id " + st.id + " is not running")
    cg = cgroups.from_paths(st.data["cgroup_paths"])
    if once:
        _emit(stats_event(st.id, cg.stats()))
        return 0
    ooms = _oom_count(st)
    while True:
        now = _oom_count(st)
        if now > ooms:
            _emit({"type": "oom", "id": st.id})
        ooms = now
        if lifecycle.current_status(st) == "stopped":
            return 0
        _emit(stats_event(st.id, cg.stats()))
        time.sleep(interval)


def _emit(event: dict[str, Any]) -> None:
    sys.stdout.write(jsonio.dumps(event) + "\n")
    sys.stdout.flush()


def oom_killed(root: str, cid: str) -> bool:
    """The in-process form of the runtime's OOM report, for an engine that embeds it: the
    container's memory cgroup recorded an OOM kill. Unlike `events`, this also answers for
    a stopped container that has not been deleted yet (its cgroup is still there)."""
    return _oom_count(state.load(root, cid)) > 0


def stats(root: str, cid: str) -> dict[str, Any]:
    """The in-process form of `events --stats`: runc's stats data of a running container."""
    from wharfie import cgroups

    st = state.load(root, cid)
    if lifecycle.current_status(st) == "stopped":
        raise FailedPrecondition("container with id " + st.id + " is not running")
    return runc_stats(cgroups.from_paths(st.data["cgroup_paths"]).stats())


def _oom_count(st: State) -> int:
    """OOM kills so far: v1 memory.oom_control's oom_kill, or v2 memory.events'."""
    for key, path in st.data["cgroup_paths"].items():
        name = "memory.events" if key == "" else "memory.oom_control"
        if key not in ("", "memory"):
            continue
        try:
            with open(os.path.join(path, name)) as f:
                for line in f:
                    field, _, value = line.partition(" ")
                    if field == "oom_kill":
                        return int(value)
        except OSError:
            continue
    return 0


# --- checkpoint / restore -----------------------------------------------------------


def criu_version(criu: str) -> str:
    """Run `criu --version`; a missing or broken CRIU fails as runc's version check does."""
    import shutil
    import subprocess

    path = criu if "/" in criu else shutil.which(criu)
    if path is None:
        raise FailedPrecondition(
            f'CRIU version check failed: exec: "{criu}": executable file not found in $PATH'
        )
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, check=False)
    except OSError as exc:
        raise FailedPrecondition(
            f"CRIU version check failed: fork/exec {path}: {(exc.strerror or '').lower()}"
        ) from exc
    if out.returncode != 0:
        raise FailedPrecondition(f"CRIU version check failed: {out.stderr.strip()}")
    for word in out.stdout.split():
        if word[:1].isdigit():
            return word
    raise FailedPrecondition(f"CRIU version check failed: unexpected output {out.stdout!r}")


def checkpoint_or_restore(command: str, criu: str, st: State | None) -> int:
    if command == "checkpoint" and st is not None:
        status = lifecycle.current_status(st)
        if status not in ("running", "paused"):
            raise FailedPrecondition("container is not running")
    version = criu_version(criu)
    broken = criu_check(criu)
    if broken:  # Debian 12's CRIU 3.17 on a 6.x kernel: "vdso: Failed to fill self vdso symtable"
        raise FailedPrecondition(
            f"{command}: criu {version} does not work on this kernel "
            f"(`criu check`: {broken}); a newer CRIU is needed"
        )
    raise FailedPrecondition(
        f"{command} needs CRIU's RPC interface, which wharfie-runtime does not drive yet "
        f"(found criu {version}, and `criu check` passes); use runc for checkpoint/restore"
    )


def criu_check(criu: str) -> str:
    """`criu check`: "" when CRIU says this kernel has what it needs, else its first error."""
    import shutil
    import subprocess

    path = criu if "/" in criu else (shutil.which(criu) or criu)
    try:
        out = subprocess.run(
            [path, "check"], capture_output=True, text=True, check=False, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"could not run it: {exc}"
    if out.returncode == 0:
        return ""
    lines = (out.stderr + out.stdout).strip().splitlines()
    errors = [ln for ln in lines if ln.startswith("Error")] or lines
    return errors[0].strip() if errors else f"exit status {out.returncode}"


def load_or_none(root: str, cid: str) -> State | None:
    from wharfie.errors import NotFound

    try:
        return state.load(root, cid)
    except NotFound:
        return None
