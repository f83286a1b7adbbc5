"""wharfie-runtime: an OCI runtime with runc's command line.

    wharfie-runtime [--root DIR] [--log FILE] [--log-format text|json] [--debug] COMMAND ...

The parser is hand-written on purpose: `argparse` costs ~10 ms of imports, and
`run` must finish in about twice that. Errors go to stderr (and to --log, in
the chosen format) and exit 1; `run` and `exec` exit with the process's status.
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

USAGE = """usage: wharfie-runtime [global options] COMMAND [options] ARGS

commands:
  create [--bundle DIR] [--console-socket PATH] [--pid-file FILE] [--no-pivot] ID
  start ID
  run [--bundle DIR] [-d] [--console-socket PATH] [--pid-file FILE] [--no-pivot] ID
  state ID
  kill [--all] ID [SIGNAL]
  delete [-f] ID
  list [--format table|json] [-q]
  ps [--format table|json] ID [PS_ARGS...]
  exec [--process FILE] [-t] [--console-socket PATH] [-d] [--pid-file FILE]
       [-e KEY=VALUE]... [--cwd DIR] [-u UID[:GID]] [--cap CAP]... ID [COMMAND ARGS...]
  pause ID
  resume ID
  spec [--bundle DIR]
  features

global options:
  --root DIR          state directory (default /run/wharfie-runtime)
  --log FILE          also write log messages to FILE
  --log-format FMT    text or json
  --debug             log debug messages
"""

# flag -> 0 (boolean), 1 (takes a value), 2 (repeatable value); "-x" -> alias of a long flag
GLOBAL_FLAGS: dict[str, Any] = {
    "--root": 1,
    "--log": 1,
    "--log-format": 1,
    "--debug": 0,
    "--systemd-cgroup": 0,
    "--criu": 1,
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
COMMAND_FLAGS: dict[str, dict[str, Any]] = {
    "create": _CREATE,
    "run": {**_CREATE, "--detach": 0, "-d": "--detach", "--keep": 0},
    "start": {},
    "state": {},
    "kill": {"--all": 0, "-a": "--all"},
    "delete": {"--force": 0, "-f": "--force"},
    "list": {"--format": 1, "-f": "--format", "--quiet": 0, "-q": "--quiet"},
    "ps": {"--format": 1, "-f": "--format"},
    "exec": {
        "--process": 1,
        "-p": "--process",
        "--tty": 0,
        "-t": "--tty",
        "--console-socket": 1,
        "--detach": 0,
        "-d": "--detach",
        "--pid-file": 1,
        "--env": 2,
        "-e": "--env",
        "--cwd": 1,
        "--user": 1,
        "-u": "--user",
        "--cap": 2,
        "-c": "--cap",
        "--no-new-privs": 0,
        "--additional-gids": 2,
        "-g": "--additional-gids",
        "--preserve-fds": 1,
    },
    "pause": {},
    "resume": {},
    "spec": {"--bundle": 1, "-b": "--bundle", "--rootless": 0},
    "features": {},
}
# Commands whose arguments after the container id belong to the process, not to us.
_REST_AFTER_ID = ("exec", "ps")


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
    kind = table.get(name)
    if isinstance(kind, str):
        name, kind = kind, table[kind]
    if kind is None:
        raise InvalidArgument(f"flag provided but not defined: {name}")
    if kind == 0:
        out[name] = value.lower() not in ("false", "0") if eq else True
        return i + 1
    if not eq:
        if i + 1 >= len(argv):
            raise InvalidArgument(f"flag needs an argument: {name}")
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
    while i < len(argv) and argv[i].startswith("-"):
        i = _take(argv, i, GLOBAL_FLAGS, args.glob)
    if i >= len(argv):
        return args
    args.command = argv[i]
    table = COMMAND_FLAGS.get(args.command)
    if table is None:
        raise InvalidArgument(f"no such command: {args.command}")
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
    return args


class Logger:
    """Errors and warnings to stderr, and to --log in text or json as runc writes them."""

    def __init__(self, path: str | None, fmt: str | None) -> None:
        self.path = path
        self.json = fmt == "json"

    def write(self, level: str, msg: str) -> None:
        sys.stderr.write(f"wharfie-runtime: {msg}\n" if level == "error" else f"{level}: {msg}\n")
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
    try:
        args = parse(argv)
        log = Logger(args.glob.get("--log"), args.glob.get("--log-format"))
        if args.glob.get("--version"):
            from wharfie import __version__

            print(f"wharfie-runtime version {__version__}\nspec: 1.1.0")
            return 0
        if not args.command or args.glob.get("--help"):
            sys.stdout.write(USAGE)
            return 0 if args.glob.get("--help") else 1
        from wharfie.runtime import commands

        handler: Handler = getattr(commands, "cmd_" + args.command)
        return handler(args)
    except (WharfieError, OSError) as exc:
        log.write("error", str(exc))
        return 1
    except KeyboardInterrupt:
        return 130


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
