"""The Dockerfile parser (pure): text -> directives and instructions.

Docker's syntax: parser directives at the very top (`# syntax=`, `# escape=`), comment
lines, line continuations (escape char at the end of a line; comment and blank lines
inside a continuation are skipped), case-insensitive instruction names, JSON (exec) and
shell forms, leading `--flag=value` options, and heredocs (`RUN <<EOF`, `<<-EOF` strips
leading tabs, a quoted terminator turns expansion off). Errors name the file and line.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from wharfie.errors import InvalidArgument

INSTRUCTIONS = frozenset(
    {
        "from",
        "run",
        "cmd",
        "label",
        "maintainer",
        "expose",
        "env",
        "add",
        "copy",
        "entrypoint",
        "volume",
        "user",
        "workdir",
        "arg",
        "onbuild",
        "stopsignal",
        "healthcheck",
        "shell",
    }
)
JSON_FORMS = frozenset({"run", "cmd", "entrypoint", "shell", "volume", "copy", "add"})
FLAGGED = frozenset({"from", "run", "copy", "add", "healthcheck"})
HEREDOC_FORMS = frozenset({"run", "copy", "add"})
FLAGS = {
    "from": {"platform"},
    "copy": {"from", "chown", "chmod", "link"},
    "add": {"chown", "chmod", "link"},
    "run": set(),
    "healthcheck": {"interval", "timeout", "start-period", "start-interval", "retries"},
}
BUILDKIT_FLAGS = {
    "run": {"mount", "network", "security"},
    "copy": {"parents", "exclude"},
    "add": {"checksum", "keep-git-dir", "exclude"},
}

_DIRECTIVE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$")
_HEREDOC = re.compile(r"<<(-?)(['\"]?)([a-zA-Z_][a-zA-Z0-9_]*)\2")


@dataclass
class Heredoc:
    name: str
    content: str
    expand: bool = True
    chomp: bool = False


@dataclass
class Instruction:
    cmd: str  # lower case
    rest: str  # the text after the name and flags (continuations joined)
    line: int  # first line, 1-based
    original: str  # the instruction as written (continuations joined)
    flags: list[str] = field(default_factory=list)  # "--from=x"
    json: list[str] | None = None  # the exec form's words, when given
    heredocs: list[Heredoc] = field(default_factory=list)

    def flag(self, name: str) -> str | None:
        """The value of --name (the last one wins), or None."""
        value = None
        for f in self.flags:
            key, sep, val = f[2:].partition("=")
            if key == name:
                value = val if sep else "true"
        return value


@dataclass
class Dockerfile:
    instructions: list[Instruction]
    directives: dict[str, str]
    escape: str
    filename: str = "Dockerfile"
    warnings: list[str] = field(default_factory=list)


class ParseError(InvalidArgument):
    pass


def error(filename: str, line: int, message: str) -> ParseError:
    """buildkit's parseError, as Engine 25's classic builder reports it (no file name)."""
    del filename
    return ParseError(f"dockerfile parse error on line {line}: {message}")


def parse(text: str, filename: str = "Dockerfile") -> Dockerfile:
    lines = text.replace("\r\n", "\n").split("\n")
    if lines and lines[0].startswith("\ufeff"):
        lines[0] = lines[0][1:]
    directives, start = _directives(lines, filename)
    escape = directives.get("escape", "\\")
    if escape not in ("\\", "`"):
        raise error(filename, 1, f"invalid escape token '{escape}' does not match ` or \\")
    p = _Parser(lines, start, escape, filename)
    instructions = p.run()
    return Dockerfile(instructions, directives, escape, filename, p.warnings)


def _directives(lines: list[str], filename: str) -> tuple[dict[str, str], int]:
    found: dict[str, str] = {}
    i = 0
    while i < len(lines):
        m = _DIRECTIVE.match(lines[i].strip())
        if not m:
            break
        key = m.group(1).lower()
        if key not in ("syntax", "escape", "check"):
            break
        if key in found:
            raise error(filename, i + 1, f"only one {key} parser directive can be used")
        found[key] = m.group(2)
        i += 1
    return found, i


class _Parser:
    def __init__(self, lines: list[str], start: int, escape: str, filename: str) -> None:
        self.lines = lines
        self.i = start
        self.escape = escape
        self.filename = filename
        self.warnings: list[str] = []

    def run(self) -> list[Instruction]:
        out: list[Instruction] = []
        while self.i < len(self.lines):
            raw = self.lines[self.i]
            stripped = raw.strip()
            if not stripped or stripped.startswith("#"):
                self.i += 1
                continue
            out.append(self._instruction())
        return out

    def _logical_line(self) -> tuple[int, str]:
        """Join continuation lines from self.i; skip comments and blanks inside."""
        first = self.i + 1
        parts: list[str] = []
        empty = False
        while self.i < len(self.lines):
            line = self.lines[self.i]
            self.i += 1
            if parts and (not line.strip() or line.lstrip().startswith("#")):
                empty = empty or not line.strip()
                continue
            if empty:
                self.warnings.append(
                    f"Empty continuation line found in: {''.join(parts)}{line}".strip()
                )
                empty = False
            body = line.rstrip()
            if body.endswith(self.escape):
                parts.append(body[:-1])
                continue
            parts.append(line)
            return first, "".join(parts)
        return first, "".join(parts)

    def _instruction(self) -> Instruction:
        line, text = self._logical_line()
        text = text.strip()
        word, _, rest = text.partition(" ")
        if "\t" in word:
            word, _, more = word.partition("\t")
            rest = more + " " + rest
        cmd = word.lower()
        if cmd not in INSTRUCTIONS:
            raise error(self.filename, line, f"unknown instruction: {word.upper()}")
        return self.build(cmd, rest.strip(), line, text)

    def build(self, cmd: str, rest: str, line: int, original: str) -> Instruction:
        ins = Instruction(cmd=cmd, rest=rest, line=line, original=original)
        if cmd in FLAGGED:
            ins.flags, ins.rest = split_flags(rest)
        if cmd in HEREDOC_FORMS:
            ins.heredocs = self._heredocs(ins.rest)
        if cmd in JSON_FORMS and ins.rest.startswith("["):
            ins.json = parse_json(ins.rest)
        check(ins, self.filename)
        return ins

    def _heredocs(self, rest: str) -> list[Heredoc]:
        docs: list[Heredoc] = []
        for m in _HEREDOC.finditer(rest):
            chomp, quote, name = m.group(1) == "-", m.group(2), m.group(3)
            body: list[str] = []
            start = self.i
            while True:
                if self.i >= len(self.lines):
                    raise error(self.filename, start, f"unterminated heredoc {name}")
                text = self.lines[self.i]
                self.i += 1
                check_line = text.lstrip("\t") if chomp else text
                if check_line == name:
                    break
                body.append(check_line + "\n")
            docs.append(Heredoc(name, "".join(body), expand=not quote, chomp=chomp))
        return docs


def split_flags(rest: str) -> tuple[list[str], str]:
    flags: list[str] = []
    while rest.startswith("--"):
        word, _, after = rest.partition(" ")
        if word == "--":
            break
        flags.append(word)
        rest = after.lstrip()
    return flags, rest


def parse_json(rest: str) -> list[str] | None:
    """The exec form's words, or None when `rest` is not a JSON array of strings."""
    try:
        value = json.loads(rest)
    except ValueError:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return None
    return value


def check_flags(ins: Instruction, filename: str) -> None:
    for f in ins.flags:
        key = f[2:].partition("=")[0]
        if key in FLAGS.get(ins.cmd, set()):
            continue
        if key in BUILDKIT_FLAGS.get(ins.cmd, set()):
            raise error(
                filename,
                ins.line,
                f"the --{key} option requires BuildKit. Refer to "
                "https://docs.docker.com/go/buildkit/ to learn how to build images "
                "with BuildKit enabled",
            )
        raise error(filename, ins.line, f"Unknown flag: {key}")


def check(ins: Instruction, filename: str) -> None:
    """Per-instruction argument checks that need no build state."""
    name = ins.cmd.upper()
    check_flags(ins, filename)
    if ins.cmd in ("run", "cmd", "entrypoint", "shell", "onbuild", "healthcheck"):
        if ins.cmd == "shell" and ins.json is None:
            raise error(filename, ins.line, "SHELL requires the arguments to be in JSON form")
        if ins.cmd in ("shell", "onbuild", "healthcheck") and not ins.rest:
            raise error(filename, ins.line, f"{name} requires at least one argument")
        if ins.cmd == "onbuild":
            parse_onbuild(ins, filename)
        return
    if not ins.rest:
        raise error(filename, ins.line, f"{name} requires at least one argument")
    copying = ins.cmd in ("copy", "add") and ins.json is None and not ins.heredocs
    if copying and len(split_words(ins.rest)) < 2:
        raise error(filename, ins.line, f"{name} requires at least two arguments")
    if ins.cmd == "from":
        words = ins.rest.split()
        if len(words) not in (1, 3) or (len(words) == 3 and words[1].lower() != "as"):
            raise error(filename, ins.line, "FROM requires either one or three arguments")
    if ins.cmd in ("env", "label"):
        name_values(ins, filename)


def split_words(text: str) -> list[str]:
    """Whitespace-separated words; quotes and escapes are kept (substitution removes them)."""
    words: list[str] = []
    cur = ""
    quote = ""
    have = False
    i = 0
    while i < len(text):
        ch = text[i]
        if quote:
            cur += ch
            if ch == "\\" and quote == '"' and i + 1 < len(text):
                cur += text[i + 1]
                i += 1
            elif ch == quote:
                quote = ""
        elif ch in " \t":
            if have:
                words.append(cur)
            cur, have = "", False
        else:
            have = True
            cur += ch
            if ch in "'\"":
                quote = ch
            elif ch == "\\" and i + 1 < len(text):
                cur += text[i + 1]
                i += 1
        i += 1
    if have:
        words.append(cur)
    return words


def name_values(ins: Instruction, filename: str) -> list[tuple[str, str]]:
    """ENV/LABEL/ARG pairs: `k=v k2="v 2"`, or the old `key value` form (ENV, LABEL)."""
    words = split_words(ins.rest)
    if not words:
        raise error(filename, ins.line, f"{ins.cmd.upper()} requires at least one argument")
    if ins.cmd != "arg" and "=" not in words[0]:
        key, _, value = ins.rest.partition(" ")
        if not value.strip():
            raise error(filename, ins.line, f"{ins.cmd.upper()} must have two arguments")
        return [(key, value.strip())]
    pairs: list[tuple[str, str]] = []
    for w in words:
        key, sep, value = w.partition("=")
        if not sep and ins.cmd != "arg":
            raise error(filename, ins.line, f"{ins.cmd.upper()} names can not be blank")
        if not key:
            raise error(filename, ins.line, f"{ins.cmd.upper()} names can not be blank")
        pairs.append((key, value if sep else "\0"))
    return pairs


def parse_onbuild(ins: Instruction, filename: str) -> Instruction:
    """The instruction inside `ONBUILD <instruction>`."""
    word, _, rest = ins.rest.partition(" ")
    cmd = word.lower()
    if cmd in ("onbuild", "from", "maintainer"):
        raise error(filename, ins.line, f"{word.upper()} isn't allowed as an ONBUILD trigger")
    if cmd not in INSTRUCTIONS:
        raise error(filename, ins.line, f"unknown instruction: {word.upper()}")
    p = _Parser([], 0, "\\", filename)
    return p.build(cmd, rest.strip(), ins.line, ins.rest)


def parse_trigger(text: str, filename: str = "ONBUILD") -> Instruction:
    """A stored ONBUILD trigger (an image's config OnBuild entry) as an instruction."""
    word, _, rest = text.strip().partition(" ")
    cmd = word.lower()
    if cmd not in INSTRUCTIONS:
        raise error(filename, 1, f"unknown instruction: {word.upper()}")
    return _Parser([], 0, "\\", filename).build(cmd, rest.strip(), 1, text)
