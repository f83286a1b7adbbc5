"""Variable interpolation and .env files, as the compose specification defines them.

Interpolation applies to every string value of a compose file (never to keys):

    $VAR ${VAR}          the value, or "" when unset (with a warning)
    ${VAR:-default}      default when VAR is unset or empty
    ${VAR-default}       default when VAR is unset
    ${VAR:?message}      error when VAR is unset or empty
    ${VAR?message}       error when VAR is unset
    ${VAR:+alt} ${VAR+alt}  alt when VAR is set (and non-empty for `:+`)
    $$                   a literal `$`

Defaults and messages may themselves hold interpolations (`${A:-${B}}`).
"""

from __future__ import annotations

from wharfie.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any

_NAME_START = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_")
_NAME_CHARS = _NAME_START | frozenset("0123456789")
_OPS = (":-", ":?", ":+", "-", "?", "+")


class InterpolationError(InvalidArgument):
    """A `${VAR:?msg}` without a value, or a malformed `${...}`."""


def interpolate(
    text: str,
    env: Mapping[str, str],
    warn: Callable[[str], None] | None = None,
    where: str = "",
) -> str:
    """Substitute variables in one string; `where` (a path) prefixes errors."""
    if "$" not in text:
        return text
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c != "$" or i + 1 >= n:
            out.append(c)
            i += 1
            continue
        nxt = text[i + 1]
        if nxt == "$":
            out.append("$")
            i += 2
        elif nxt == "{":
            end = _closing_brace(text, i + 2, where)
            out.append(_braced(text[i + 2 : end], env, warn, where))
            i = end + 1
        elif nxt in _NAME_START:
            j = i + 1
            while j < n and text[j] in _NAME_CHARS:
                j += 1
            out.append(_lookup(text[i + 1 : j], env, warn))
            i = j
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _closing_brace(text: str, start: int, where: str) -> int:
    depth = 1
    i = start
    while i < len(text):
        if text.startswith("${", i):
            depth += 1
            i += 2
            continue
        if text[i] == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise InterpolationError(
        f"{_at(where)}invalid interpolation format for {text!r}: missing closing brace"
    )


def _braced(
    inner: str, env: Mapping[str, str], warn: Callable[[str], None] | None, where: str
) -> str:
    j = 0
    while j < len(inner) and inner[j] in _NAME_CHARS:
        j += 1
    name, rest = inner[:j], inner[j:]
    if not name or name[0] not in _NAME_START:
        raise InterpolationError(
            f'{_at(where)}invalid interpolation format for "${{{inner}}}": '
            "a variable name must start with a letter or _"
        )
    if not rest:
        return _lookup(name, env, warn)
    op = next((o for o in _OPS if rest.startswith(o)), None)
    if op is None:
        raise InterpolationError(
            f'{_at(where)}invalid interpolation format for "${{{inner}}}": '
            f"unexpected {rest[0]!r} after the variable name"
        )
    arg = rest[len(op) :]
    value = env.get(name)
    is_set = value is not None
    has_value = bool(value)
    if op in (":-", "-"):
        use_default = not has_value if op == ":-" else not is_set
        return interpolate(arg, env, warn, where) if use_default else str(value)
    if op in (":?", "?"):
        missing = not has_value if op == ":?" else not is_set
        if missing:
            message = interpolate(arg, env, warn, where)
            raise InterpolationError(
                f"{_at(where)}required variable {name} is missing a value"
                + (f": {message}" if message else "")
            )
        return str(value)
    present = has_value if op == ":+" else is_set
    return interpolate(arg, env, warn, where) if present else ""


def _lookup(name: str, env: Mapping[str, str], warn: Callable[[str], None] | None) -> str:
    value = env.get(name)
    if value is None:
        if warn is not None:
            warn(f'The "{name}" variable is not set. Defaulting to a blank string.')
        return ""
    return value


def _at(where: str) -> str:
    return f"{where}: " if where else ""


def interpolate_tree(
    node: Any,
    env: Mapping[str, str],
    warn: Callable[[str], None] | None = None,
    path: str = "",
) -> Any:
    """Interpolate every string value of a YAML tree (keys are left alone)."""
    if isinstance(node, str):
        return interpolate(node, env, warn, path)
    if isinstance(node, dict):
        return {
            k: interpolate_tree(v, env, warn, f"{path}.{k}" if path else str(k))
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [interpolate_tree(v, env, warn, f"{path}[{i}]") for i, v in enumerate(node)]
    return node


def parse_env_file(text: str, source: str, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """A .env / env_file: `KEY=VALUE` lines, `#` comments, optional `export `, quotes.

    Double-quoted values understand \\n, \\t, \\" and \\\\ and are interpolated from
    the variables seen so far (and `env`); single-quoted values are literal; unquoted
    values lose a trailing ` # comment` and surrounding blanks and are interpolated.
    A line `KEY` alone takes KEY from `env` if set there (otherwise it is skipped).
    """
    out: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[7:].lstrip()
        key, eq, value = line.partition("=")
        key = key.strip()
        if not key or any(ch.isspace() for ch in key):
            raise InvalidArgument(f"{source}:{number}: invalid variable name {key!r}")
        if not eq:
            if env is not None and key in env:
                out[key] = env[key]
            continue
        scope = {**(env or {}), **out}
        out[key] = _env_value(value.strip(), scope, f"{source}:{number}")
    return out


def _env_value(value: str, scope: Mapping[str, str], where: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == "'":
        return value[1:-1]
    if len(value) >= 2 and value[0] == value[-1] == '"':
        body = value[1:-1]
        for esc, real in (("\\n", "\n"), ("\\t", "\t"), ('\\"', '"'), ("\\\\", "\\")):
            body = body.replace(esc, real)
        return interpolate(body, scope, None, where)
    hash_at = value.find(" #")
    if hash_at >= 0:
        value = value[:hash_at].rstrip()
    return interpolate(value, scope, None, where)
