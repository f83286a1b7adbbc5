"""A small evaluator for the Go text/template subset docker's --format uses.

Supported: text, `{{.A.B}}`, `{{.}}`, `{{json .X}}`, `{{index .M "k"}}`,
`{{.Label "k"}}` (a method of the row object), `{{join .L ","}}`,
`{{upper .X}}`, `{{lower .X}}`, `{{title .X}}`, `{{len .X}}`,
`{{printf "%s" .X}}`, `{{println .X}}`, pipes (`{{.X | json}}`),
`{{if ...}}…{{else}}…{{end}}`, `{{range .L}}…{{end}}` and `{{- ` / ` -}}`
trimming. Values print as Go prints them (`map[a:b]`, `[x y]`, `<no value>`).

Data is either JSON (dicts, lists, scalars) or a "row" object whose
attributes are the fields (the ps/images/stats tables); a row's `as_dict()`
gives what `{{json .}}` prints.
"""

from __future__ import annotations

from wharfie.errors import InvalidArgument
from wharfie.oci import jsonio

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    Node = Any

NO_VALUE = "<no value>"


class _Missing:
    """A key absent from a map: Go prints "<no value>" (a present null prints "<nil>")."""

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return NO_VALUE


MISSING: Any = _Missing()


# -- lexing -----------------------------------------------------------------
def _split(src: str) -> list[tuple[str, str]]:
    """[("text", s) | ("action", s)] with `{{-`/`-}}` whitespace trimming applied."""
    out: list[tuple[str, str]] = []
    pos = 0
    while True:
        start = src.find("{{", pos)
        if start < 0:
            out.append(("text", src[pos:]))
            return out
        text = src[pos:start]
        end = src.find("}}", start)
        if end < 0:
            raise InvalidArgument(f"template: unclosed action in {src!r}")
        action = src[start + 2 : end]
        if action.startswith("-") and action[1:2] in (" ", "\t", "\n"):
            text = text.rstrip(" \t\r\n")
            action = action[1:]
        out.append(("text", text))
        pos = end + 2
        if action.endswith("-") and action[-2:-1] in (" ", "\t", "\n"):
            action = action[:-1]
            rest = src[pos:]
            pos += len(rest) - len(rest.lstrip(" \t\r\n"))
        out.append(("action", action.strip()))


def _tokens(action: str) -> list[str]:
    toks: list[str] = []
    i, n = 0, len(action)
    while i < n:
        c = action[i]
        if c in " \t\n":
            i += 1
        elif c in "|()":
            toks.append(c)
            i += 1
        elif c == '"':
            j = i + 1
            while j < n and action[j] != '"':
                j += 2 if action[j] == "\\" else 1
            toks.append(action[i : j + 1])
            i = j + 1
        elif c == "`":
            j = action.find("`", i + 1)
            if j < 0:
                raise InvalidArgument(f"template: unterminated raw string in {action!r}")
            toks.append(action[i : j + 1])
            i = j + 1
        else:
            j = i
            while j < n and action[j] not in ' \t\n|()"':
                j += 1
            toks.append(action[i:j])
            i = j
    return toks


def _unquote(tok: str) -> str:
    if tok.startswith("`"):
        return tok[1:-1]
    body = tok[1:-1]
    escapes = {"n": "\n", "t": "\t", '"': '"', "\\": "\\", "r": "\r"}
    out, i = [], 0
    while i < len(body):
        if body[i] == "\\" and i + 1 < len(body):
            out.append(escapes.get(body[i + 1], body[i + 1]))
            i += 2
        else:
            out.append(body[i])
            i += 1
    return "".join(out)


# -- parsing ----------------------------------------------------------------
def parse(src: str) -> list[Node]:
    """Parse into nodes: str | ("pipe", cmds) | ("if", pipe, then, else) | ("range", pipe, body)."""
    items = _split(src)
    nodes, _end, stop = _parse_list(items, 0)
    if stop is not None:
        raise InvalidArgument(f"template: unexpected {{{{{stop}}}}}")
    return nodes


def _parse_list(items: list[tuple[str, str]], i: int) -> tuple[list[Node], int, str | None]:
    nodes: list[Node] = []
    while i < len(items):
        kind, value = items[i]
        i += 1
        if kind == "text":
            if value:
                nodes.append(value)
            continue
        word = value.split(None, 1)[0] if value else ""
        if word in ("end", "else"):
            return nodes, i, word
        if value.startswith("/*"):
            continue
        if word in ("if", "range", "with"):
            pipe = _parse_pipe(value[len(word) :])
            body, i, stop = _parse_list(items, i)
            other: list[Node] = []
            if stop == "else":
                other, i, stop = _parse_list(items, i)
            if stop != "end":
                raise InvalidArgument(f"template: missing {{{{end}}}} for {{{{{value}}}}}")
            nodes.append((word, pipe, body, other))
            continue
        nodes.append(("pipe", _parse_pipe(value)))
    return nodes, i, None


def _parse_pipe(text: str) -> list[list[str]]:
    toks = _tokens(text)
    cmds: list[list[str]] = [[]]
    for t in toks:
        if t == "|":
            cmds.append([])
        elif t not in ("(", ")"):
            cmds[-1].append(t)
    if not all(cmds):
        raise InvalidArgument(f"template: empty command in {{{{{text.strip()}}}}}")
    return cmds


# -- evaluation -------------------------------------------------------------
def go_str(v: Any) -> str:
    """Go's fmt %v rendering of JSON-ish values."""
    if v is MISSING:
        return NO_VALUE
    if v is None:
        return "<nil>"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() and abs(v) < 1e21 else repr(v)
    if isinstance(v, dict):
        return "map[" + " ".join(f"{k}:{_inner(v[k])}" for k in sorted(v)) + "]"
    if isinstance(v, (list, tuple)):
        return "[" + " ".join(_inner(x) for x in v) + "]"
    return str(v)


def _inner(v: Any) -> str:
    return go_str(v)


def to_json(v: Any) -> str:
    if hasattr(v, "as_dict"):
        v = v.as_dict()
    return jsonio.dumps(None if v is MISSING else v)


def _field(obj: Any, name: str, args: list[Any]) -> Any:
    if isinstance(obj, dict):
        return obj.get(name, MISSING)
    if obj is None or obj is MISSING:
        return MISSING
    attr = getattr(obj, name, None)
    if attr is None and not hasattr(obj, name):
        raise InvalidArgument(f"template: can't evaluate field {name} in type {type(obj).__name__}")
    return attr(*args) if callable(attr) else attr


def _printf(fmt: str, *args: Any) -> str:
    out, i, k = [], 0, 0
    while i < len(fmt):
        c = fmt[i]
        if c == "%" and i + 1 < len(fmt):
            verb = fmt[i + 1]
            i += 2
            if verb == "%":
                out.append("%")
                continue
            arg = args[k] if k < len(args) else None
            k += 1
            out.append(jsonio.dumps(arg) if verb == "q" else go_str(arg))
            continue
        out.append(c)
        i += 1
    return "".join(out)


def _index(obj: Any, *keys: Any) -> Any:
    for key in keys:
        if isinstance(obj, dict):
            obj = obj.get(key, "")  # docker's typed maps (labels) give the zero value
        elif isinstance(obj, (list, tuple)):
            obj = obj[int(key)]
        else:
            return MISSING
    return obj


FUNCS: dict[str, Callable[..., Any]] = {
    "json": to_json,
    "index": _index,
    "join": lambda items, sep: sep.join(go_str(x) for x in (items or [])),
    "upper": lambda s: go_str(s).upper(),
    "lower": lambda s: go_str(s).lower(),
    "title": lambda s: go_str(s).title(),
    "len": lambda x: len(x or ()),
    "printf": _printf,
    "print": lambda *a: "".join(go_str(x) for x in a),
    "println": lambda *a: " ".join(go_str(x) for x in a) + "\n",
    "split": lambda s, sep: go_str(s).split(sep),
    "truncate": lambda s, n: go_str(s)[: int(n)],
    "pad": lambda s, a, b: " " * int(a) + go_str(s) + " " * int(b),
}


def _arg(tok: str, dot: Any) -> Any:
    if tok.startswith(('"', "`")):
        return _unquote(tok)
    if tok == ".":
        return dot
    if tok.startswith("."):
        v = dot
        for part in tok[1:].split("."):
            v = _field(v, part, [])
        return v
    if tok.lstrip("-").isdigit():
        return int(tok)
    if tok in ("true", "false"):
        return tok == "true"
    if tok == "nil":
        return None
    if tok in FUNCS:
        return FUNCS[tok]()
    raise InvalidArgument(f'template: function "{tok}" not defined')


def _command(cmd: list[str], dot: Any, piped: list[Any]) -> Any:
    head, rest = cmd[0], cmd[1:]
    if head in FUNCS:
        return FUNCS[head](*[_arg(t, dot) for t in rest], *piped)
    if head.startswith(".") and head != "." and (rest or piped):
        *path, last = head[1:].split(".")
        obj = dot
        for part in path:
            obj = _field(obj, part, [])
        return _field(obj, last, [_arg(t, dot) for t in rest] + piped)
    if rest or piped:
        raise InvalidArgument(f"template: can't give arguments to non-function {head}")
    return _arg(head, dot)


def _pipe(cmds: list[list[str]], dot: Any) -> Any:
    value: Any = None
    for n, cmd in enumerate(cmds):
        value = _command(cmd, dot, [value] if n else [])
    return value


def _truthy(v: Any) -> bool:
    return bool(v)


def _run(nodes: list[Node], dot: Any, out: list[str]) -> None:
    for node in nodes:
        if isinstance(node, str):
            out.append(node)
        elif node[0] == "pipe":
            out.append(go_str(_pipe(node[1], dot)))
        elif node[0] == "if":
            _run(node[2] if _truthy(_pipe(node[1], dot)) else node[3], dot, out)
        elif node[0] == "with":
            v = _pipe(node[1], dot)
            _run(node[2], v, out) if _truthy(v) else _run(node[3], dot, out)
        else:
            items = _pipe(node[1], dot)
            if isinstance(items, dict):
                items = [items[k] for k in sorted(items)]
            if items:
                for item in items:
                    _run(node[2], item, out)
            else:
                _run(node[3], dot, out)


def render(nodes: list[Node] | str, data: Any) -> str:
    """Evaluate a parsed (or source) template against `data`."""
    if isinstance(nodes, str):
        nodes = parse(nodes)
    out: list[str] = []
    _run(nodes, data, out)
    return "".join(out)


def fields(nodes: list[Node]) -> list[str]:
    """The top-level field names a table template prints, in order (for headers)."""
    names = []
    for node in nodes:
        if not isinstance(node, str) and node[0] == "pipe":
            cmd = node[1][0]
            tok = next((t for t in cmd if t.startswith(".") and t != "."), "")
            names.append(tok[1:].split(".")[0] if tok else "")
    return names


def docker_format(fmt: str) -> tuple[bool, str]:
    """docker's pre-processing: strip "table ", trim, turn `\\t` `\\n` into tab/newline."""
    table = fmt.startswith("table")
    if table:
        fmt = fmt[len("table") :]
    fmt = fmt.strip(" ").replace("\\t", "\t").replace("\\n", "\n")
    return table, fmt
