"""The merged compose document → the normalized model (pure but for reading env_file).

Every service comes out in one shape: long syntax for ports and volumes, mappings
for environment/labels/networks/depends_on, lists for command and entrypoint,
absolute paths for bind mounts, build contexts, secrets and configs. The project's
networks and volumes get their real names (`<project>_<key>` unless `name:` or
external), and a `default` network is added when a service needs it.
"""

from __future__ import annotations

import os

from wharfie.compose import syntax
from wharfie.compose.interpolate import parse_env_file
from wharfie.compose.schema import SchemaError
from wharfie.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

_COPY = (
    "working_dir",
    "container_name",
    "network_mode",
    "init",
    "tty",
    "stdin_open",
    "stop_signal",
    "stop_grace_period",
    "cap_add",
    "cap_drop",
    "read_only",
    "hostname",
    "domainname",
    "privileged",
    "security_opt",
    "platform",
    "ipc",
    "pid",
    "mac_address",
    "oom_score_adj",
    "pull_policy",
    "profiles",
    "logging",
    "dns_opt",
    "group_add",
    "runtime",
)


def normalize_project(
    doc: dict[str, Any], name: str, working_dir: str, env: Mapping[str, str]
) -> dict[str, Any]:
    """The normalized model of a merged, validated document."""
    services = {
        s: normalize_service(s, svc, name, working_dir, env)
        for s, svc in (doc.get("services") or {}).items()
    }
    networks = {k: _network(k, v or {}, name) for k, v in (doc.get("networks") or {}).items()}
    if "default" not in networks and any(
        "default" in svc.get("networks", {}) for svc in services.values()
    ):
        networks["default"] = _network("default", {}, name)
    volumes = {k: _volume(k, v or {}, name) for k, v in (doc.get("volumes") or {}).items()}
    return {
        "name": name,
        "services": services,
        "networks": networks,
        "volumes": volumes,
        "secrets": {
            k: _file_obj(k, v, name, working_dir, env, "secrets")
            for k, v in (doc.get("secrets") or {}).items()
        },
        "configs": {
            k: _file_obj(k, v, name, working_dir, env, "configs")
            for k, v in (doc.get("configs") or {}).items()
        },
    }


def normalize_service(
    name: str, svc: dict[str, Any], project: str, wd: str, env: Mapping[str, str]
) -> dict[str, Any]:
    path = f"services.{name}"
    out: dict[str, Any] = {k: svc[k] for k in _COPY if svc.get(k) is not None}
    build = _build(svc.get("build"), wd)
    if build is not None:
        out["build"] = build
    if svc.get("image"):
        out["image"] = svc["image"]
    elif build is not None:
        out["image"] = f"{project}-{name}"
    else:
        raise SchemaError(path, "service has neither an image nor a build context specified")
    out["command"] = syntax.split_command(svc.get("command"))
    out["entrypoint"] = syntax.split_command(svc.get("entrypoint"))
    out["environment"] = _environment(svc, wd, env, path)
    out["labels"] = {k: v or "" for k, v in syntax.kv_list(svc.get("labels")).items()}
    if "user" in svc:
        out["user"] = str(svc["user"])
    out["ports"] = _ports(svc.get("ports") or [], path)
    out["expose"] = [str(e) for e in svc.get("expose") or []]
    out["volumes"] = [_mount(v, wd) for v in svc.get("volumes") or []]
    out["networks"] = _service_networks(svc)
    out["depends_on"] = _depends_on(svc.get("depends_on"))
    out["restart"] = svc.get("restart", "no")
    if "healthcheck" in svc:
        out["healthcheck"] = _healthcheck(svc["healthcheck"])
    out["scale"] = _scale(svc, path)
    out["resources"] = _resources(svc)
    out["ulimits"] = {
        k: v if isinstance(v, dict) else {"soft": v, "hard": v}
        for k, v in (svc.get("ulimits") or {}).items()
    }
    out["tmpfs"] = _as_list(svc.get("tmpfs"))
    out["dns"] = _as_list(svc.get("dns"))
    out["dns_search"] = _as_list(svc.get("dns_search"))
    out["extra_hosts"] = _extra_hosts(svc.get("extra_hosts"))
    out["sysctls"] = {k: v or "" for k, v in syntax.kv_list(svc.get("sysctls")).items()}
    out["secrets"] = [_file_ref(r, "/run/secrets") for r in svc.get("secrets") or []]
    out["configs"] = [_file_ref(r, "/") for r in svc.get("configs") or []]
    return out


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else [str(v) for v in value]


def _abs(path: str, wd: str) -> str:
    path = os.path.expanduser(path)
    return os.path.normpath(path if os.path.isabs(path) else os.path.join(wd, path))


def _build(build: Any, wd: str) -> dict[str, Any] | None:
    if build is None:
        return None
    if isinstance(build, str):
        build = {"context": build}
    out = {k: v for k, v in build.items() if k not in ("args", "labels")}
    out["context"] = _abs(build.get("context") or ".", wd)
    out.setdefault("dockerfile", "Dockerfile")
    out["args"] = syntax.kv_list(build.get("args"))
    out["labels"] = {k: v or "" for k, v in syntax.kv_list(build.get("labels")).items()}
    return out


def _environment(svc: dict[str, Any], wd: str, env: Mapping[str, str], path: str) -> dict[str, str]:
    out: dict[str, str] = {}
    files = svc.get("env_file")
    for entry in [files] if isinstance(files, str) else files or []:
        file, required = (
            (entry, True)
            if isinstance(entry, str)
            else (entry["path"], entry.get("required", True))
        )
        full = _abs(file, wd)
        try:
            with open(full, encoding="utf-8") as f:
                text = f.read()
        except FileNotFoundError as exc:
            if not required:
                continue
            raise InvalidArgument(f"{path}.env_file: env file {full} not found") from exc
        except OSError as exc:
            raise InvalidArgument(f"{path}.env_file: cannot read {full}: {exc}") from exc
        out.update(parse_env_file(text, full, env))
    for key, value in syntax.kv_list(svc.get("environment")).items():
        if value is None:
            if key in env:
                out[key] = env[key]
            else:
                out.pop(key, None)
        else:
            out[key] = value
    return out


def _ports(ports: list[Any], path: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i, p in enumerate(ports):
        if isinstance(p, dict):
            entry = {
                "target": int(p["target"]),
                "protocol": p.get("protocol", "tcp"),
                "mode": p.get("mode", "ingress"),
            }
            if p.get("published") not in (None, ""):
                entry["published"] = str(p["published"])
            if p.get("host_ip"):
                entry["host_ip"] = p["host_ip"]
            out.append(entry)
            continue
        try:
            out.extend(syntax.parse_port(p))
        except InvalidArgument as exc:
            raise SchemaError(f"{path}.ports[{i}]", str(exc)) from exc
    return out


def _mount(v: Any, wd: str) -> dict[str, Any]:
    m = syntax.parse_volume(v) if isinstance(v, str) else dict(v)
    if m["type"] == "bind" and m.get("source"):
        m["source"] = _abs(m["source"], wd)
    return m


def _service_networks(svc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    nets = svc.get("networks")
    if nets is None:
        return {} if svc.get("network_mode") else {"default": {}}
    if isinstance(nets, list):
        return {n: {} for n in nets}
    return {k: dict(v or {}) for k, v in nets.items()}


def _depends_on(value: Any) -> dict[str, dict[str, Any]]:
    if not value:
        return {}
    if isinstance(value, list):
        return {d: {"condition": "service_started", "required": True} for d in value}
    return {
        k: {
            "condition": (v or {}).get("condition", "service_started"),
            "restart": (v or {}).get("restart", False),
            "required": (v or {}).get("required", True),
        }
        for k, v in value.items()
    }


def _healthcheck(h: dict[str, Any]) -> dict[str, Any]:
    out = dict(h)
    test = h.get("test")
    if isinstance(test, str):
        out["test"] = ["CMD-SHELL", test]
    if test == ["NONE"] or h.get("disable"):
        out = {"disable": True}
    return out


def _scale(svc: dict[str, Any], path: str) -> int:
    replicas = (svc.get("deploy") or {}).get("replicas")
    scale = svc.get("scale")
    if replicas is not None and scale is not None and replicas != scale:
        raise SchemaError(path, f"scale ({scale}) and deploy.replicas ({replicas}) differ")
    value = scale if scale is not None else replicas
    return 1 if value is None else int(value)


def _resources(svc: dict[str, Any]) -> dict[str, Any]:
    limits = ((svc.get("deploy") or {}).get("resources") or {}).get("limits") or {}
    out: dict[str, Any] = {}
    memory = limits.get("memory", svc.get("mem_limit"))
    if memory is not None:
        out["memory"] = syntax.byte_size(memory)
    cpus = limits.get("cpus", svc.get("cpus"))
    if cpus is not None:
        out["cpus"] = float(cpus)
    pids = limits.get("pids", svc.get("pids_limit"))
    if pids is not None:
        out["pids"] = int(pids)
    if svc.get("shm_size") is not None:
        out["shm_size"] = syntax.byte_size(svc["shm_size"])
    return out


def _extra_hosts(value: Any) -> list[str]:
    if not value:
        return []
    if isinstance(value, dict):
        return [f"{k}:{v}" for k, v in value.items()]
    return [str(v).replace("=", ":", 1) if "=" in str(v) else str(v) for v in value]


def _file_ref(ref: Any, base: str) -> dict[str, Any]:
    out: dict[str, Any] = {"source": ref} if isinstance(ref, str) else dict(ref)
    target = out.get("target") or out["source"]
    if not target.startswith("/"):
        target = f"{base.rstrip('/')}/{target}"
    out["target"] = target
    return out


def _external(value: Any) -> tuple[bool, str | None]:
    if isinstance(value, dict):
        return True, value.get("name")
    return bool(value), None


def _network(key: str, spec: dict[str, Any], project: str) -> dict[str, Any]:
    external, ext_name = _external(spec.get("external"))
    real = spec.get("name") or ext_name or (key if external else f"{project}_{key}")
    out = {k: v for k, v in spec.items() if k not in ("external", "labels", "name")}
    out.update(
        {
            "name": real,
            "external": external,
            "labels": {k: v or "" for k, v in syntax.kv_list(spec.get("labels")).items()},
        }
    )
    return out


def _volume(key: str, spec: dict[str, Any], project: str) -> dict[str, Any]:
    external, ext_name = _external(spec.get("external"))
    real = spec.get("name") or ext_name or (key if external else f"{project}_{key}")
    out = {k: v for k, v in spec.items() if k not in ("external", "labels", "name")}
    out.update(
        {
            "name": real,
            "external": external,
            "labels": {k: v or "" for k, v in syntax.kv_list(spec.get("labels")).items()},
        }
    )
    return out


def _file_obj(
    key: str, spec: dict[str, Any], project: str, wd: str, env: Mapping[str, str], kind: str
) -> dict[str, Any]:
    out = dict(spec)
    out.setdefault("name", f"{project}_{key}")
    if spec.get("file"):
        out["file"] = _abs(spec["file"], wd)
    elif spec.get("environment") is not None:
        if spec["environment"] in env:
            out["content"] = env[spec["environment"]]
        else:  # an error only where it is used (up, run), not for ps or logs
            out["missing"] = f"{kind}.{key}.environment: variable {spec['environment']} is not set"

    elif spec.get("content") is None and not spec.get("external"):
        raise SchemaError(f"{kind}.{key}", "needs one of file, environment or content")
    if spec.get("external"):
        raise SchemaError(
            f"{kind}.{key}.external",
            f"external {kind} need swarm mode, which Wharfie does not have",
        )
    return out
