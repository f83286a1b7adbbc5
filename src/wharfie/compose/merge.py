"""Merging compose files (several -f, and `extends`) by the compose specification's rules.

- mappings merge key by key, recursively; scalars of the later file win;
- `environment`, `labels`, `build.args`, `sysctls`, `extra_hosts`, `deploy.labels`:
  list and mapping forms are unified, then merged by key;
- `depends_on` and `networks`: merged by name (list form is a mapping of nulls);
- `volumes` merge by container target, `secrets`/`configs` by source;
- `command`, `entrypoint`, `healthcheck.test` and `profiles` are replaced;
- other sequences (ports, expose, dns, cap_add, env_file, tmpfs...) are appended,
  without repeating an equal entry.
"""

from __future__ import annotations

from wharfie.compose import syntax

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_KV = frozenset({"environment", "labels", "args", "sysctls", "extra_hosts", "annotations"})
_BY_NAME = frozenset({"depends_on", "networks"})
_REPLACE = frozenset({"command", "entrypoint", "test", "profiles"})


def merge_files(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Two whole compose documents."""
    out = dict(base)
    for key, value in override.items():
        if key == "services":
            services = dict(base.get("services") or {})
            for name, svc in (value or {}).items():
                services[name] = merge_service(services.get(name) or {}, svc or {})
            out["services"] = services
        elif isinstance(value, dict) and isinstance(base.get(key), dict):
            out[key] = _merge_map(base[key], value)
        else:
            out[key] = value
    return out


def merge_service(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """One service over another (also how `extends` applies the local definition)."""
    base = _expand_build(base)
    override = _expand_build(override)
    return _merge_map(base, override)


def _expand_build(svc: dict[str, Any]) -> dict[str, Any]:
    if isinstance(svc.get("build"), str):
        return {**svc, "build": {"context": svc["build"]}}
    return svc


def _merge_map(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        if key not in out or out[key] is None:
            out[key] = value
        else:
            out[key] = _merge_value(key, out[key], value)
    return out


def _merge_value(key: str, old: Any, new: Any) -> Any:
    if key in _REPLACE or new is None:
        return new
    if key in _KV:
        sep = ":" if key == "extra_hosts" and isinstance(old, list) else "="
        merged = {**syntax.kv_list(old, sep), **syntax.kv_list(new, _sep(key, new))}
        return merged
    if key in _BY_NAME:
        return _merge_map(_named(old), _named(new))
    if key == "volumes" and isinstance(old, list):
        return _merge_keyed(old, new, _volume_target)
    if key in ("secrets", "configs") and isinstance(old, list):
        return _merge_keyed(old, new, _source)
    if isinstance(old, dict) and isinstance(new, dict):
        return _merge_map(old, new)
    if isinstance(old, list) and isinstance(new, list):
        return old + [v for v in new if v not in old]
    if (
        isinstance(old, (str, list))
        and isinstance(new, (str, list))
        and key in ("dns", "dns_search", "tmpfs", "env_file")
    ):
        as_list = [old] if isinstance(old, str) else old
        extra = [new] if isinstance(new, str) else new
        return as_list + [v for v in extra if v not in as_list]
    return new


def _sep(key: str, value: Any) -> str:
    if key != "extra_hosts" or not isinstance(value, list):
        return "="
    return "=" if all("=" in str(v) for v in value) else ":"


def _named(value: Any) -> dict[str, Any]:
    if isinstance(value, list):
        return {str(v): None for v in value}
    return dict(value or {})


def _volume_target(entry: Any) -> str:
    if isinstance(entry, str):
        parts = entry.split(":")
        return parts[1] if len(parts) > 1 else parts[0]
    return str(entry.get("target"))


def _source(entry: Any) -> str:
    return entry if isinstance(entry, str) else str(entry.get("source"))


def _merge_keyed(old: list[Any], new: list[Any], key: Any) -> list[Any]:
    out = {key(v): v for v in old}
    for v in new:
        out[key(v)] = v
    return list(out.values())
