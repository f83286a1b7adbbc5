"""wharfie: the command-line client of wharfied, with Docker's verbs, flags and output.

    wharfie [-H HOST] [--tlsverify ...] COMMAND [OPTIONS] ARGS

Start-up is measured against `docker ps`: this module imports only os/sys and
the flag parser; each command's module is imported when that command runs.
The process ends with os._exit after flushing (no interpreter teardown).
"""

from __future__ import annotations

import os
import sys

from wharfie.cli.flags import parse, table
from wharfie.errors import InvalidArgument, WharfieError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from wharfie.cli.context import Context

GLOBAL = table(
    """
    H host list
    - tls bool
    - tlsverify bool
    - tlscacert value
    - tlscert value
    - tlskey value
    D debug bool
    l log-level value
    - config value
    c context value
    v version bool
    - help bool
    """
)

# verb -> (module under wharfie.cli, function)
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("run", "cmd_run"),
    "create": ("run", "cmd_create"),
    "start": ("run", "cmd_start"),
    "attach": ("run", "cmd_attach"),
    "exec": ("run", "cmd_exec"),
    "ps": ("container", "cmd_ps"),
    "logs": ("container", "cmd_logs"),
    "stop": ("container", "cmd_stop"),
    "kill": ("container", "cmd_kill"),
    "rm": ("container", "cmd_rm"),
    "inspect": ("container", "cmd_inspect"),
    "top": ("container", "cmd_top"),
    "stats": ("container", "cmd_stats"),
    "cp": ("container", "cmd_cp"),
    "pause": ("container", "cmd_pause"),
    "unpause": ("container", "cmd_unpause"),
    "restart": ("container", "cmd_restart"),
    "wait": ("container", "cmd_wait"),
    "rename": ("container", "cmd_rename"),
    "update": ("container", "cmd_update"),
    "export": ("container", "cmd_export"),
    "commit": ("image", "cmd_commit"),
    "import": ("image", "cmd_import"),
    "images": ("image", "cmd_images"),
    "tag": ("image", "cmd_tag"),
    "rmi": ("image", "cmd_rmi"),
    "history": ("image", "cmd_history"),
    "pull": ("transfer", "cmd_pull"),
    "push": ("transfer", "cmd_push"),
    "save": ("transfer", "cmd_save"),
    "load": ("transfer", "cmd_load"),
    "login": ("auth", "cmd_login"),
    "logout": ("auth", "cmd_logout"),
    "events": ("system", "cmd_events"),
    "info": ("system", "cmd_info"),
    "version": ("system", "cmd_version"),
    "compose": ("compose", "cmd_compose"),
}
_IMAGE_VERBS = (
    "images",
    "rmi",
    "tag",
    "history",
    "pull",
    "import",
    "push",
    "save",
    "load",
    "login",
    "logout",
)
GROUPS: dict[str, dict[str, str]] = {
    "container": {
        "ls": "ps",
        "list": "ps",
        "ps": "ps",
        "prune": "container-prune",
        "inspect": "container-inspect",
        **{v: v for v in COMMANDS if v not in _IMAGE_VERBS},
    },
    "image": {
        "ls": "images",
        "list": "images",
        "rm": "rmi",
        "remove": "rmi",
        "tag": "tag",
        "history": "history",
        "import": "import",
        "pull": "pull",
        "push": "push",
        "save": "save",
        "load": "load",
        "inspect": "image-inspect",
        "prune": "image-prune",
        "bootstrap": "image-bootstrap",
    },
    "volume": {
        "ls": "volume-ls",
        "list": "volume-ls",
        "create": "volume-create",
        "inspect": "volume-inspect",
        "rm": "volume-rm",
        "remove": "volume-rm",
        "prune": "volume-prune",
    },
    "system": {
        "df": "system-df",
        "prune": "system-prune",
        "info": "info",
        "events": "events",
    },
}
COMMANDS.update(
    {
        "container-prune": ("system", "cmd_container_prune"),
        "image-prune": ("system", "cmd_image_prune"),
        "system-prune": ("system", "cmd_system_prune"),
        "system-df": ("system", "cmd_df"),
        "container-inspect": ("container", "cmd_container_inspect"),
        "image-inspect": ("image", "cmd_image_inspect"),
        "image-bootstrap": ("image", "cmd_bootstrap"),
        "volume-ls": ("volume", "cmd_ls"),
        "volume-create": ("volume", "cmd_create"),
        "volume-inspect": ("volume", "cmd_inspect"),
        "volume-rm": ("volume", "cmd_rm"),
        "volume-prune": ("volume", "cmd_prune"),
    }
)
GROUPS["network"] = {
    "ls": "network-ls",
    "list": "network-ls",
    "create": "network-create",
    "inspect": "network-inspect",
    "rm": "network-rm",
    "remove": "network-rm",
    "connect": "network-connect",
    "disconnect": "network-disconnect",
    "prune": "network-prune",
}
COMMANDS.update(
    {
        f"network-{v}": ("network", f"cmd_{v}")
        for v in ("ls", "create", "inspect", "rm", "connect", "disconnect", "prune")
    }
)
COMMANDS["port"] = ("network", "cmd_port")
GROUPS["container"]["port"] = "port"
# the registry server (its own process; no daemon involved)
GROUPS["registry"] = {"serve": "registry-serve", "gc": "registry-gc"}
COMMANDS["registry-serve"] = ("registry", "cmd_serve")
COMMANDS["registry-gc"] = ("registry", "cmd_gc")
# wharfie-vm's guest kernels (local, as the registry commands)
GROUPS["vm"] = {"kernel": "vm-kernel"}
COMMANDS["vm-kernel"] = ("vm", "cmd_kernel")
GROUPS["bench"] = {"isolation": "bench-isolation"}
COMMANDS["bench-isolation"] = ("bench", "cmd_isolation")
# Dockerfile builds
COMMANDS["build"] = ("build", "cmd_build")
GROUPS["builder"] = {"build": "build", "prune": "builder-prune"}
GROUPS["image"]["build"] = "build"
COMMANDS["builder-prune"] = ("build", "cmd_prune")
COMMANDS["dashboard"] = ("dashboard", "cmd_dashboard")  # the daemon's web UI
# swarm mode: each group's verbs are `<group>-<verb>` commands in the module of that name
_SWARM_GROUPS = {
    "swarm": ("swarm", ["init", "join", "leave", "update", "join-token", "unlock", "unlock-key"]),
    "node": ("node", ["ls", "inspect", "update", "promote", "demote", "rm", "ps"]),
    "service": (
        "service",
        ["create", "ls", "ps", "inspect", "scale", "update", "rollback", "logs", "rm"],
    ),
    "secret": ("secret", ["create", "ls", "inspect", "rm"]),
    "config": ("secret", ["create", "ls", "inspect", "rm"]),
    "stack": ("stack", ["deploy", "ls", "ps", "services", "rm"]),
}
for _group, (_module, _verbs) in _SWARM_GROUPS.items():
    GROUPS[_group] = {v: f"{_group}-{v}" for v in _verbs}
    for _verb in _verbs:
        _func = f"cmd_{_group}_{_verb}" if _module == "secret" else f"cmd_{_verb}"
        COMMANDS[f"{_group}-{_verb}"] = (_module, _func.replace("-", "_"))
    if "ls" in _verbs:
        GROUPS[_group]["list"] = f"{_group}-ls"
    if "rm" in _verbs:
        GROUPS[_group]["remove"] = f"{_group}-rm"
GROUPS["stack"]["up"] = "stack-deploy"

USAGE = """Usage:  wharfie [OPTIONS] COMMAND

A Docker-compatible container engine client

Common Commands:
  run, exec, ps, build, images, pull, push, login, logout, info, version

Management Commands:
  container   Manage containers (ls, rm, inspect, prune, ...)
  image       Manage images (ls, rm, tag, history, import, pull, push, save, load,
              inspect, prune, bootstrap)
  system      Manage wharfie (df, prune, info, events)
  volume      Manage volumes (ls, create, inspect, rm, prune)
  network     Manage networks (ls, create, inspect, rm, connect, disconnect, prune)
  registry    Run an OCI distribution registry (serve, gc)
  vm          VM-isolated containers' guest kernels (kernel ls)
  bench       Compare isolations on this machine (isolation)

Swarm Commands:
  swarm       Manage the swarm (init, join, leave, update, join-token, unlock, unlock-key)
  node        Manage swarm nodes (ls, inspect, update, promote, demote, rm, ps)
  service     Manage swarm services (create, ls, ps, inspect, scale, update, rollback,
              logs, rm)
  secret      Manage swarm secrets (create, ls, inspect, rm)
  config      Manage swarm configs (create, ls, inspect, rm)
  stack       Manage swarm stacks (deploy, ls, ps, services, rm)

Commands:
  attach commit cp create events export history import inspect kill load logs
  pause rename save restart rm rmi start stats stop tag top unpause update wait

Global Options:
  -H, --host list        Daemon socket to connect to
      --tlsverify        Use TLS and verify the remote
      --tlscacert/--tlscert/--tlskey string
  -v, --version          Print version information and quit
"""


def run(argv: list[str]) -> int:
    """Run one command line (without the program name); returns the exit status."""
    i = 0
    while i < len(argv) and argv[i].startswith("-") and argv[i] != "-":
        takes_value = GLOBAL.get(argv[i].partition("=")[0], ("", 0))[1] and "=" not in argv[i]
        i += 2 if takes_value else 1
    try:
        glob = parse(argv[:i], GLOBAL)
    except InvalidArgument as exc:  # a FlagError
        sys.stderr.write(f"{exc}\nSee 'wharfie --help'.\n")
        return 125
    rest = argv[i:]
    if glob.on("version") and not rest:  # the client's own version: no daemon asked or started
        from wharfie import __version__

        sys.stdout.write(f"Wharfie version {__version__}\n")
        return 0
    if glob.on("help") or not rest or rest[0] == "help":
        sys.stdout.write(USAGE)
        return 0
    verb, args = _resolve(rest)
    if verb is None:
        sys.stderr.write(
            f"wharfie: unknown command: wharfie {' '.join(rest[:2])}\n\nRun 'wharfie --help' "
            "for more information\n"
        )
        return 1
    from wharfie.cli.context import Context

    ctx = Context(glob, verb)
    module, func = COMMANDS[verb]
    handler = getattr(__import__(f"wharfie.cli.{module}", fromlist=[func]), func)
    return _call(handler, ctx, args)


def _resolve(rest: list[str]) -> tuple[str | None, list[str]]:
    word = rest[0]
    if word in GROUPS:
        if len(rest) < 2:
            return None, []
        verb = GROUPS[word].get(rest[1])
        return verb, rest[2:]
    if word in COMMANDS and "-" not in word:
        return word, rest[1:]
    return None, []


USAGE_LINES = {
    "run": "wharfie run [OPTIONS] IMAGE [COMMAND] [ARG...]",
    "create": "wharfie create [OPTIONS] IMAGE [COMMAND] [ARG...]",
    "exec": "wharfie exec [OPTIONS] CONTAINER COMMAND [ARG...]",
    "ps": "wharfie ps [OPTIONS]",
    "images": "wharfie images [OPTIONS] [REPOSITORY[:TAG]]",
    "build": "wharfie build [OPTIONS] PATH | -",
    "service create": "wharfie service create [OPTIONS] IMAGE [COMMAND] [ARG...]",
    "service update": "wharfie service update [OPTIONS] SERVICE",
    "cp": "wharfie cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n"
    "        wharfie cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH",
}


def _call(handler: object, ctx: Context, args: list[str]) -> int:
    from wharfie.cli.flags import FlagError
    from wharfie.client.api import APIError

    verb = ctx.display_verb()
    more = f"\nRun 'wharfie {verb} --help' for more information\n"
    try:
        code: int = handler(ctx, args)  # type: ignore[operator]  # a cmd_* function
        return code
    except FlagError as exc:
        usage = USAGE_LINES.get(verb, f"wharfie {verb} [OPTIONS]")
        sys.stderr.write(f"{exc}\n\nUsage:  {usage}\n{more}")
        return 125
    except APIError as exc:
        sys.stderr.write(f"{ctx.prog_prefix()}Error response from daemon: {exc.message}\n")
        if ctx.prog_prefix():
            sys.stderr.write(more)
        if getattr(exc, "start_failure", False) and ctx.verb == "run":
            from wharfie.cli.run import start_error_status

            return start_error_status(exc.message)
        return ctx.error_status()
    except WharfieError as exc:
        if getattr(exc, "plain", False):
            sys.stderr.write(f"{exc}\n")
            return 1
        sys.stderr.write(f"{ctx.prog_prefix()}{exc}\n")
        if ctx.prog_prefix():
            sys.stderr.write(more)
        return ctx.error_status()
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        return 130


def main() -> int:
    """Console-script entry: run, flush, and leave without interpreter teardown."""
    code = run(sys.argv[1:])
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        pass  # the reader went away: nothing left to deliver
    sys.stderr.flush()
    os._exit(code)
