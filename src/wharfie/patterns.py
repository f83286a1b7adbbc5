""".dockerignore matching (moby/patternmatcher rules) and Go `filepath.Match` (pure).

One copy for everyone who needs these rules: the builder (what COPY may see, COPY/ADD
wildcards) and the clients that send a build context (`wharfie build`, compose). It sits
at the top, like `units`, so each can import it; `re` is imported on first use, since the
CLI imports this module on `wharfie build`'s start path.

.dockerignore: one pattern per line; lines starting with `#` are comments; surrounding
whitespace is trimmed; a leading `!` makes an exception; patterns are cleaned like Go's
`filepath.Clean` and a leading `/` is dropped (the context root). `*` and `?` do not match
`/`, `**` matches any number of directories (zero included), `[...]` classes and `\\`
escapes as in Go. A path is excluded when the last pattern that matches it, or one of its
parent directories, is not an exception.
"""

from __future__ import annotations

import posixpath

from wharfie.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    import re


def clean(path: str) -> str:
    """Go's filepath.Clean for slash paths."""
    if not path:
        return "."
    out = posixpath.normpath(path)
    return "/" + out.lstrip("/") if out.startswith("//") else out


def read_dockerignore(text: str) -> list[str]:
    """The patterns of a .dockerignore file, normalised as the docker CLI does."""
    out: list[str] = []
    for i, raw in enumerate(text.splitlines()):
        line = raw.lstrip("\ufeff") if i == 0 else raw
        if line.startswith("#"):
            continue
        pattern = line.strip()
        if not pattern:
            continue
        invert = pattern.startswith("!")
        if invert:
            pattern = pattern[1:].strip()
        if pattern:
            pattern = clean(pattern)
            if len(pattern) > 1 and pattern.startswith("/"):
                pattern = pattern[1:]
        out.append("!" + pattern if invert else pattern)
    return out


class _Pattern:
    __slots__ = ("exclusion", "regex", "text")

    def __init__(self, text: str, exclusion: bool, regex: re.Pattern[str]) -> None:
        self.text = text
        self.exclusion = exclusion
        self.regex = regex


class Matcher:
    """`Matcher(patterns).excluded(path)` as the docker CLI decides what to send."""

    def __init__(self, patterns: list[str]) -> None:
        self.patterns: list[_Pattern] = []
        for p in patterns:
            p = p.strip()
            if not p:
                continue
            exclusion = p.startswith("!")
            if exclusion:
                p = p[1:]
                if not p:
                    raise InvalidArgument('illegal exclusion pattern: "!"')
            p = clean(p)
            self.patterns.append(_Pattern(p, exclusion, _ignore_regex(p)))

    @property
    def has_exclusions(self) -> bool:
        return any(p.exclusion for p in self.patterns)

    def excluded(self, path: str) -> bool:
        path = clean(path).lstrip("/")
        parent = posixpath.dirname(path)
        parts = parent.split("/") if parent else []
        matched = False
        for p in self.patterns:
            if p.exclusion != matched:
                continue
            hit = bool(p.regex.match(path))
            if not hit and parts:
                hit = any(p.regex.match("/".join(parts[: i + 1])) for i in range(len(parts)))
            if hit:
                matched = not p.exclusion
        return matched


def _ignore_regex(pattern: str) -> re.Pattern[str]:
    import re

    out = "^"
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        i += 1
        if ch == "*":
            if i < n and pattern[i] == "*":
                i += 1
                if i < n and pattern[i] == "/":
                    i += 1
                out += ".*" if i >= n else "(.*/)?"
            else:
                out += "[^/]*"
        elif ch == "?":
            out += "[^/]"
        elif ch == "\\":
            if i < n:
                out += re.escape(pattern[i])
                i += 1
            else:
                out += "\\\\"
        elif ch == "[":
            cls, i = _class(pattern, i)
            out += cls
        else:
            out += re.escape(ch)
    try:
        return re.compile(out + "$")
    except re.error as exc:
        raise InvalidArgument(f"syntax error in pattern {pattern!r}: {exc}") from exc


def _class(pattern: str, i: int) -> tuple[str, int]:
    """A `[...]` class starting after the `[`: (regex, index after the `]`)."""
    import re

    out = "["
    if i < len(pattern) and pattern[i] == "^":
        out += "^"
        i += 1
    first = True
    while i < len(pattern):
        ch = pattern[i]
        i += 1
        if ch == "]" and not first:
            return out + "]", i
        first = False
        if ch == "\\" and i < len(pattern):
            out += re.escape(pattern[i])
            i += 1
        elif ch == "-":
            out += "-"
        else:
            out += re.escape(ch)
    raise InvalidArgument(f"syntax error in pattern: unterminated [ in {pattern!r}")


_MATCH_CACHE: dict[str, re.Pattern[str]] = {}


def _match_regex(pattern: str) -> re.Pattern[str]:
    regex = _MATCH_CACHE.get(pattern)
    if regex is None:
        if len(_MATCH_CACHE) >= 256:
            _MATCH_CACHE.clear()
        regex = _MATCH_CACHE[pattern] = _compile_match(pattern)
    return regex


def _compile_match(pattern: str) -> re.Pattern[str]:
    import re

    out = ""
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        i += 1
        if ch == "*":
            out += "[^/]*"
        elif ch == "?":
            out += "[^/]"
        elif ch == "\\":
            if i >= n:
                raise InvalidArgument(f"syntax error in pattern {pattern!r}")
            out += re.escape(pattern[i])
            i += 1
        elif ch == "[":
            cls, i = _class(pattern, i)
            out += cls.replace("[^", "[^/", 1) if cls.startswith("[^") else cls
        else:
            out += re.escape(ch)
    return re.compile(out + r"\Z", re.DOTALL)


def fnmatch(pattern: str, name: str) -> bool:
    """Go's filepath.Match (`*`/`?` never match `/`; bad patterns raise InvalidArgument)."""
    return _match_regex(pattern).match(name) is not None


def has_wildcards(path: str) -> bool:
    return any(ch in path for ch in "*?[\\")
