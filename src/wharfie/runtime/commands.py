"""One handler per wharfie-runtime command: parse the flags into a call, render the result."""

from __future__ import annotations

import os
import sys

from wharfie.errors import FailedPrecondition, InvalidArgument, NotFound
from wharfie.runtime import lifecycle, state

# `container` (the create path: namespaces, mounts, libc through ctypes) is imported only by
# the commands that make processes: start, state, kill and delete stay cheap.

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from wharfie.runtime.cli import Args
    from wharfie.runtime.container import CreateOptions


def _root(args: Args) -> str:
    return str(args.glob.get("--root") or state.DEFAULT_ROOT)


def _warn(warnings: list[str]) -> None:
    for w in warnings:
        sys.stderr.write(f"warning: {w}\n")


def _check_cgroup_driver(args: Args, config: str | None = None) -> None:
    """--systemd-cgroup: runc's errors (cgroupsPath format, no systemd); with systemd running,
    ours has no systemd driver and says so."""
    if not args.glob.get("--systemd-cgroup"):
        return
    if config is not None:
        from wharfie.oci import jsonio

        try:
            with open(config, "rb") as f:
                path = (jsonio.loads(f.read()).get("linux") or {}).get("cgroupsPath") or ""
        except (OSError, ValueError, AttributeError):
            path = ""  # create reports the bad config itself
        if path and path.count(":") != 2:
            raise InvalidArgument(
                'expected cgroupsPath to be of format "slice:prefix:name" for systemd '
                f'cgroups, got "{path}" instead'
            )
    if not os.path.isdir("/run/systemd/system"):
        raise FailedPrecondition(
            "systemd not running on this host, cannot use systemd cgroups manager"
        )
    raise FailedPrecondition(
        "--systemd-cgroup: wharfie-runtime has no systemd cgroup driver; "
        "drop the flag to use the cgroupfs driver"
    )


def _create_options(args: Args) -> CreateOptions:
    from wharfie.runtime import container

    bundle = args.flags.get("--bundle") or os.getcwd()
    from wharfie.runtime.cli import rootless_mode

    rootless_mode(args.glob)  # validated as runc does; cgroup errors are never ignored here
    _check_cgroup_driver(args, os.path.join(bundle, "config.json"))
    opts = container.CreateOptions(
        _root(args),
        args.flags.get("--bundle") or os.getcwd(),
        console_socket=args.flags.get("--console-socket"),
        pid_file=args.flags.get("--pid-file"),
        no_pivot=bool(args.flags.get("--no-pivot")),
    )
    opts.preserve_fds = _preserve_fds(args)
    return opts


def _preserve_fds(args: Args) -> int:
    text = args.flags.get("--preserve-fds") or "0"
    if not text.isdigit():
        raise InvalidArgument(f"--preserve-fds {text!r}: expected a number of file descriptors")
    return int(text)


def cmd_create(args: Args) -> int:
    from wharfie.runtime import container

    opts = _create_options(args)
    container.create(opts, args.one_id())
    _warn(opts.warn)
    return 0


def cmd_run(args: Args) -> int:
    from wharfie.runtime import foreground

    opts = _create_options(args)
    opts.keep = bool(args.flags.get("--keep"))
    opts.subreaper = not args.flags.get("--no-subreaper")
    try:
        return foreground.run_container(opts, args.one_id(), bool(args.flags.get("--detach")))
    finally:
        _warn(opts.warn)


def cmd_start(args: Args) -> int:
    _warn(lifecycle.start(state.load(_root(args), args.one_id())))
    return 0


def cmd_state(args: Args) -> int:
    st = state.load(_root(args), args.one_id())
    print(dumps_indented(st.oci_state(lifecycle.current_status(st))))
    return 0


def dumps_indented(obj: Any, indent: int = 2, level: int = 0) -> str:
    """json.dumps(obj, indent=indent) without `import json` (~9 ms: `re`, `enum`), for
    str-keyed objects; scalars go through the C encoder (jsonio)."""
    from wharfie.oci import jsonio

    if isinstance(obj, dict | list | tuple) and obj:
        pad = "\n" + " " * (indent * (level + 1))
        if isinstance(obj, dict):
            parts = [
                f"{jsonio.dumps(str(k))}: {dumps_indented(v, indent, level + 1)}"
                for k, v in obj.items()
            ]
            opening, closing = "{", "}"
        else:
            parts = [dumps_indented(v, indent, level + 1) for v in obj]
            opening, closing = "[", "]"
        return opening + pad + ("," + pad).join(parts) + "\n" + " " * (indent * level) + closing
    return jsonio.dumps(obj)


def cmd_kill(args: Args) -> int:
    st = state.load(_root(args), args.positional[0])
    sig = parse_signal(args.positional[1] if len(args.positional) == 2 else "SIGTERM")
    lifecycle.kill(st, sig, bool(args.flags.get("--all")))
    return 0


def parse_signal(text: str) -> int:
    import _signal

    if text.isdigit():
        num = int(text)
        if 0 < num < _signal.NSIG:
            return num
    else:
        name = text.upper()
        name = name if name.startswith("SIG") else "SIG" + name
        if name.startswith("SIGRTMIN+") or name.startswith("SIGRTMAX-"):
            base = int(_signal.SIGRTMIN if "MIN" in name else _signal.SIGRTMAX)
            off = name[9:]
            if off.isdigit():
                return base + int(off) if "MIN" in name else base - int(off)
        found = getattr(_signal, name, None)
        if isinstance(found, int) and not name.startswith("SIG_"):
            return found
    raise InvalidArgument(f'unknown signal "{text}"')


def cmd_delete(args: Args) -> int:
    cid = args.one_id()
    force = bool(args.flags.get("--force"))
    try:
        st = state.load(_root(args), cid)
    except NotFound:
        _remove_stale_dir(_root(args), cid)
        if force:
            return 0
        raise
    _warn(lifecycle.delete(st, force))
    return 0


def _remove_stale_dir(root: str, cid: str) -> None:
    """A create killed before it wrote state.json leaves a bare directory: remove it."""
    path = state.container_dir(root, cid)
    if os.path.isdir(path):
        state.remove_dir(path)


def cmd_pause(args: Args) -> int:
    lifecycle.pause(state.load(_root(args), args.one_id()))
    return 0


def cmd_resume(args: Args) -> int:
    lifecycle.resume(state.load(_root(args), args.one_id()))
    return 0


def cmd_list(args: Args) -> int:
    root = _root(args)
    fmt = _format(args)
    states = []
    for cid in state.list_ids(root):
        try:
            st = state.load(root, cid)
        except NotFound:
            continue  # deleted while we listed
        states.append(st.oci_state(lifecycle.current_status(st)))
    if args.flags.get("--quiet"):
        for s in states:
            print(s["id"])
    elif fmt == "json":
        import json

        print(json.dumps(states))
    else:
        rows = [["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]]
        rows += [
            [s["id"], str(s["pid"]), s["status"], s["bundle"], s["created"], s["owner"]]
            for s in states
        ]
        print_table(rows)
    return 0


def _format(args: Args) -> str:
    fmt = str(args.flags.get("--format", "table"))
    if fmt not in ("table", "json"):
        raise InvalidArgument("invalid format option")
    return fmt


def print_table(rows: list[list[str]]) -> None:
    """Columns padded like Go's tabwriter(minwidth 12, padding 3), as runc prints."""
    widths = [max(12, max(len(r[i]) for r in rows) + 3) for i in range(len(rows[0]))]
    for r in rows:
        print("".join(c.ljust(w) for c, w in zip(r[:-1], widths, strict=False)) + r[-1])


def cmd_ps(args: Args) -> int:
    from wharfie import cgroups

    st = state.load(_root(args), args.positional[0])
    fmt = _format(args)
    pids = sorted(cgroups.from_paths(st.data["cgroup_paths"]).pids())
    if fmt == "json":
        import json

        print(json.dumps(pids or None))  # runc marshals an empty Go slice as null
        return 0
    return _ps_table(pids, args.positional[1:] or ["-ef"])


def _ps_table(pids: list[int], ps_args: list[str]) -> int:
    import subprocess

    out = subprocess.run(["ps", *ps_args], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise InvalidArgument(f"ps {' '.join(ps_args)}: {out.stderr.strip()}")
    lines = out.stdout.splitlines()
    if not lines:
        return 0
    header = lines[0].split()
    if "PID" not in header:
        raise InvalidArgument(f"ps {' '.join(ps_args)}: output has no PID column")
    col = header.index("PID")
    print(lines[0])
    wanted = {str(p) for p in pids}
    for line in lines[1:]:
        fields = line.split()
        if len(fields) > col and fields[col] in wanted:
            print(line)
    return 0


def cmd_exec(args: Args) -> int:
    from wharfie.runtime import execproc, foreground

    _check_cgroup_driver(args)
    st = state.load(_root(args), args.positional[0])
    proc = exec_process_spec(args, st.config.get("process") or {})
    detach = bool(args.flags.get("--detach"))
    opts = execproc.ExecOptions(detach=detach, pid_file=args.flags.get("--pid-file"))
    opts.ignore_paused = bool(args.flags.get("--ignore-paused"))
    opts.sub_cgroups = execproc.parse_sub_cgroups(args.flags.get("--cgroup") or [])
    opts.preserve_fds = _preserve_fds(args)
    ours = _exec_console(args, proc, opts, detach)
    if not detach:
        foreground.become_subreaper()
    pid = execproc.run(st, proc, opts)
    if opts.console_fd >= 0:
        os.close(opts.console_fd)
    if opts.pid_file:
        from wharfie.runtime.container import write_pid_file

        write_pid_file(opts.pid_file, pid)
    if detach:
        return 0
    foreground.forward_signals(pid)
    if ours >= 0:
        foreground.attach_terminal(ours)
    return foreground.wait_exit(pid)


def _exec_console(args: Args, proc: dict[str, Any], opts: Any, detach: bool) -> int:
    """Connect the console for a tty exec; returns our end of a private pair, or -1."""
    if not proc.get("terminal"):
        return -1
    from wharfie.runtime import console

    if args.flags.get("--console-socket"):
        opts.console_fd = console.connect(args.flags["--console-socket"])
        return -1
    if detach:
        raise InvalidArgument(
            "cannot allocate tty if runtime will detach without setting console socket"
        )
    ours, opts.console_fd = console.socketpair()
    return ours


def exec_process_spec(args: Args, base: dict[str, Any]) -> dict[str, Any]:
    """The process to exec: --process FILE, or the container's process with these overrides."""
    from wharfie.oci import runtime_spec

    if args.flags.get("--process"):
        from wharfie.oci import jsonio

        with open(args.flags["--process"], "rb") as f:
            proc = jsonio.loads(f.read())
        runtime_spec.process("process", proc)
        return dict(proc)
    cmd = args.positional[1:]
    if not cmd:
        raise InvalidArgument("exec: args must not be empty")
    proc = dict(base)
    proc["args"] = cmd
    proc["terminal"] = bool(args.flags.get("--tty"))
    proc["env"] = list(base.get("env") or []) + list(args.flags.get("--env") or [])
    if args.flags.get("--cwd"):
        proc["cwd"] = args.flags["--cwd"]
    proc["user"] = _exec_user(args, dict(base.get("user") or {"uid": 0, "gid": 0}))
    if args.flags.get("--cap"):
        proc["capabilities"] = _add_caps(base.get("capabilities") or {}, args.flags["--cap"])
    if args.flags.get("--no-new-privs"):
        proc["noNewPrivileges"] = True
    runtime_spec.process("process", proc)
    return proc


def _exec_user(args: Args, user: dict[str, Any]) -> dict[str, Any]:
    spec = args.flags.get("--user")
    if spec:
        uid, _, gid = spec.partition(":")
        if not uid.isdigit() or (gid and not gid.isdigit()):
            raise InvalidArgument(f"--user {spec!r}: expected UID[:GID] as numbers")
        user["uid"] = int(uid)
        user["gid"] = int(gid) if gid else 0
    if args.flags.get("--additional-gids"):
        user["additionalGids"] = [int(g) for g in args.flags["--additional-gids"]]
    return user


def _add_caps(caps: dict[str, Any], extra: list[str]) -> dict[str, Any]:
    out = {k: list(v or []) for k, v in caps.items()}
    for kind in ("bounding", "effective", "permitted", "inheritable", "ambient"):
        out.setdefault(kind, [])
        out[kind] += [c for c in extra if c not in out[kind]]
    return out


def cmd_spec(args: Args) -> int:
    from wharfie.runtime import spec_template

    path = os.path.join(args.flags.get("--bundle") or ".", "config.json")
    if os.path.exists(path):
        raise InvalidArgument("File config.json exists. Remove it first")
    spec = spec_template.runc_template(rootless=bool(args.flags.get("--rootless")))
    with open(path, "w") as f:
        f.write(spec_template.render(spec))
    return 0


def cmd_features(args: Args) -> int:
    import json

    from wharfie.runtime.features import features

    print(json.dumps(features(), indent=4))
    return 0


def cmd_update(args: Args) -> int:
    from wharfie.runtime import admin

    _check_cgroup_driver(args)
    st = state.load(_root(args), args.one_id())
    _warn(admin.update(st, admin.update_resources(args.flags)))
    return 0


def cmd_events(args: Args) -> int:
    import gc

    from wharfie.runtime import admin

    gc.enable()  # the launcher disables it for the short commands; this one runs for days

    st = state.load(_root(args), args.one_id())
    interval = admin.parse_interval(str(args.flags.get("--interval") or "5s"))
    return admin.events(st, interval, bool(args.flags.get("--stats")))


def cmd_checkpoint(args: Args) -> int:
    from wharfie.runtime import admin

    st = state.load(_root(args), args.one_id())
    return admin.checkpoint_or_restore("checkpoint", str(args.glob.get("--criu") or "criu"), st)


def cmd_restore(args: Args) -> int:
    from wharfie.runtime import admin
    from wharfie.runtime.cli import rootless_mode

    root, cid = _root(args), args.one_id()
    rootless_mode(args.glob)
    if admin.load_or_none(root, cid) is not None:
        raise InvalidArgument("container with given ID already exists")
    return admin.checkpoint_or_restore("restore", str(args.glob.get("--criu") or "criu"), None)
