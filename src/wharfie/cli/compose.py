"""`wharfie compose`: multi-container applications from a compose file.

    wharfie compose [-f FILE]... [-p NAME] [--env-file F]... [--profile P]... COMMAND ...

The project is loaded by wharfie.compose.loader (errors name the file, path and
line), planned by wharfie.compose.plan and applied through the Docker API by
wharfie.compose.apply. This module holds the global flags, the dispatcher, and
up/down/config/ls; compose_ops.py has the other verbs.
"""

from __future__ import annotations

import os
import sys

from wharfie.cli.flags import parse, table
from wharfie.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from wharfie.cli.context import Context
    from wharfie.cli.flags import Parsed
    from wharfie.compose.apply import Runner
    from wharfie.compose.loader import Project

GLOBAL = table(
    """
    f file list
    p project-name value
    - project-directory value
    - env-file list
    - profile list
    - ansi value
    - progress value
    - parallel value
    - dry-run bool
    - compatibility bool
    - help bool
    """
)

VERBS: dict[str, tuple[str, str]] = {
    "up": ("compose", "cmd_up"),
    "down": ("compose", "cmd_down"),
    "config": ("compose", "cmd_config"),
    "convert": ("compose", "cmd_config"),
    "ls": ("compose", "cmd_ls"),
    "ps": ("compose_ops", "cmd_ps"),
    "logs": ("compose_ops", "cmd_logs"),
    "build": ("compose_ops", "cmd_build"),
    "pull": ("compose_ops", "cmd_pull"),
    "push": ("compose_ops", "cmd_push"),
    "exec": ("compose_ops", "cmd_exec"),
    "run": ("compose_run", "cmd_run"),
    "create": ("compose", "cmd_create"),
    "start": ("compose_ops", "cmd_start"),
    "stop": ("compose_ops", "cmd_stop"),
    "restart": ("compose_ops", "cmd_restart"),
    "kill": ("compose_ops", "cmd_kill"),
    "rm": ("compose_ops", "cmd_rm"),
    "pause": ("compose_ops", "cmd_pause"),
    "unpause": ("compose_ops", "cmd_unpause"),
    "top": ("compose_ops", "cmd_top"),
    "port": ("compose_ops", "cmd_port"),
    "images": ("compose_ops", "cmd_images"),
    "version": ("compose", "cmd_version"),
}

USAGE = """Usage:  wharfie compose [OPTIONS] COMMAND

Define and run multi-container applications

Options:
  -f, --file stringArray           Compose configuration files
  -p, --project-name string        Project name
      --project-directory string   Specify an alternate working directory
      --env-file stringArray       Specify an alternate environment file
      --profile stringArray        Specify a profile to enable

Commands:
  build config create down exec images kill logs ls pause port ps pull push
  restart rm run start stop top unpause up version
"""


class Compose:
    """The per-invocation state: global flags, the loaded project, a runner."""

    def __init__(self, ctx: Context, glob: Parsed) -> None:
        self.ctx = ctx
        self.glob = glob
        self._project: Project | None = None

    def project(self, services: list[str] | None = None) -> Project:
        if self._project is None:
            from wharfie.compose.loader import Options, load

            g = self.glob
            opts = Options(
                files=g.all("file"),
                project_name=g.get("project-name"),
                project_directory=g.get("project-directory"),
                env_files=g.all("env-file"),
                profiles=g.all("profile") or None,
                services=services,
            )
            self._project = load(opts)
            for w in self._project.warnings:
                sys.stderr.write(f"WARN[0000] {w}\n")
        return self._project

    def project_name_only(self) -> str:
        """-p or COMPOSE_PROJECT_NAME when given (commands that work without a file)."""
        name = self.glob.get("project-name") or os.environ.get("COMPOSE_PROJECT_NAME")
        if name:
            return name
        return self.project().name

    def runner(self, services: list[str] | None = None) -> Runner:
        from wharfie.compose.apply import Runner

        client = self.ctx.client  # connects (and may start the daemon) once
        return Runner(self.ctx.new_client, self.project(services), progress, client)


def progress(kind: str, name: str, status: str) -> None:
    sys.stderr.write(f" {kind} {name}  {status}\n")
    sys.stderr.flush()


def cmd_compose(ctx: Context, argv: list[str]) -> int:
    i = 0
    while i < len(argv) and argv[i].startswith("-") and argv[i] != "-":
        flag = argv[i].partition("=")[0]
        takes_value = GLOBAL.get(flag, ("", 0))[1] and "=" not in argv[i]
        if flag.startswith("-") and not flag.startswith("--") and len(flag) > 2:
            takes_value = False  # -fFILE
        i += 2 if takes_value else 1
    glob = parse(argv[:i], GLOBAL)
    rest = argv[i:]
    if glob.on("help") or not rest or rest[0] == "help":
        sys.stdout.write(USAGE)
        return 0
    verb = rest[0]
    if verb not in VERBS:
        raise InvalidArgument(f'unknown docker command: "compose {verb}"')
    ctx.verb = f"compose-{verb}"
    module, func = VERBS[verb]
    handler = getattr(__import__(f"wharfie.cli.{module}", fromlist=[func]), func)
    code: int = handler(Compose(ctx, glob), rest[1:])
    return code


def cmd_version(c: Compose, argv: list[str]) -> int:
    from wharfie.compose.plan import COMPOSE_VERSION

    sys.stdout.write(f"Wharfie Compose version v{COMPOSE_VERSION}\n")
    return 0


UP_FLAGS = table(
    """
    d detach bool
    - build bool
    - no-build bool
    - force-recreate bool
    - no-recreate bool
    - no-deps bool
    - scale list
    - remove-orphans bool
    - wait bool
    - wait-timeout value
    - abort-on-container-exit bool
    - exit-code-from value
    - no-start bool
    - no-color bool
    - no-log-prefix bool
    - quiet-pull bool
    - pull value
    t timeout value
    - attach list
    - always-recreate-deps bool
    V renew-anon-volumes bool
    - timestamps bool
    y yes bool
    """
)


def parse_scale(items: list[str]) -> dict[str, int]:
    out = {}
    for item in items:
        name, eq, num = item.partition("=")
        if not eq or not num.isdigit():
            raise InvalidArgument(f"invalid --scale {item!r}: expected SERVICE=NUM")
        out[name] = int(num)
    return out


def _up_options(f: Parsed) -> Any:
    from wharfie.compose.plan import UpOptions

    if f.on("force-recreate") and f.on("no-recreate"):
        raise InvalidArgument("--force-recreate and --no-recreate are incompatible")
    if f.on("build") and f.on("no-build"):
        raise InvalidArgument("--build and --no-build are incompatible")
    if f.on("detach") and (f.on("abort-on-container-exit") or f.has("exit-code-from")):
        raise InvalidArgument("--abort-on-container-exit and -d cannot be combined")
    return UpOptions(
        services=f.args,
        force_recreate=f.on("force-recreate"),
        no_recreate=f.on("no-recreate"),
        no_deps=f.on("no-deps"),
        scale=parse_scale(f.all("scale")),
        remove_orphans=f.on("remove-orphans"),
        no_start=f.on("no-start"),
    )


def cmd_up(c: Compose, argv: list[str]) -> int:
    f = parse(argv, UP_FLAGS)
    opts = _up_options(f)
    runner = c.runner(f.args)
    for name in [*f.args, *opts.scale]:
        if name not in runner.project.services:
            raise InvalidArgument(f"no such service: {name}")
    pull = f.get("pull")
    if pull in ("always", "never", "missing"):
        for svc in runner.project.services.values():
            svc["pull_policy"] = pull
    detach = f.on("detach") or f.on("wait") or opts.no_start
    attacher = None
    if not detach:
        from wharfie.cli.compose_logs import prepare_attached

        attacher = prepare_attached(runner, f)
    runner.renew_anon_volumes = f.on("renew-anon-volumes")
    runner.up(opts, build=f.on("build"), no_build=f.on("no-build"), log=_build_log)
    if f.on("wait"):
        from wharfie.compose.plan import with_dependencies

        names = set(opts.services) or set(runner.project.services)
        runner.wait_running(
            with_dependencies(runner.project.services, sorted(names)),
            float(f.get("wait-timeout") or 300),
        )
    if attacher is None:
        return 0
    from wharfie.cli.compose_logs import attached_up

    return attached_up(attacher, f)


def _build_log(line: str) -> None:
    sys.stderr.write(line + "\n")


def cmd_create(c: Compose, argv: list[str]) -> int:
    return cmd_up(c, ["--no-start", *argv])


DOWN_FLAGS = table(
    """
    v volumes bool
    - rmi value
    - remove-orphans bool
    t timeout value
    """
)


def cmd_down(c: Compose, argv: list[str]) -> int:
    f = parse(argv, DOWN_FLAGS)
    if f.args:
        raise InvalidArgument('"down" accepts no arguments')
    rmi = f.get("rmi")
    if rmi not in (None, "local", "all"):
        raise InvalidArgument(f'invalid --rmi "{rmi}": local or all')
    t = f.get("timeout")
    timeout = int(t) if t else None
    c.runner().down(
        volumes=f.on("volumes"), remove_orphans=f.on("remove-orphans"), rmi=rmi, timeout=timeout
    )
    return 0


CONFIG_FLAGS = table(
    """
    - services bool
    - volumes bool
    - networks bool
    - profiles bool
    - images bool
    q quiet bool
    - format value
    - hash value
    o output value
    - no-interpolate bool
    - resolve-image-digests bool
    """
)


def cmd_config(c: Compose, argv: list[str]) -> int:
    f = parse(argv, CONFIG_FLAGS)
    project = c.project(f.args or None)
    out = _config_text(project, f)
    if f.on("quiet"):
        return 0
    if f.get("output"):
        with open(f.get("output") or "", "w", encoding="utf-8") as fh:
            fh.write(out)
        return 0
    sys.stdout.write(out)
    return 0


def _config_text(project: Project, f: Parsed) -> str:
    model = project.model
    if f.on("services"):
        return "".join(f"{s}\n" for s in model["services"])
    if f.on("volumes"):
        return "".join(f"{v}\n" for v in model["volumes"])
    if f.on("networks"):
        return "".join(f"{n}\n" for n in model["networks"])
    if f.on("images"):
        return "".join(f"{s['image']}\n" for s in model["services"].values())
    if f.on("profiles"):
        names = {
            p
            for s in [*model["services"].values(), *project.disabled.values()]
            for p in s.get("profiles", [])
        }
        return "".join(f"{p}\n" for p in sorted(names))
    if f.get("hash"):
        from wharfie.compose.plan import config_hash

        wanted = f.get("hash") or "*"
        return "".join(
            f"{s} {config_hash(svc)}\n"
            for s, svc in model["services"].items()
            if wanted == "*" or s in wanted.split(",")
        )
    if (f.get("format") or "yaml") == "json":
        import json

        return json.dumps(model, indent=2) + "\n"
    import yaml

    return str(yaml.safe_dump(model, sort_keys=False, default_flow_style=False))


LS_FLAGS = table(
    """
    a all bool
    q quiet bool
    - format value
    - filter list
    """
)


def cmd_ls(c: Compose, argv: list[str]) -> int:
    from wharfie.compose import plan, resources

    f = parse(argv, LS_FLAGS)
    projects: dict[str, dict[str, Any]] = {}
    for ct in resources.all_projects(c.ctx.client):
        labels = ct.get("Labels") or {}
        p = projects.setdefault(labels.get(plan.PROJECT, ""), {"states": {}, "files": ""})
        state = ct.get("State", "unknown")
        p["states"][state] = p["states"].get(state, 0) + 1
        p["files"] = labels.get(plan.CONFIG_FILES, p["files"])
    rows = []
    for name in sorted(projects):
        p = projects[name]
        if not f.on("all") and "running" not in p["states"]:
            continue
        status = ", ".join(f"{s}({n})" for s, n in sorted(p["states"].items()))
        rows.append({"Name": name, "Status": status, "ConfigFiles": p["files"]})
    if f.on("quiet"):
        sys.stdout.write("".join(r["Name"] + "\n" for r in rows))
    elif f.get("format") == "json":
        from wharfie.oci import jsonio

        sys.stdout.write(jsonio.dumps(rows) + "\n")
    else:
        sys.stdout.write(
            table_text(
                ["NAME", "STATUS", "CONFIG FILES"],
                [[r["Name"], r["Status"], r["ConfigFiles"]] for r in rows],
            )
        )
    return 0


def table_text(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = []
    for r in [header, *rows]:
        cells = [str(v).ljust(widths[i]) for i, v in enumerate(r)]
        lines.append("   ".join(cells).rstrip())
    return "".join(line + "\n" for line in lines)
