"""YAML → Python, with the line of every path kept for error messages.

`parse_yaml(text, name)` returns (document, {path: line}) where paths look like
`services.web.ports[0]`. Syntax errors become InvalidArgument with the line and
column. YAML 1.1's yes/no/on/off booleans are read as strings, as compose's YAML
1.2 parser does (so `environment: {DEBUG: yes}` means "yes").
"""

from __future__ import annotations

from wharfie.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_LOADER: Any = None


def _loader_class() -> Any:
    global _LOADER
    if _LOADER is not None:
        return _LOADER
    import re

    import yaml

    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class Loader(base):  # type: ignore[misc,valid-type]
        pass

    Loader.yaml_implicit_resolvers = {
        k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:bool"]
        for k, v in base.yaml_implicit_resolvers.items()
    }
    Loader.add_implicit_resolver(
        "tag:yaml.org,2002:bool",
        re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
        list("tTfF"),
    )
    _LOADER = Loader
    return Loader


def parse_yaml(text: str, name: str) -> tuple[Any, dict[str, int]]:
    import yaml

    loader = _loader_class()(text)
    try:
        node = loader.get_single_node()
        doc = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown line"
        raise InvalidArgument(f"{name}: yaml: {where}: {exc.problem or exc.context}") from exc
    except yaml.YAMLError as exc:
        raise InvalidArgument(f"{name}: yaml: {exc}") from exc
    finally:
        loader.dispose()
    lines: dict[str, int] = {}
    if node is not None:
        _walk(node, "", lines)
    return doc, lines


def _walk(node: Any, path: str, lines: dict[str, int]) -> None:
    import yaml

    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            sub = f"{path}.{key.value}" if path else str(key.value)
            lines[sub] = key.start_mark.line + 1
            _walk(value, sub, lines)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            sub = f"{path}[{i}]"
            lines[sub] = item.start_mark.line + 1
            _walk(item, sub, lines)
