"""wharfied's options from flags and daemon.json (the table of options is `options.OPTIONS`).

    settings = load(argv)        # flags, then the file; raises ConfigError with dockerd's words

Every option has dockerd's flag and configuration key where dockerd has the option
(`--registry-mirror` / `registry-mirrors`, `-H` / `hosts`, ...). The file is
`--config-file` (default /etc/wharfie/daemon.json, which may be absent). As dockerd:
a key that is no option, a key also given as a flag, or a value of the wrong JSON type is
an error naming them; nested objects are flattened when looking for unknown keys, except
the options whose value is an object (`log-opts`, `runtimes`, ...). Pure, no I/O besides
reading the file.
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import dataclass
from typing import Any

from wharfie.daemon import containerdefaults
from wharfie.daemon.options import DEFAULT_HOST, LOG_LEVELS, OPTIONS, Option

__all__ = [
    "DEFAULT_CONFIG_FILE",
    "DEFAULT_HOST",
    "LOG_LEVELS",
    "OPTIONS",
    "ConfigError",
    "Option",
    "Settings",
    "load",
    "parse_file",
    "parser",
    "read_file",
]

DEFAULT_CONFIG_FILE = "/etc/wharfie/daemon.json"


class ConfigError(Exception):
    """A bad configuration: the daemon prints it and exits 1, as dockerd does."""


BY_KEY = {o.key: o for o in OPTIONS}
# Keys whose values are objects: not flattened when looking for unknown keys (as dockerd).
FLAT = {"log-opts", "runtimes", "default-ulimits", "features", "builder"}
_GO_TYPES = {
    "str": "string",
    "bool": "bool",
    "int": "int",
    "float": "float64",
    "list": "[]string",
    "map": "map[string]string",
    "pools": "[]*ipamutils.NetworkToSplit",
    "runtimes": "map[string]types.Runtime",
    "ulimits": "map[string]*units.Ulimit",
    "size": "opts.MemBytes",
}


def _go_bool(text: str) -> bool:
    value = {
        "1": True,
        "t": True,
        "true": True,
        "TRUE": True,
        "True": True,
        "T": True,
        "0": False,
        "f": False,
        "false": False,
        "FALSE": False,
        "False": False,
        "F": False,
    }
    if text not in value:
        raise argparse.ArgumentTypeError(f'strconv.ParseBool: parsing "{text}": invalid syntax')
    return value[text]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="wharfied",
        description="The Wharfie daemon: serves the Docker Engine API 1.44.",
        epilog="Every option but --config-file and --validate may also be set in the "
        "configuration file under its dockerd key (see docs/daemon.md); a key set in both "
        "places is an error.",
    )
    p.add_argument(
        "--config-file",
        default=None,
        metavar="PATH",
        help=f"daemon configuration file (default {DEFAULT_CONFIG_FILE})",
    )
    p.add_argument(
        "--validate",
        action="store_true",
        help="check the flags and the configuration file, then exit",
    )
    p.add_argument("-v", "--version", action="store_true", help="print the version and exit")
    p.add_argument(
        "--no-masquerade",
        action="store_true",
        help="same as --ip-masq=false (kept for older scripts)",
    )
    for o in OPTIONS:
        kw: dict[str, Any] = {"dest": o.dest, "default": None, "help": o.help}
        if o.metavar:
            kw["metavar"] = o.metavar
        if o.choices:
            kw["choices"] = o.choices
        if o.kind == "bool":
            # dockerd's boolean flags: --flag, or --flag=false
            kw.update(nargs="?", const=True, type=_go_bool, metavar="true|false")
        elif o.kind == "int":
            kw["type"] = int
        elif o.kind == "float":
            kw["type"] = float
        elif o.kind in ("list", "map", "pools", "runtimes", "ulimits"):
            kw["action"] = "append"
        p.add_argument(*o.flags, **kw)
    return p


@dataclass
class Settings:
    """The merged options (attribute per key, dashes as underscores) and where they came
    from."""

    values: dict[str, Any]
    config_file: str
    validate: bool = False
    version: bool = False

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["values"][name]
        except KeyError as e:
            raise AttributeError(name) from e


def load(argv: list[str]) -> Settings:
    """Flags, then the configuration file; ConfigError with dockerd's wording."""
    ns = parser().parse_args(argv)
    flags: dict[str, Any] = {}
    for o in OPTIONS:
        raw = getattr(ns, o.dest)
        if raw is not None:
            flags[o.key] = _from_flag(o, raw)
    if ns.no_masquerade and "ip-masq" not in flags:
        flags["ip-masq"] = False
    path = ns.config_file or DEFAULT_CONFIG_FILE
    file_values = read_file(path, explicit=ns.config_file is not None, flags=flags)
    values = {o.dest: o.default for o in OPTIONS}
    for key, value in {**file_values, **flags}.items():
        values[BY_KEY[key].dest] = value
    if values["debug"]:
        values["log_level"] = "debug"
    _check_merged(values, path if os.path.exists(path) else None)
    _check_values(values)
    return Settings(values, path, validate=ns.validate, version=ns.version)


def _check_merged(values: dict[str, Any], path: str | None) -> None:
    """dockerd's validation of the merged options (the file's own values were checked as
    it was read); with a file, its wording names it."""
    for key in ("default-ipc-mode", "default-cgroupns-mode"):
        try:
            containerdefaults.VALIDATORS[key](values[BY_KEY[key].dest])
        except ValueError as e:
            if path is None:
                raise ConfigError(str(e)) from e
            raise ConfigError(
                _prefix(
                    path,
                    f"merged configuration validation from file and command line flags failed: {e}",
                )
            ) from e


def read_file(path: str, *, explicit: bool, flags: dict[str, Any]) -> dict[str, Any]:
    """The file's options by key, checked against the flags given; {} if the default file
    is absent."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError as e:
        if not explicit:
            return {}
        raise ConfigError(_prefix(path, f"open {path}: no such file or directory")) from e
    except OSError as e:
        raise ConfigError(_prefix(path, f"open {path}: {e.strerror}")) from e
    try:
        return parse_file(text, flags)
    except ConfigError as e:
        raise ConfigError(_prefix(path, str(e))) from e


def _prefix(path: str, message: str) -> str:
    return f"unable to configure the daemon with file {path}: {message}"


def parse_file(text: str, flags: dict[str, Any]) -> dict[str, Any]:
    """A daemon.json text -> {key: value}; ConfigError (without the file prefix)."""
    if not text.strip():
        raise ConfigError("EOF")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise ConfigError(f"invalid JSON at line {e.lineno} column {e.colno}: {e.msg}") from e
    if not isinstance(doc, dict):
        raise ConfigError(
            f"json: cannot unmarshal {_json_kind(doc)} into Go value of type "
            "map[string]interface {}"
        )
    flat = _flatten(doc)
    unknown = [k for k in flat if k not in BY_KEY]
    if unknown:
        raise ConfigError(
            "the following directives don't match any configuration option: "
            + ", ".join(sorted(unknown))
        )
    both = sorted((BY_KEY[k] for k in flat if k in flags), key=lambda o: o.flag_name)
    if both:
        raise ConfigError(
            "the following directives are specified both as a flag and in the configuration "
            "file: "
            + ", ".join(
                f"{o.key}: (from flag: {_go_str(flags[o.key])}, from file: {_go_str(flat[o.key])})"
                for o in both
            )
        )
    out = {k: _from_file(BY_KEY[k], v) for k, v in flat.items()}
    for key, parse in containerdefaults.PARSERS.items():
        if key in out:
            _defaults(parse, out[key])
    for key, check in containerdefaults.VALIDATORS.items():
        values = out.get(key)
        for item in [values] if isinstance(values, str) else values or []:
            try:
                check(item)
            except ValueError as e:
                raise ConfigError(f"configuration validation from file failed: {e}") from e
    return out


def _flatten(doc: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in doc.items():
        if isinstance(value, dict) and key not in FLAT:
            out.update(_flatten(value))
        else:
            out[key] = value
    return out


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if value is None:
        return "null"
    return "object"


def _go_str(value: Any) -> str:
    """How Go's %v prints a flag's value or a decoded JSON value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list):
        return "[" + " ".join(_go_str(v) for v in value) + "]"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{_go_str(v)}" for k, v in sorted(value.items())) + "]"
    return str(value)


def _type_error(o: Option, value: Any) -> ConfigError:
    return ConfigError(
        f"json: cannot unmarshal {_json_kind(value)} into Go struct field "
        f"Config.{o.key} of type {_GO_TYPES[o.kind]}"
    )


def _from_file(o: Option, value: Any) -> Any:
    if o.kind == "str":
        if not isinstance(value, str):
            raise _type_error(o, value)
        return value
    if o.kind == "bool":
        if not isinstance(value, bool):
            raise _type_error(o, value)
        return value
    if o.kind == "int":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
            raise _type_error(o, value)
        return int(value)
    if o.kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _type_error(o, value)
        return float(value)
    if o.kind == "list":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise _type_error(o, value)
        return list(value)
    if o.kind == "map":
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise _type_error(o, value)
        return dict(value)
    if o.kind == "pools":
        if not isinstance(value, list):
            raise _type_error(o, value)
        return [_pool(p) for p in value]
    if o.kind == "size":
        return _defaults(containerdefaults.shm_size, value)
    if o.kind == "ulimits":
        if not isinstance(value, dict):
            raise _type_error(o, value)
        return _defaults(containerdefaults.ulimits_file, value)
    if not isinstance(value, dict):  # runtimes
        raise _type_error(o, value)
    return {name: _runtime(name, spec) for name, spec in value.items()}


def _pool(p: Any) -> tuple[str, int]:
    if not isinstance(p, dict) or not isinstance(p.get("base"), str):
        raise ConfigError(
            'invalid default-address-pools entry: want {"base": "CIDR", "size": PREFIX}'
        )
    size = p.get("size")
    if isinstance(size, bool) or not isinstance(size, int):
        raise ConfigError(f"invalid default-address-pools entry {p}: size must be a number")
    return p["base"], size


def _runtime(name: str, spec: Any) -> str:
    if not isinstance(spec, dict) or not isinstance(spec.get("path"), str):
        raise ConfigError(f'runtime {name}: want {{"path": "/path/to/binary"}}')
    if spec.get("runtimeArgs"):
        raise ConfigError(
            f"runtime {name}: runtimeArgs are not supported (wrap the binary in a script)"
        )
    return str(spec["path"])


def _from_flag(o: Option, raw: Any) -> Any:
    check = containerdefaults.FLAG_VALIDATORS.get(o.key)
    if o.key == "ip":  # opts.IPOpt's wording
        check = _ip_flag
    if check is not None:
        for item in [raw] if isinstance(raw, str) else raw:
            try:
                check(item)
            except ValueError as e:
                raise ConfigError(
                    f'invalid argument "{item}" for "--{o.flag_name}" flag: {e}'
                ) from e
    if o.kind == "map":
        out = {}
        for item in raw:
            key, sep, value = item.partition("=")
            if not sep:
                raise ConfigError(f"invalid key/value pair format in {o.flag_name}: {item}")
            out[key] = value
        return out
    if o.kind == "runtimes":
        rts = {}
        for item in raw:
            name, sep, path = item.partition("=")
            if not sep or not name or not path:
                raise ConfigError(f"invalid runtime: {item}: want NAME=PATH")
            rts[name] = path
        return rts
    if o.kind == "pools":
        return [_pool_flag(item) for item in raw]
    if o.kind == "ulimits":
        return dict(_defaults(containerdefaults.ulimit_flag, item) for item in raw)
    if o.kind == "size":
        return _defaults(containerdefaults.shm_size, raw)
    return raw


def _ip_flag(text: str) -> str:
    try:
        return containerdefaults.validate_ip(text)
    except ValueError:
        raise ValueError(f"{text} is not an ip address") from None


def _defaults(parse: Any, value: Any) -> Any:
    try:
        return parse(value)
    except ValueError as e:
        raise ConfigError(str(e)) from e


def _pool_flag(item: str) -> tuple[str, int]:
    fields = dict(f.partition("=")[::2] for f in item.split(","))
    if set(fields) != {"base", "size"}:
        raise ConfigError(f"invalid default address pool {item!r}: want base=CIDR,size=PREFIX")
    try:
        return fields["base"], int(fields["size"])
    except ValueError as e:
        raise ConfigError(f"invalid default address pool {item!r}: size is no number") from e


def _check_values(values: dict[str, Any]) -> None:
    import ipaddress

    if values["log_level"] not in LOG_LEVELS:
        raise ConfigError(f"unable to parse logging level: {values['log_level']}")
    if values["log_driver"] not in BY_KEY["log-driver"].choices:
        raise ConfigError(f"logger: no log driver named '{values['log_driver']}' is registered")
    if not 0 <= values["mtu"] <= 65535 or 0 < values["mtu"] < 68:
        raise ConfigError(f"invalid MTU {values['mtu']}: between 68 and 65535")
    for base, size in values["default_address_pools"]:
        try:
            net = ipaddress.IPv4Network(base)
        except ValueError as e:
            raise ConfigError(f"invalid base pool {base!r}: {e}") from e
        if not net.prefixlen <= size <= 30:
            raise ConfigError(f"invalid pools size: {size}")
    if values["ipv6"] and not values["fixed_cidr_v6"]:
        raise ConfigError(
            "IPv6 is enabled for the default bridge, but no subnet is configured. Specify an "
            "IPv6 subnet using --fixed-cidr-v6"
        )
    if values["fixed_cidr_v6"]:
        try:
            ipaddress.IPv6Network(values["fixed_cidr_v6"])
        except ValueError as e:
            raise ConfigError(f"invalid fixed-cidr-v6 {values['fixed_cidr_v6']!r}: {e}") from e
    values["labels"] = _defaults(containerdefaults.conflict_free_labels, values["labels"])
    for server in values["dns"]:
        try:
            ipaddress.ip_address(server)
        except ValueError as e:
            raise ConfigError(f"{server} is not an ip address") from e
