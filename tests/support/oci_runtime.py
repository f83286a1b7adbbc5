"""Drive an OCI runtime binary with runc's command line, and check what it leaves behind.

The runtime test suite (tests/runtime) is black-box: it runs a runtime *binary* on a
fresh busybox bundle per test. Which binary is chosen by `WHARFIE_TEST_RUNTIME`:

    unset or "wharfie"  <sys.prefix>/bin/wharfie-runtime
    "runc" / "crun"     that binary from PATH (or /usr/sbin/runc, /usr/bin/crun)
    anything else       a path to a runtime binary with runc's CLI

Every call's stdout and stderr go to files (never pipes): a detached or created
container inherits the runtime's stdio when `process.terminal` is false, and a pipe
it keeps open would hang the caller. `Result.read()` re-reads those files, so the
output a detached container writes later can be collected too.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RUNTIME_ENV = "WHARFIE_TEST_RUNTIME"
CGROUP_ROOT = Path("/sys/fs/cgroup")
CGROUP_PARENT = "wharfie-test"
FALLBACK_PATHS = {"runc": "/usr/sbin/runc", "crun": "/usr/bin/crun"}
DEFAULT_TIMEOUT = 30.0


@dataclass(frozen=True)
class RuntimeBinary:
    """The runtime under test: `name` is "wharfie", "runc", "crun" or the file's name."""

    name: str
    path: Path
    requested: str

    @property
    def missing_reason(self) -> str | None:
        if not self.path.is_file():
            return f"runtime binary {self.path} not found ({RUNTIME_ENV}={self.requested!r})"
        if not os.access(self.path, os.X_OK):
            return f"runtime binary {self.path} not executable ({RUNTIME_ENV}={self.requested!r})"
        return None


def resolve_runtime(value: str | None = None) -> RuntimeBinary:
    """Turn the `WHARFIE_TEST_RUNTIME` value into a binary path and a short name."""
    requested = value if value is not None else os.environ.get(RUNTIME_ENV, "")
    requested = requested.strip() or "wharfie"
    if requested == "wharfie":
        return RuntimeBinary("wharfie", Path(sys.prefix) / "bin" / "wharfie-runtime", requested)
    if requested in FALLBACK_PATHS:
        found = shutil.which(requested) or FALLBACK_PATHS[requested]
        return RuntimeBinary(requested, Path(found), requested)
    path = Path(requested)
    base = path.name
    name = next((n for n in ("wharfie", "runc", "crun") if n in base), base)
    return RuntimeBinary(name, path, requested)


@dataclass
class Result:
    """A finished runtime call. stdout/stderr are read when the call returned."""

    argv: list[str]
    returncode: int
    stdout: str
    stderr: str
    out_path: Path
    err_path: Path

    def read(self) -> tuple[str, str]:
        """Re-read the output files (a detached container may have written more since)."""
        return (
            self.out_path.read_text(errors="replace"),
            self.err_path.read_text(errors="replace"),
        )

    def describe(self) -> str:
        return (
            f"$ {' '.join(self.argv)}\n-> exit {self.returncode}\n"
            f"--- stdout ---\n{self.stdout}\n--- stderr ---\n{self.stderr}"
        )

    def check(self) -> Result:
        if self.returncode != 0:
            raise AssertionError(f"runtime call failed:\n{self.describe()}")
        return self

    def fails(self) -> Result:
        if self.returncode == 0:
            raise AssertionError(f"runtime call unexpectedly succeeded:\n{self.describe()}")
        return self


class Runtime:
    """One runtime binary bound to one `--root` state directory."""

    def __init__(self, binary: RuntimeBinary, root: Path, iodir: Path) -> None:
        self.binary = binary
        self.root = root
        self.iodir = iodir
        self._n = itertools.count()
        iodir.mkdir(parents=True, exist_ok=True)

    @property
    def name(self) -> str:
        return self.binary.name

    def __call__(
        self,
        *args: str,
        timeout: float = DEFAULT_TIMEOUT,
        cwd: Path | None = None,
        stdin: Any = subprocess.DEVNULL,
        global_args: Iterable[str] = (),
    ) -> Result:
        argv = [str(self.binary.path), "--root", str(self.root), *global_args, *args]
        n = next(self._n)
        out_path = self.iodir / f"{n:03d}-{args[0] if args else 'none'}.out"
        err_path = out_path.with_suffix(".err")
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            try:
                proc = subprocess.run(
                    argv, stdin=stdin, stdout=out, stderr=err, cwd=cwd, timeout=timeout
                )
                code = proc.returncode
            except subprocess.TimeoutExpired as exc:
                raise AssertionError(
                    f"runtime call timed out after {timeout}s: {' '.join(argv)}\n"
                    f"stderr: {err_path.read_text(errors='replace')}"
                ) from exc
        res = Result(argv, code, "", "", out_path, err_path)
        res.stdout, res.stderr = res.read()
        return res

    def spawn(self, *args: str) -> Spawned:
        """Start a runtime call without waiting (e.g. a foreground `run` to signal)."""
        argv = [str(self.binary.path), "--root", str(self.root), *args]
        n = next(self._n)
        out_path = self.iodir / f"{n:03d}-{args[0] if args else 'none'}.out"
        err_path = out_path.with_suffix(".err")
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        return Spawned(argv, proc, out_path, err_path)


@dataclass
class Spawned:
    argv: list[str]
    proc: subprocess.Popen[bytes]
    out_path: Path
    err_path: Path

    def wait(self, timeout: float = DEFAULT_TIMEOUT) -> Result:
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired as exc:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"runtime call timed out: {' '.join(self.argv)}") from exc
        res = Result(self.argv, code, "", "", self.out_path, self.err_path)
        res.stdout, res.stderr = res.read()
        return res

    def stop(self) -> None:
        """Kill the runtime process we started, if it still runs (test clean-up)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@dataclass
class Container:
    """A container id, its bundle and its spec, driven through a `Runtime`."""

    rt: Runtime
    id: str
    bundle: Path
    spec: dict[str, Any]
    pids: set[tuple[int, str]] = field(default_factory=set)
    extra_paths: list[Path] = field(default_factory=list)

    @property
    def rootfs(self) -> Path:
        return self.bundle / "rootfs"

    @property
    def cgroup_path(self) -> str:
        return self.spec.get("linux", {}).get("cgroupsPath", f"/{CGROUP_PARENT}/{self.id}")

    @property
    def process(self) -> dict[str, Any]:
        return self.spec["process"]

    def set_args(self, *args: str) -> Container:
        self.spec["process"]["args"] = list(args)
        return self

    def sh(self, script: str) -> Container:
        """Make the container process `sh -c script`."""
        return self.set_args("sh", "-c", script)

    def write_spec(self) -> None:
        (self.bundle / "config.json").write_text(json.dumps(self.spec, indent=2))

    def add_mount(self, mount: dict[str, Any]) -> None:
        self.spec.setdefault("mounts", []).append(mount)

    def shared_dir(self, dest: str = "/shared", name: str = "shared") -> Path:
        """A host directory (mode 0777) bind-mounted read-write at `dest`."""
        host = self.bundle / name
        host.mkdir(exist_ok=True)
        host.chmod(0o777)
        self.add_mount(
            {"destination": dest, "type": "bind", "source": str(host), "options": ["rbind", "rw"]}
        )
        return host

    def add_tmpfs(self, dest: str, *options: str) -> None:
        opts = list(options) or ["nosuid", "nodev", "mode=1777", "size=4m"]
        self.add_mount({"destination": dest, "type": "tmpfs", "source": "tmpfs", "options": opts})

    # --- runtime commands -------------------------------------------------------------

    def run(self, *extra: str, timeout: float = DEFAULT_TIMEOUT) -> Result:
        """`run` in the foreground: returns when the container exits (its exit code)."""
        self.write_spec()
        return self.rt("run", "--bundle", str(self.bundle), *extra, self.id, timeout=timeout)

    def run_background(self, *extra: str) -> Spawned:
        """`run` in the foreground, but without waiting for it."""
        self.write_spec()
        return self.rt.spawn("run", "--bundle", str(self.bundle), *extra, self.id)

    def run_detached(self, *extra: str) -> Result:
        self.write_spec()
        res = self.rt("run", "-d", "--bundle", str(self.bundle), *extra, self.id)
        if res.returncode == 0:
            self._remember_pid()
        return res

    def create(self, *extra: str) -> Result:
        self.write_spec()
        res = self.rt("create", "--bundle", str(self.bundle), *extra, self.id)
        if res.returncode == 0:
            self._remember_pid()
        return res

    def start(self) -> Result:
        return self.rt("start", self.id)

    def state(self) -> dict[str, Any]:
        res = self.rt("state", self.id).check()
        return json.loads(res.stdout)

    def status(self) -> str | None:
        res = self.rt("state", self.id)
        if res.returncode != 0:
            return None
        return str(json.loads(res.stdout).get("status"))

    def init_pid(self) -> int:
        return int(self.state()["pid"])

    def kill(self, sig: str | None = None, *, all_processes: bool = False) -> Result:
        """`kill [--all] ID [SIGNAL]`."""
        opts = ["--all"] if all_processes else []
        return self.rt("kill", *opts, self.id, *([sig] if sig else []))

    def exec(self, *args: str, timeout: float = DEFAULT_TIMEOUT, **kw: Any) -> Result:
        """`exec [options...] ID cmd...`: options before '--', command after it."""
        if "--" in args:
            i = args.index("--")
            opts, cmd = args[:i], args[i + 1 :]
        else:
            opts, cmd = (), args
        return self.rt("exec", *opts, self.id, *cmd, timeout=timeout, **kw)

    def delete(self, *extra: str) -> Result:
        return self.rt("delete", *extra, self.id)

    def wait_status(self, wanted: str, timeout: float = 10.0) -> str | None:
        deadline = time.monotonic() + timeout
        status = self.status()
        while status != wanted and time.monotonic() < deadline:
            time.sleep(0.02)
            status = self.status()
        return status

    def _remember_pid(self) -> None:
        with contextlib.suppress(Exception):
            pid = self.init_pid()
            start = proc_starttime(pid) if pid > 0 else None
            # Only with its start time: pids wrap here (pid_max 32768), and a bare pid could
            # later name another test's process, which the leak check would then SIGKILL.
            if start:
                self.pids.add((pid, start))


MakeContainer = Callable[..., Container]

# --- host-side inspection --------------------------------------------------------------


def proc_starttime(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def proc_alive(pid: int, starttime: str) -> bool:
    """True if `pid` still runs (not a zombie) and is the same process (same start time)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    fields = stat.rsplit(")", 1)[1].split()
    return fields[0] != "Z" and (not starttime or fields[19] == starttime)


def cgroup_dirs_named(name: str) -> list[Path]:
    """Every directory called `name` anywhere under /sys/fs/cgroup/*/."""
    found = []
    for hierarchy in sorted(CGROUP_ROOT.iterdir()):
        if not hierarchy.is_dir():
            continue
        for dirpath, dirnames, _ in os.walk(hierarchy):
            if name in dirnames:
                found.append(Path(dirpath) / name)
    return found


def mounts_referencing(path: Path) -> list[str]:
    """Lines of /proc/self/mountinfo whose mount point or root mention `path`."""
    needle = str(path)
    lines = Path("/proc/self/mountinfo").read_text().splitlines()
    return [line for line in lines if needle in line]


def cgroup_file(controller: str, cgroup_path: str, v1_name: str, v2_name: str) -> Path:
    """The host file for a cgroup setting: the v1 controller's file, else the unified one."""
    rel = cgroup_path.lstrip("/")
    v1 = CGROUP_ROOT / controller
    if (v1 / "cgroup.procs").exists() and not (v1 / "cgroup.controllers").exists():
        return v1 / rel / v1_name
    unified = CGROUP_ROOT / "unified"
    if not (unified / "cgroup.controllers").exists():
        unified = CGROUP_ROOT
    return unified / rel / v2_name


def find_leaks(ctr: Container) -> list[str]:
    leaks = []
    for line in mounts_referencing(ctr.bundle):
        leaks.append(f"mount left behind: {line}")
    for extra in ctr.extra_paths:
        for line in mounts_referencing(extra):
            leaks.append(f"mount left behind: {line}")
    for d in cgroup_dirs_named(ctr.id):
        leaks.append(f"cgroup directory left behind: {d}")
    state_dir = ctr.rt.root / ctr.id
    if state_dir.exists():
        leaks.append(f"state directory left behind: {state_dir}")
    for pid, start in ctr.pids:
        if start and proc_alive(pid, start):
            leaks.append(f"container process {pid} still running")
    return leaks


def scrub(ctr: Container) -> None:
    """Best-effort removal of what a runtime leaked, so one bad test does not poison others."""
    for d in cgroup_dirs_named(ctr.id):  # a frozen process cannot die: thaw first
        for name, value in (("freezer.state", "THAWED"), ("cgroup.freeze", "0")):
            if (d / name).exists():
                with contextlib.suppress(OSError):
                    (d / name).write_text(value)
    for d in cgroup_dirs_named(ctr.id):
        with contextlib.suppress(OSError):
            for pid in (d / "cgroup.procs").read_text().split():
                os.kill(int(pid), signal.SIGKILL)
    for pid, start in ctr.pids:
        if start and proc_alive(pid, start):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
    time.sleep(0.1)
    for d in sorted(cgroup_dirs_named(ctr.id), key=lambda p: -len(p.parts)):
        for sub in sorted((p for p in d.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
            with contextlib.suppress(OSError):
                sub.rmdir()
        with contextlib.suppress(OSError):
            d.rmdir()
    for line in reversed(mounts_referencing(ctr.bundle)):
        target = line.split()[4]
        subprocess.run(["umount", "-l", target], capture_output=True, check=False)
    shutil.rmtree(ctr.rt.root / ctr.id, ignore_errors=True)


def cleanup_and_check(ctr: Container, grace: float = 2.0) -> list[str]:
    """`delete -f` the container, then report (and scrub) anything it left behind."""
    ctr.rt("delete", "-f", ctr.id)
    deadline = time.monotonic() + grace
    leaks = find_leaks(ctr)
    while leaks and time.monotonic() < deadline:
        time.sleep(0.05)
        leaks = find_leaks(ctr)
    if leaks:
        scrub(ctr)
    return leaks


def new_container_id() -> str:
    return f"wt-{uuid.uuid4().hex[:12]}"


# --- spec helpers ------------------------------------------------------------------------

# Capability numbers from linux/capability.h.
CAPABILITIES = [
    "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID",
    "SETUID", "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN",
    "NET_RAW", "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE",
    "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME",
    "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP",
    "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ",
    "PERFMON", "BPF", "CHECKPOINT_RESTORE",
]  # fmt: skip


def cap_mask(names: Iterable[str]) -> int:
    mask = 0
    for name in names:
        mask |= 1 << CAPABILITIES.index(name.removeprefix("CAP_"))
    return mask


def parse_proc_status_caps(text: str) -> dict[str, int]:
    """{'CapInh': int, 'CapPrm': ..., ...} from /proc/<pid>/status text."""
    return {m[1]: int(m[2], 16) for m in re.finditer(r"^(Cap\w+):\s*([0-9a-f]+)$", text, re.M)}
