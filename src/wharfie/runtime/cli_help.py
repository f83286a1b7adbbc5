"""`wharfie-runtime --help`, `help CMD` and `CMD --help`, laid out as runc 1.1 prints them.

Only imported to print help. Every flag of `cli.COMMAND_FLAGS` has its line here
(a unit test checks both ways), with runc's wording.
"""

from __future__ import annotations

import sys

from wharfie.runtime.cli import COMMAND_FLAGS, GLOBAL_FLAGS, UsageError

PROG = "wharfie-runtime"
_ID = "<container-id>"

# command -> (summary, arguments, description)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "checkpoint": (
        "checkpoint a running container",
        _ID,
        "The checkpoint command saves the state of the container instance (with CRIU).",
    ),
    "create": (
        "create a container",
        _ID,
        "The create command creates an instance of a container for a bundle. The bundle\n"
        'is a directory with a specification file named "config.json" and a root\n'
        "filesystem.",
    ),
    "delete": (
        "delete any resources held by the container often used with detached container",
        _ID,
        "",
    ),
    "events": (
        "display container events such as OOM notifications, cpu, memory, and IO usage statistics",
        _ID,
        "The events command displays information about the container. By default the\n"
        "information is displayed once every 5 seconds.",
    ),
    "exec": (
        "execute new process inside the container",
        f"{_ID} <command> [command options]  || -p process.json {_ID}",
        "",
    ),
    "kill": (
        "kill sends the specified signal (default: SIGTERM) to the container's init process",
        f"{_ID} [signal]",
        "",
    ),
    "list": ("lists containers started by runc with the given root", "", ""),
    "pause": (
        "pause suspends all processes inside the container",
        _ID,
        "The pause command suspends all processes in the instance of the container.",
    ),
    "ps": (
        "ps displays the processes running inside a container",
        f"{_ID} [ps options]",
        "",
    ),
    "restore": (
        "restore a container from a previous checkpoint",
        _ID,
        "Restores the saved state of the container instance that was previously saved\n"
        "using the runc checkpoint command.",
    ),
    "resume": (
        "resumes all processes that have been previously paused",
        _ID,
        "The resume command resumes all processes in the instance of the container.",
    ),
    "run": (
        "create and run a container",
        _ID,
        "The run command creates an instance of a container for a bundle, and starts it.",
    ),
    "spec": ("create a new specification file", "", ""),
    "start": (
        "executes the user defined process in a created container",
        _ID,
        "The start command executes the user defined process in a created container.",
    ),
    "state": ("output the state of a container", _ID, ""),
    "update": (
        "update container resource constraints",
        _ID,
        "The accepted format of -r is as follow (unchanged values can be omitted):\n\n"
        '{\n  "memory": {"limit": 0, "reservation": 0, "swap": 0},\n'
        '  "cpu": {"shares": 0, "quota": 0, "period": 0, "realtimeRuntime": 0,\n'
        '          "realtimePeriod": 0, "cpus": "", "mems": ""},\n'
        '  "blockIO": {"weight": 0}\n}\n\n'
        "Note: if data is to be read from a file or the standard input, all\n"
        "other options are ignored.",
    ),
    "features": ("show the enabled features", "", ""),
}

_CONSOLE = (
    "path to an AF_UNIX socket which will receive a file descriptor referencing the "
    "master end of the console's pseudoterminal"
)
_PRESERVE = (
    "Pass N additional file descriptors to the container (stdio + $LISTEN_FDS + N in "
    "total) (default: 0)"
)
_NO_PIVOT = (
    "do not use pivot root to jail process inside rootfs.  This should be used whenever "
    "the rootfs is on top of a ramdisk"
)
_MANAGE = "cgroups mode: 'soft' (default), 'full' and 'strict'"
FLAG_HELP: dict[str, str] = {
    "--bundle": "path to the root of the bundle directory, defaults to the current directory",
    "--console-socket": _CONSOLE,
    "--pid-file": "specify the file to write the process id to",
    "--no-pivot": _NO_PIVOT,
    "--no-new-keyring": "do not create a new session keyring for the container.  This will "
    "cause the container to inherit the calling processes session key",
    "--preserve-fds": _PRESERVE,
    "--detach": "detach from the container's process",
    "--keep": "do not delete the container after it exits",
    "--no-subreaper": "disable the use of the subreaper used to reap reparented processes",
    "--force": "Forcibly deletes the container if it is still running (uses SIGKILL)",
    "--interval": "set the stats collection interval (default: 5s)",
    "--stats": "display the container's stats then exit",
    "--cwd": "current working directory in the container",
    "--env": "set environment variables",
    "--tty": "allocate a pseudo-TTY",
    "--user": "UID (format: <uid>[:<gid>])",
    "--additional-gids": "additional gids",
    "--process": "path to the process.json",
    "--process-label": "set the asm process label for the process commonly used with selinux",
    "--apparmor": "set the apparmor profile for the process",
    "--no-new-privs": "set the no new privileges value for the process",
    "--cap": "add a capability to the bounding set for the process",
    "--cgroup": "run the process in an (existing) sub-cgroup(s). Format is "
    "[<controller>:]<cgroup>.",
    "--ignore-paused": "allow exec in a paused container",
    "--all": "send the specified signal to all processes inside the container",
    "--format": 'select one of: table or json (default: "table")',
    "--quiet": "display only container IDs",
    "--rootless": "generate a configuration for a rootless container",
    "--image-path": "path for saving criu image files",
    "--work-path": "path for saving work files and logs",
    "--parent-path": "path for previous criu image files in pre-dump",
    "--leave-running": "leave the process running after checkpointing",
    "--tcp-established": "allow open tcp connections",
    "--ext-unix-sk": "allow external unix sockets",
    "--shell-job": "allow shell jobs",
    "--lazy-pages": "use userfaultfd to lazily restore memory pages",
    "--status-fd": "criu writes \\0 to this FD once lazy-pages is ready (default: -1)",
    "--page-server": "ADDRESS:PORT of the page server",
    "--file-locks": "handle file locks, for safety",
    "--pre-dump": "dump container's memory information only, leave the container running "
    "after this",
    "--manage-cgroups-mode": _MANAGE,
    "--empty-ns": "create a namespace, but don't restore its properties",
    "--auto-dedup": "enable auto deduplication of memory images",
    "--lsm-profile": "Specify an LSM profile to be used during restore in the form of TYPE:NAME.",
    "--lsm-mount-context": "Specify an LSM mount context to be used during restore.",
    "--resources": "path to the file containing the resources to update or '-' to read from "
    "the standard input",
    "--blkio-weight": "Specifies per cgroup weight, range is from 10 to 1000 (default: 0)",
    "--cpu-period": "CPU CFS period to be used for hardcapping (in usecs). 0 to use system default",
    "--cpu-quota": "CPU CFS hardcap limit (in usecs). Allowed cpu time in a given period",
    "--cpu-share": "CPU shares (relative weight vs. other containers)",
    "--cpu-rt-period": "CPU realtime period to be used for hardcapping (in usecs). 0 to use "
    "system default",
    "--cpu-rt-runtime": "CPU realtime hardcap limit (in usecs). Allowed cpu time in a given period",
    "--cpuset-cpus": "CPU(s) to use",
    "--cpuset-mems": "Memory node(s) to use",
    "--memory": "Memory limit (in bytes)",
    "--memory-reservation": "Memory reservation or soft_limit (in bytes)",
    "--memory-swap": "Total memory usage (memory + swap); set '-1' to enable unlimited swap",
    "--pids-limit": "Maximum number of pids allowed in the container (default: 0)",
    "--l3-cache-schema": "The string of Intel RDT/CAT L3 cache schema",
    "--mem-bw-schema": "The string of Intel RDT/MBA memory bandwidth schema",
}
# per-command wording where runc's differs from the shared line
_COMMAND_FLAG_HELP = {
    ("spec", "--bundle"): "path to the root of the bundle directory",
    ("restore", "--bundle"): "path to the root of the bundle directory",
    ("restore", "--image-path"): "path to criu image files for restoring",
}
GLOBAL_HELP: dict[str, str] = {
    "--debug": "enable debug logging",
    "--log": "set the log file to write runtime logs to (default is '/dev/stderr')",
    "--log-format": "set the log format ('text' (default), or 'json') (default: \"text\")",
    "--root": "root directory for storage of container state (this should be located in "
    'tmpfs) (default: "/run/wharfie-runtime")',
    "--criu": 'path to the criu binary used for checkpoint and restore (default: "criu")',
    "--systemd-cgroup": "enable systemd cgroup support, expects cgroupsPath to be of form "
    '"slice:prefix:name" for e.g. "system.slice:runc:434234"',
    "--rootless": "ignore cgroup permission errors ('true', 'false', or 'auto') "
    '(default: "auto")',
    "--help": "show help",
    "--version": "print the version",
}


def _option_lines(table: dict[str, object], text: dict[str, str], cmd: str = "") -> list[str]:
    aliases: dict[str, list[str]] = {}
    for name, kind in table.items():
        if isinstance(kind, str):
            aliases.setdefault(kind, []).append(name)
    cells = []
    for name, kind in table.items():
        if isinstance(kind, str):
            continue
        value = " value" if kind else ""
        names = ", ".join(n + value for n in [name, *aliases.get(name, [])])
        cells.append((names, _COMMAND_FLAG_HELP.get((cmd, name), text[name])))
    width = max((len(c[0]) for c in cells), default=0) + 2
    return [f"   {names.ljust(width)}{desc}" for names, desc in cells]


def global_help() -> str:
    cmds = [f"   {name.ljust(11)} {summary}" for name, (summary, _, _) in COMMANDS.items()]
    cmds.append(f"   {'help, h'.ljust(11)} Shows a list of commands or help for one command")
    return "\n".join(
        [
            "NAME:",
            f"   {PROG} - Open Container Initiative runtime",
            "",
            f"{PROG} runs applications packaged according to the Open Container Initiative",
            "(OCI) format, with runc 1.1's command line.",
            "",
            "To start a new instance of a container:",
            "",
            f"    # {PROG} run [ -b bundle ] <container-id>",
            "",
            "USAGE:",
            f"   {PROG} [global options] command [command options] [arguments...]",
            "",
            "COMMANDS:",
            *cmds,
            "",
            "GLOBAL OPTIONS:",
            *_option_lines(GLOBAL_FLAGS, GLOBAL_HELP),
            "",
        ]
    )


def command_help(cmd: str) -> str:
    summary, arguments, description = COMMANDS[cmd]
    lines = [
        "NAME:",
        f"   {PROG} {cmd} - {summary}",
        "",
        "USAGE:",
        f"   {PROG} {cmd} [command options] {arguments}".rstrip(),
        "",
    ]
    if description:
        lines += ["DESCRIPTION:", *(f"   {d}" if d else "" for d in description.split("\n")), ""]
    if COMMAND_FLAGS[cmd]:
        lines += ["OPTIONS:", *_option_lines(COMMAND_FLAGS[cmd], FLAG_HELP, cmd), ""]
    return "\n".join(lines)


def show(topics: list[str]) -> int:
    """Print the help for `topics` (none: the global help); runc's status 3 if unknown."""
    if not topics:
        sys.stdout.write(global_help())
        return 0
    if topics[0] not in COMMANDS:
        raise UsageError(f"No help topic for '{topics[0]}'", 3)
    sys.stdout.write(command_help(topics[0]))
    return 0
