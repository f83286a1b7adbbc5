"""`wharfie-vm`: an OCI runtime with runc's command line that runs each container in a microVM.

```
wharfie-vm [--root DIR] [--log FILE] [--log-format text|json] [--debug] COMMAND
  create [--bundle DIR] [--console-socket PATH] [--pid-file FILE] ID
  start ID | run [-d] [--bundle DIR] [--console-socket PATH] [--pid-file FILE] ID
  state ID | kill [--all] ID [SIGNAL] | delete [-f] ID | list | ps [--format json] ID
  exec [--process FILE | ARGS...] [-t] [--console-socket PATH] [-d] [--pid-file FILE]
       [-e KEY=VALUE]... [--cwd DIR] [-u UID[:GID]] ID
  pause ID | resume ID | features
  update -r RESOURCES.json ID
  checkpoint --image-path DIR [--leave-running] ID
  restore --image-path DIR [-d] [--bundle DIR] [--console-socket PATH] [--pid-file FILE] ID
```

Errors go to stderr, and to `--log` (JSON lines as runc's), in runc's wording where runc has
one. Nothing is written to stdout or stderr on success when `--log` is given: a runtime's
stdio belongs to the container.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from typing import Any

from wharfie.errors import WharfieError
from wharfie.vm import state as vmstate

DEFAULT_ROOT = "/run/wharfie-vm"


class CLIError(Exception):
    def __init__(self, msg: str, code: int = 1) -> None:
        super().__init__(msg)
        self.code = code


class Log:
    def __init__(self, path: str | None, fmt: str) -> None:
        self.path, self.fmt = path, fmt

    def write(self, level: str, msg: str) -> None:
        if self.path:
            rec = (
                json.dumps({"level": level, "msg": msg, "time": _now()})
                if self.fmt == "json"
                else f'time="{_now()}" level={level} msg="{msg}"'
            )
            try:
                with open(self.path, "a") as f:
                    f.write(rec + "\n")
            except OSError:
                pass
        if level == "error" or not self.path:
            print(f"{level}: {msg}" if level != "error" else msg, file=sys.stderr)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="wharfie-vm")
    p.add_argument("--root", default=DEFAULT_ROOT)
    p.add_argument("--log")
    p.add_argument("--log-format", default="text")
    p.add_argument("--debug", action="store_true")
    p.add_argument("--systemd-cgroup", action="store_true")
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("create", "run"):
        c = sub.add_parser(name)
        c.add_argument("--bundle", "-b", default=".")
        c.add_argument("--console-socket")
        c.add_argument("--pid-file")
        c.add_argument("--no-pivot", action="store_true")
        c.add_argument("--no-new-keyring", action="store_true")
        if name == "run":
            c.add_argument("-d", "--detach", action="store_true")
        c.add_argument("id")
    for name in ("start", "state", "pause", "resume"):
        sub.add_parser(name).add_argument("id")
    k = sub.add_parser("kill")
    k.add_argument("--all", "-a", action="store_true")
    k.add_argument("id")
    k.add_argument("signal", nargs="?", default="TERM")
    d = sub.add_parser("delete")
    d.add_argument("--force", "-f", action="store_true")
    d.add_argument("id")
    ls = sub.add_parser("list")
    ls.add_argument("--format", "-f", default="table")
    ls.add_argument("-q", "--quiet", action="store_true")
    ps = sub.add_parser("ps")
    ps.add_argument("--format", "-f", default="table")
    ps.add_argument("id")
    ps.add_argument("ps_args", nargs="*")
    e = sub.add_parser("exec")
    e.add_argument("--process", "-p")
    e.add_argument("--tty", "-t", action="store_true")
    e.add_argument("--console-socket")
    e.add_argument("--detach", "-d", action="store_true")
    e.add_argument("--pid-file")
    e.add_argument("--env", "-e", action="append", default=[])
    e.add_argument("--cwd")
    e.add_argument("--user", "-u")
    e.add_argument("--cap", "-c", action="append", default=[])
    e.add_argument("--preserve-fds", type=int, default=0)
    e.add_argument("id")
    e.add_argument("args", nargs=argparse.REMAINDER)
    sub.add_parser("features")
    up = sub.add_parser("update")
    up.add_argument("--resources", "-r", required=True)
    up.add_argument("id")
    cp = sub.add_parser("checkpoint")
    cp.add_argument("--image-path", required=True)
    cp.add_argument("--work-path")
    cp.add_argument("--parent-path")
    cp.add_argument("--leave-running", action="store_true")
    for flag in ("--tcp-established", "--ext-unix-sk", "--shell-job", "--file-locks",
                 "--pre-dump", "--auto-dedup", "--lazy-pages"):  # fmt: skip
        cp.add_argument(flag, action="store_true")  # CRIU's options: nothing to do for a VM
    cp.add_argument("--manage-cgroups-mode")
    cp.add_argument("--empty-ns", action="append", default=[])
    cp.add_argument("id")
    rs = sub.add_parser("restore")
    rs.add_argument("--image-path", required=True)
    rs.add_argument("--work-path")
    rs.add_argument("--bundle", "-b", default=".")
    rs.add_argument("--console-socket")
    rs.add_argument("--pid-file")
    rs.add_argument("--detach", "-d", action="store_true")
    for flag in ("--tcp-established", "--ext-unix-sk", "--shell-job", "--file-locks",
                 "--no-subreaper", "--no-pivot", "--auto-dedup", "--lazy-pages"):  # fmt: skip
        rs.add_argument(flag, action="store_true")
    rs.add_argument("--manage-cgroups-mode")
    rs.add_argument("--empty-ns", action="append", default=[])
    rs.add_argument("id")
    return p


def main(argv: list[str]) -> int:
    opts = parser().parse_args(argv)
    log = Log(opts.log, opts.log_format)
    try:
        return _dispatch(opts, log)
    except CLIError as exc:
        log.write("error", str(exc))
        return exc.code
    except WharfieError as exc:
        log.write("error", str(exc))
        return 1
    except OSError as exc:
        log.write("error", f"wharfie-vm: {exc}")
        return 1


def entry() -> None:
    code = main(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _dispatch(opts: argparse.Namespace, log: Log) -> int:
    from wharfie.vm import lifecycle

    root = opts.root
    cmd = opts.cmd
    if cmd == "features":
        print(json.dumps(lifecycle.features(), indent=2))
        return 0
    if cmd == "list":
        rows = [lifecycle.oci_state(root, cid) for cid in vmstate.ids(root)]
        if opts.quiet:
            print("\n".join(r["id"] for r in rows))
        elif opts.format == "json":
            print(json.dumps(rows))
        else:
            print(f"{'ID':<20}{'PID':<10}{'STATUS':<10}BUNDLE")
            for r in rows:
                print(f"{r['id']:<20}{r['pid']:<10}{r['status']:<10}{r['bundle']}")
        return 0
    if cmd in ("create", "run"):
        detach = cmd == "create" or opts.detach
        return lifecycle.create(
            root, opts.id, os.path.abspath(opts.bundle), opts.console_socket, opts.pid_file,
            start_now=cmd == "run", detach=detach, log=log.write,
        )  # fmt: skip
    if cmd == "restore":
        return lifecycle.create(
            root, opts.id, os.path.abspath(opts.bundle), opts.console_socket, opts.pid_file,
            start_now=True, detach=opts.detach, log=log.write, restore=opts.image_path,
        )  # fmt: skip
    if cmd == "update":
        try:
            with open(opts.resources) if opts.resources != "-" else sys.stdin as f:
                resources = json.load(f)
        except ValueError as exc:
            raise CLIError(f"update: {opts.resources}: {exc}") from exc
        lifecycle.update(root, opts.id, resources)
        return 0
    if cmd == "checkpoint":
        lifecycle.checkpoint(root, opts.id, opts.image_path, opts.leave_running)
        return 0
    if cmd == "state":
        print(json.dumps(lifecycle.oci_state(root, opts.id), indent=2))
        return 0
    if cmd == "start":
        lifecycle.start(root, opts.id)
        return 0
    if cmd == "kill":
        lifecycle.kill(root, opts.id, parse_signal(opts.signal), opts.all)
        return 0
    if cmd == "delete":
        lifecycle.delete(root, opts.id, opts.force)
        return 0
    if cmd in ("pause", "resume"):
        lifecycle.pause(root, opts.id, cmd == "pause")
        return 0
    if cmd == "ps":
        pids = lifecycle.pids(root, opts.id)
        if opts.format == "json":
            print(json.dumps(pids))
        else:
            print("PID CMD")
            for pid in pids:
                print(pid, _comm(pid))
        return 0
    if cmd == "exec":
        return lifecycle.exec_(
            root, opts.id, exec_process(opts), opts.console_socket, opts.pid_file, opts.detach
        )
    raise CLIError(f"unknown command {cmd}")


def exec_process(opts: argparse.Namespace) -> dict[str, Any]:
    if opts.process:
        with open(opts.process) as f:
            process: dict[str, Any] = json.load(f)
    else:
        args = [a for a in opts.args if a != "--"] if opts.args[:1] == ["--"] else opts.args
        if not args:
            raise CLIError("exec: process args cannot be empty")
        process = {
            "args": args,
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "cwd": "/",
        }
    if opts.tty:
        process["terminal"] = True
    if opts.env:
        process["env"] = [*process.get("env", []), *opts.env]
    if opts.cwd:
        process["cwd"] = opts.cwd
    if opts.user:
        uid, _, gid = opts.user.partition(":")
        process["user"] = {"uid": int(uid), "gid": int(gid or 0)}
    return process


def parse_signal(text: str) -> int:
    t = text.upper().removeprefix("SIG")
    if t.isdigit():
        return int(t)
    if t.startswith("RTMIN"):
        return signal.SIGRTMIN + int(t[5:].lstrip("+") or 0)
    if t.startswith("RTMAX"):
        return signal.SIGRTMAX - int(t[5:].lstrip("-") or 0)
    try:
        return int(signal.Signals["SIG" + t])
    except KeyError:
        raise CLIError(f"invalid signal: {text}") from None


def _comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return "?"
