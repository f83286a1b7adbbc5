"""wharfie-runtime: an OCI runtime with runc 1.1's command line.

    wharfie-runtime [--root DIR] [--log FILE] [--log-format text|json] [--debug] COMMAND ...

The parser is hand-written on purpose: `argparse` costs ~10 ms of imports, and
`run` must finish in about twice that. The help texts live in `cli_help` (loaded
only for help). Errors are one line on stderr (and in --log, in the chosen format)
with runc's status: 1, 3 for an unknown command, 255 for a failed exec; `run` and
`exec` otherwise exit with the process's status.
"""

from __future__ import annotations

import os
import sys

from wharfie.errors import InvalidArgument, WharfieError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    Handler = Callable[["Args"], int]

# flag -> 0 (boolean), 1 (takes a value), 2 (repeatable value); "-x" -> alias of a long flag
GLOBAL_FLAGS: dict[str, Any] = {
    "--debug": 0,
    "--log": 1,
    "--log-format": 1,
    "--root": 1,
    "--criu": 1,
    "--systemd-cgroup": 0,
    "--rootless": 1,
    "--help": 0,
    "-h": "--help",
    "--version": 0,
    "-v": "--version",
}
_CREATE = {
    "--bundle": 1,
    "-b": "--bundle",
    "--console-socket": 1,
    "--pid-file": 1,
    "--no-pivot": 0,
    "--no-new-keyring": 0,
    "--preserve-fds": 1,
}
_CRIU = {
    "--image-path": 1,
    "--work-path": 1,
    "--tcp-established": 0,
    "--ext-unix-sk": 0,
    "--shell-job": 0,
    "--file-locks": 0,
    "--manage-cgroups-mode": 1,
    "--empty-ns": 1,
    "--auto-dedup": 0,
    "--lazy-pages": 0,
}
_UPDATE = {
    "--resources": 1,
    "-r": "--resources",
    "--blkio-weight": 1,
    "--cpu-period": 1,
    "--cpu-quota": 1,
    "--cpu-share": 1,
    "--cpu-rt-period": 1,
    "--cpu-rt-runtime": 1,
    "--cpuset-cpus": 1,
    "--cpuset-mems": 1,
    "--memory": 1,
    "--memory-reservation": 1,
    "--memory-swap": 1,
    "--pids-limit": 1,
    "--l3-cache-schema": 1,
    "--mem-bw-schema": 1,
}
COMMAND_FLAGS: dict[str, dict[str, Any]] = {
    "checkpoint": {
        **_CRIU,
        "--parent-path": 1,
        "--leave-running": 0,
        "--status-fd": 1,
        "--page-server": 1,
        "--pre-dump": 0,
    },
    "create": _CREATE,
    "delete": {"--force": 0, "-f": "--force"},
    "events": {"--interval": 1, "--stats": 0},
    "exec": {
        "--console-socket": 1,
        "--cwd": 1,
        "--env": 2,
        "-e": "--env",
        "--tty": 0,
        "-t": "--tty",
        "--user": 1,
        "-u": "--user",
        "--additional-gids": 2,
        "-g": "--additional-gids",
        "--process": 1,
        "-p": "--process",
        "--detach": 0,
        "-d": "--detach",
        "--pid-file": 1,
        "--process-label": 1,
        "--apparmor": 1,
        "--no-new-privs": 0,
        "--cap": 2,
        "-c": "--cap",
        "--preserve-fds": 1,
        "--cgroup": 2,
        "--ignore-paused": 0,
    },
    "kill": {"--all": 0, "-a": "--all"},
    "list": {"--format": 1, "-f": "--format", "--quiet": 0, "-q": "--quiet"},
    "pause": {},
    "ps": {"--format": 1, "-f": "--format"},
    "restore": {
        **_CRIU,
        "--console-socket": 1,
        "--bundle": 1,
        "-b": "--bundle",
        "--detach": 0,
        "-d": "--detach",
        "--pid-file": 1,
        "--no-subreaper": 0,
        "--no-pivot": 0,
        "--lsm-profile": 1,
        "--lsm-mount-context": 1,
    },
    "resume": {},
    "run": {**_CREATE, "--detach": 0, "-d": "--detach", "--keep": 0, "--no-subreaper": 0},
    "spec": {"--bundle": 1, "-b": "--bundle", "--rootless": 0},
    "start": {},
    "state": {},
    "update": _UPDATE,
    "features": {},
}
# runc's argument counts: (minimum, maximum or -1)
ARG_COUNTS: dict[str, tuple[int, int]] = {
    "checkpoint": (1, 1),
    "create": (1, 1),
    "delete": (1, 1),
    "events": (1, 1),
    "exec": (1, -1),
    "kill": (1, 2),
    "list": (0, 0),
    "pause": (1, 1),
    "ps": (1, -1),
    "restore": (1, 1),
    "resume": (1, 1),
    "run": (1, 1),
    "spec": (0, 0),
    "start": (1, 1),
    "state": (1, 1),
    "update": (1, 1),
    "features": (0, 0),
}
# Commands whose arguments after the container id belong to the process, not to us.
_REST_AFTER_ID = ("exec", "ps")


class UsageError(InvalidArgument):
    """Bad command line: runc exits 1 (3 for an unknown command), after its usage text."""

    def __init__(self, msg: str, code: int = 1) -> None:
        super().__init__(msg)
        self.code = code


class Args:
    __slots__ = ("command", "flags", "glob", "positional")

    def __init__(self) -> None:
        self.glob: dict[str, Any] = {}
        self.command = ""
        self.flags: dict[str, Any] = {}
        self.positional: list[str] = []

    def one_id(self) -> str:
        if len(self.positional) != 1:
            raise InvalidArgument(f'"{self.command}" requires exactly 1 argument: the container id')
        return self.positional[0]


def _take(argv: list[str], i: int, table: dict[str, Any], out: dict[str, Any]) -> int:
    """Parse the flag at argv[i] into `out`; returns the next index."""
    arg = argv[i]
    name, eq, value = arg.partition("=")
    if name.startswith("-") and not name.startswith("--") and len(name) > 2:
        name = "-" + name  # Go's flag package: -root is --root
    kind = table.get(name)
    if isinstance(kind, str):
        name, kind = kind, table[kind]
    if kind is None:
        if name in ("--help", "-h"):
            out["--help"] = True
            return i + 1
        raise UsageError(f"flag provided but not defined: -{name.lstrip('-')}")
    if kind == 0:
        out[name] = value.lower() not in ("false", "0") if eq else True
        return i + 1
    if not eq:
        if i + 1 >= len(argv):
            raise UsageError(f"flag needs an argument: -{name.lstrip('-')}")
        value = argv[i + 1]
        i += 1
    if kind == 2:
        out.setdefault(name, []).append(value)
    else:
        out[name] = value
    return i + 1


def parse(argv: list[str]) -> Args:
    args = Args()
    i = 0
    while i < len(argv) and argv[i].startswith("-") and argv[i] != "-":
        i = _take(argv, i, GLOBAL_FLAGS, args.glob)
    if i >= len(argv):
        return args
    args.command = argv[i]
    if args.command in ("help", "h"):
        args.command = "help"
        args.positional = argv[i + 1 :]
        return args
    table = COMMAND_FLAGS.get(args.command)
    if table is None:
        raise UsageError(f"No help topic for '{args.command}'", 3)
    i += 1
    while i < len(argv):
        arg = argv[i]
        if args.command in _REST_AFTER_ID and args.positional:
            rest = argv[i:]
            args.positional.extend(rest[1:] if rest[0] == "--" else rest)
            break
        if arg == "--":
            args.positional.extend(argv[i + 1 :])
            break
        if (
            arg.startswith("-")
            and len(arg) > 1
            and not (args.command == "kill" and args.positional)
        ):
            i = _take(argv, i, table, args.flags)
            continue
        if arg.startswith("-") and arg in table:  # kill ID --all
            i = _take(argv, i, table, args.flags)
            continue
        args.positional.append(arg)
        i += 1
    if not args.flags.get("--help"):
        check_arg_count(args.command, len(args.positional))
    return args


def check_arg_count(command: str, n: int) -> None:
    """runc's checkArgs, with its wording."""
    low, high = ARG_COUNTS[command]
    if low == high and n != low:
        raise UsageError(f'"{command}" requires exactly {low} argument(s)')
    if n < low:
        raise UsageError(f'"{command}" requires a minimum of {low} argument(s)')
    if high >= 0 and n > high:
        raise UsageError(f'"{command}" requires a maximum of {high} argument(s)')


def check_globals(glob: dict[str, Any]) -> None:
    fmt = glob.get("--log-format")
    if fmt is not None and fmt not in ("text", "json"):
        raise InvalidArgument(f"invalid log-format: {fmt}")


_GO_BOOLS = {"1": True, "t": True, "T": True, "TRUE": True, "true": True, "True": True,
             "0": False, "f": False, "F": False, "FALSE": False, "false": False,
             "False": False}  # fmt: skip


def rootless_mode(glob: dict[str, Any]) -> bool | None:
    """--rootless as runc 1.1 reads it when it makes a container (only then: `list` or
    `state` take any value): "" or "auto" (any case) is None, else Go's strconv.ParseBool."""
    value = glob.get("--rootless")
    if value is None or value == "" or value.lower() == "auto":
        return None
    if value not in _GO_BOOLS:
        raise InvalidArgument(f'strconv.ParseBool: parsing "{value}": invalid syntax')
    return _GO_BOOLS[value]


class Logger:
    """Errors and warnings to stderr, and to --log in text or json as runc writes them."""

    def __init__(self, path: str | None, fmt: str | None) -> None:
        self.path = path
        self.json = fmt == "json"

    def write(self, level: str, msg: str) -> None:
        sys.stderr.write(f"wharfie-runtime: {msg}\n" if level == "error" else f"{level}: {msg}\n")
        self.write_file(level, msg)

    def write_file(self, level: str, msg: str) -> None:
        if not self.path:
            return
        from wharfie.oci import jsonio
        from wharfie.runtime.state import rfc3339_now

        if self.json:
            line = jsonio.dumps({"level": level, "msg": msg, "time": rfc3339_now()})
        else:
            line = f'time="{rfc3339_now()}" level={level} msg="{msg}"'
        try:
            with open(self.path, "a") as f:
                f.write(line + "\n")
        except OSError as exc:
            sys.stderr.write(f"wharfie-runtime: writing log {self.path}: {exc.strerror}\n")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    log = Logger(None, None)
    args = Args()
    try:
        args = parse(argv)
        check_globals(args.glob)
        log = Logger(args.glob.get("--log"), args.glob.get("--log-format"))
        if args.glob.get("--version"):
            from wharfie import __version__

            print(f"wharfie-runtime version {__version__}\nspec: 1.1.0")
            return 0
        if not args.command or args.command == "help" or args.glob.get("--help"):
            from wharfie.runtime import cli_help

            return cli_help.show(args.positional if args.command == "help" else [])
        if args.flags.get("--help"):
            from wharfie.runtime import cli_help

            return cli_help.show([args.command])
        from wharfie.runtime import commands

        handler: Handler = getattr(commands, "cmd_" + args.command)
        return handler(args)
    except UsageError as exc:
        log.write("error", str(exc))
        return exc.code
    except (WharfieError, OSError) as exc:
        log.write("error", str(exc))
        return 255 if args.command == "exec" else 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a bug: still one line, never a traceback
        log.write("error", f"internal error: {type(exc).__name__}: {exc}")
        if args.glob.get("--debug") and log.path:  # the traceback goes to --log only
            import traceback

            log.write_file("debug", "".join(traceback.format_exception(exc)))
        return 255 if args.command == "exec" else 1


def entry() -> None:
    """Console-script entry: exit without interpreter teardown (~2 ms of a ~20 ms `run`)."""
    code = main()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (BrokenPipeError, ValueError):
        code = code or 1
    os._exit(code)


if __name__ == "__main__":
    entry()
