"""Loading a compose project: files, .env, interpolation, validation, merge, extends, profiles.

    load(Options(files=[...], project_name=..., env_files=[...], profiles=[...]))
        -> Project (the normalized model plus where it came from)

Order, as docker compose does it: the environment (.env or --env-file, then the
process environment over it) → each file parsed (YAML errors with line numbers),
interpolated and validated on its own (errors name the path and the line) →
files merged → `extends` resolved → profiles applied → normalized → cross-references
(undefined networks/volumes/secrets, depends_on cycles) checked.
"""

from __future__ import annotations

import os
import re

from wharfie.compose import merge, validate
from wharfie.compose.interpolate import interpolate_tree, parse_env_file
from wharfie.compose.normalize import normalize_project
from wharfie.compose.schema import SchemaError
from wharfie.errors import InvalidArgument, NotFound

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

DEFAULT_FILES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")
OVERRIDE_FILES = (
    "compose.override.yaml",
    "compose.override.yml",
    "docker-compose.override.yaml",
    "docker-compose.override.yml",
)


class Options:
    """What the command line (and the environment) says about the project."""

    def __init__(
        self,
        files: list[str] | None = None,
        project_name: str | None = None,
        project_directory: str | None = None,
        env_files: list[str] | None = None,
        profiles: list[str] | None = None,
        environ: Mapping[str, str] | None = None,
        cwd: str | None = None,
        services: list[str] | None = None,
    ) -> None:
        self.files = files or []
        self.project_name = project_name
        self.project_directory = project_directory
        self.env_files = env_files or []
        self.profiles = profiles
        self.environ = dict(os.environ if environ is None else environ)
        self.cwd = cwd or os.getcwd()
        self.services = services or []


class Project:
    """The normalized model (`model`) and its origin."""

    def __init__(
        self,
        model: dict[str, Any],
        working_dir: str,
        config_files: list[str],
        env: dict[str, str],
        warnings: list[str],
        disabled: dict[str, Any],
    ) -> None:
        self.model = model
        self.name: str = model["name"]
        self.working_dir = working_dir
        self.config_files = config_files
        self.env = env
        self.warnings = warnings
        self.disabled = disabled  # services left out by profiles (normalized)

    @property
    def services(self) -> dict[str, dict[str, Any]]:
        services: dict[str, dict[str, Any]] = self.model["services"]
        return services


def find_files(opts: Options) -> list[str]:
    """-f files, else COMPOSE_FILE, else the first default name in cwd or a parent."""
    if opts.files:
        return [f if f == "-" else os.path.abspath(os.path.join(opts.cwd, f)) for f in opts.files]
    env_files = opts.environ.get("COMPOSE_FILE")
    if env_files:
        sep = opts.environ.get("COMPOSE_PATH_SEPARATOR", os.pathsep)
        return [os.path.abspath(os.path.join(opts.cwd, f)) for f in env_files.split(sep) if f]
    folder = opts.cwd
    while True:
        for name in DEFAULT_FILES:
            path = os.path.join(folder, name)
            if os.path.isfile(path):
                extra = [
                    os.path.join(folder, o)
                    for o in OVERRIDE_FILES
                    if os.path.isfile(os.path.join(folder, o))
                ]
                return [path, *extra[:1]]
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    raise NotFound(
        "no configuration file provided: not found (looked for "
        + ", ".join(DEFAULT_FILES)
        + f" in {opts.cwd} and its parents)"
    )


def load_environment(opts: Options, working_dir: str) -> dict[str, str]:
    """--env-file files (or <project dir>/.env), with the process environment over them."""
    files = [os.path.join(opts.cwd, f) for f in opts.env_files]
    if not files:
        default = os.path.join(working_dir, ".env")
        files = [default] if os.path.isfile(default) else []
    dotenv: dict[str, str] = {}
    for path in files:
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except FileNotFoundError as exc:
            raise NotFound(f"couldn't find env file: {os.path.abspath(path)}") from exc
        except OSError as exc:
            raise InvalidArgument(f"cannot read env file {path}: {exc}") from exc
        dotenv.update(parse_env_file(text, path, {**dotenv, **opts.environ}))
    return {**dotenv, **opts.environ}


def load(opts: Options) -> Project:
    files = find_files(opts)
    first = files[0] if files[0] != "-" else os.path.join(opts.cwd, "-")
    working_dir = os.path.abspath(opts.project_directory or os.path.dirname(first))
    env = load_environment(opts, working_dir)
    warnings: list[str] = []
    docs = [read_file(path, env, warnings) for path in files]
    doc = docs[0]
    for other in docs[1:]:
        doc = merge.merge_files(doc, other)
    doc = resolve_extends(doc, files[0], env, warnings)
    name = project_name(opts, env, doc, working_dir)
    doc, disabled_raw = apply_profiles(doc, opts, env)
    model = normalize_project(doc, name, working_dir, env)
    validate.check_references(model)
    disabled = normalize_project({"services": disabled_raw}, name, working_dir, env)
    return Project(model, working_dir, files, env, warnings, disabled["services"])


def read_file(path: str, env: Mapping[str, str], warnings: list[str]) -> dict[str, Any]:
    """Parse, interpolate and validate one file; errors say which file and line."""
    from wharfie.compose.yamlsrc import parse_yaml

    text = _read_text(path)
    doc, lines = parse_yaml(text, path)
    shown = os.path.basename(path)
    try:
        doc = interpolate_tree(doc, env, warnings.append)
        validate.check_file(doc)
    except SchemaError as exc:
        line = _line_of(lines, exc.spot)
        where = f" ({shown} line {line})" if line else f" ({shown})"
        raise SchemaError(exc.path, exc.message + where, exc.spot) from exc
    except InvalidArgument as exc:
        raise InvalidArgument(f"{shown}: {exc}") from exc
    if "version" in doc:
        warnings.append(f"{path}: the attribute `version` is obsolete, it will be ignored")
    result: dict[str, Any] = doc
    return result


def _read_text(path: str) -> str:
    import sys

    try:
        if path == "-":
            return sys.stdin.read()
        with open(path, encoding="utf-8") as f:
            return f.read()
    except FileNotFoundError as exc:
        raise NotFound(f"open {path}: no such file or directory") from exc
    except OSError as exc:
        raise InvalidArgument(f"cannot read {path}: {exc}") from exc


def _line_of(lines: dict[str, int], spot: str) -> int | None:
    while spot:
        if spot in lines:
            return lines[spot]
        cut = max(spot.rfind("."), spot.rfind("["))
        spot = spot[:cut] if cut > 0 else ""
    return None


_BAD_NAME_CHARS = re.compile(r"[^a-z0-9_-]")
_VALID_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


def normalize_name(name: str) -> str:
    """Compose's rule: lower case, only [a-z0-9_-], starting with a letter or digit."""
    return _BAD_NAME_CHARS.sub("", name.lower()).lstrip("_-")


def project_name(
    opts: Options, env: Mapping[str, str], doc: dict[str, Any], working_dir: str
) -> str:
    explicit = opts.project_name or env.get("COMPOSE_PROJECT_NAME") or doc.get("name")
    if explicit:
        if not _VALID_NAME.match(explicit):
            raise InvalidArgument(
                f'invalid project name "{explicit}": must consist only of lowercase '
                "alphanumeric characters, hyphens, and underscores as well as start with "
                "a letter or number"
            )
        return str(explicit)
    name = normalize_name(os.path.basename(working_dir.rstrip("/")))
    if not name:
        raise InvalidArgument(f"cannot derive a project name from {working_dir}: use -p")
    return name


def apply_profiles(
    doc: dict[str, Any], opts: Options, env: Mapping[str, str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(doc with only active services, the services left out)."""
    active = set(
        opts.profiles
        if opts.profiles is not None
        else [p for p in env.get("COMPOSE_PROFILES", "").split(",") if p]
    )
    keep, drop = {}, {}
    for name, svc in (doc.get("services") or {}).items():
        profiles = set(svc.get("profiles") or [])
        enabled = not profiles or "*" in active or bool(profiles & active)
        if enabled or name in opts.services:
            keep[name] = svc
        else:
            drop[name] = svc
    return {**doc, "services": keep}, drop


def resolve_extends(
    doc: dict[str, Any], path: str, env: Mapping[str, str], warnings: list[str]
) -> dict[str, Any]:
    services = dict(doc.get("services") or {})
    for name in list(services):
        services[name] = _extended(name, services, path, env, warnings, [])
    return {**doc, "services": services}


def _extended(
    name: str,
    services: dict[str, Any],
    path: str,
    env: Mapping[str, str],
    warnings: list[str],
    trail: list[str],
) -> dict[str, Any]:
    svc: dict[str, Any] = services[name]
    ext = svc.get("extends")
    if ext is None:
        return svc
    ref = {"service": ext} if isinstance(ext, str) else ext
    key = f"{ref.get('file', path)}:{ref['service']}"
    if key in trail:
        raise SchemaError(
            f"services.{name}.extends", "circular extends: " + " -> ".join([*trail, key])
        )
    if ref.get("file"):
        other = os.path.join(os.path.dirname(path), ref["file"])
        other_doc = read_file(other, env, warnings)
        pool = dict(other_doc.get("services") or {})
        base_path = other
    else:
        pool, base_path = services, path
    if ref["service"] not in pool:
        raise SchemaError(
            f"services.{name}.extends",
            f'cannot extend service "{name}": service "{ref["service"]}" '
            f"not found in {os.path.basename(base_path)}",
        )
    base = _extended(ref["service"], pool, base_path, env, warnings, [*trail, key])
    base = _rebase(base, os.path.dirname(base_path), os.path.dirname(path))
    local = {k: v for k, v in svc.items() if k != "extends"}
    base = {k: v for k, v in base.items() if k not in ("depends_on",)} if ref.get("file") else base
    return merge.merge_service(base, local)


def _rebase(svc: dict[str, Any], base_dir: str, here: str) -> dict[str, Any]:
    """Paths of a service from another folder, made relative to that folder."""
    if os.path.abspath(base_dir) == os.path.abspath(here):
        return svc
    out = dict(svc)

    def fix(p: str) -> str:
        return p if os.path.isabs(p) or p.startswith("~") else os.path.join(base_dir, p)

    build = out.get("build")
    if isinstance(build, str):
        out["build"] = fix(build)
    elif isinstance(build, dict) and "context" in build:
        out["build"] = {**build, "context": fix(build["context"])}
    env_file = out.get("env_file")
    if isinstance(env_file, str):
        out["env_file"] = fix(env_file)
    elif isinstance(env_file, list):
        out["env_file"] = [
            fix(e) if isinstance(e, str) else {**e, "path": fix(e["path"])} for e in env_file
        ]
    return out
