"""Docker's flag syntax (spf13/pflag), hand-written and table-driven.

A command's table maps every spelling ("-d", "--detach") to (name, kind):
kind BOOL, VALUE (last one wins) or LIST (repeatable). Accepted forms:
`-d`, `--detach`, `--detach=false`, `--name x`, `--name=x`, `-e K=V -e K2=V2`,
combined short flags `-it`, `-itd`, a value glued to a short flag (`-eK=V`,
`-n5`) or ending a group (`-de K=V`), and `--`. With `interspersed=False`
(run, create, exec) flags stop at the first positional argument (the image
or container): what follows belongs to the container's command.
Errors use pflag's wording ("unknown flag: --x").
"""

from __future__ import annotations

from wharfie.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class FlagError(InvalidArgument):
    """A command line that does not parse (docker: usage text, exit 125)."""


BOOL = 0
VALUE = 1
LIST = 2

Table = dict[str, tuple[str, int]]


def table(spec: str) -> Table:
    """Build a table from lines like "d detach bool", "- name value", "e env list".

    The first word is the shorthand letter ("-" for none), then the long name,
    then the kind; extra long names after the kind are aliases ("net").
    """
    kinds = {"bool": BOOL, "value": VALUE, "list": LIST}
    out: Table = {}
    for line in spec.strip().splitlines():
        words = line.split()
        if not words:
            continue
        short, name, kind = words[0], words[1], kinds[words[2]]
        out["--" + name] = (name, kind)
        for alias in words[3:]:
            out["--" + alias] = (name, kind)
        if short != "-":
            out["-" + short] = (name, kind)
    return out


class Parsed:
    """Flag values by long name, plus the positional arguments."""

    __slots__ = ("args", "values")

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.args: list[str] = []

    def on(self, name: str, default: bool = False) -> bool:
        v = self.values.get(name)
        return default if v is None else bool(v)

    def get(self, name: str, default: str | None = None) -> str | None:
        v = self.values.get(name)
        return default if v is None else str(v)

    def all(self, name: str) -> list[str]:
        v = self.values.get(name)
        return [str(x) for x in v] if v else []

    def has(self, name: str) -> bool:
        return name in self.values


def _bool_value(flag: str, text: str) -> bool:
    low = text.lower()
    if low in ("1", "t", "true"):
        return True
    if low in ("0", "f", "false"):
        return False
    raise FlagError(
        f'invalid argument "{text}" for "{flag}" flag: strconv.ParseBool: parsing "{text}": '
        "invalid syntax"
    )


def _store(out: Parsed, name: str, kind: int, value: Any) -> None:
    if kind == LIST:
        out.values.setdefault(name, []).append(value)
    else:
        out.values[name] = value


def parse(argv: list[str], tbl: Table, *, interspersed: bool = True) -> Parsed:
    """Parse `argv` (the words after the command name) against `tbl`."""
    out = Parsed()
    i, n = 0, len(argv)
    while i < n:
        word = argv[i]
        i += 1
        if word == "--":
            out.args.extend(argv[i:])
            break
        if not word.startswith("-") or word == "-":
            out.args.append(word)
            if not interspersed:
                out.args.extend(argv[i:])
                break
            continue
        if word.startswith("--"):
            flag, eq, inline = word.partition("=")
            spec = tbl.get(flag)
            if spec is None:
                raise FlagError(f"unknown flag: {flag}")
            name, kind = spec
            if kind == BOOL:
                _store(out, name, kind, _bool_value(flag[2:], inline) if eq else True)
            elif eq:
                _store(out, name, kind, inline)
            elif i < n:
                _store(out, name, kind, argv[i])
                i += 1
            else:
                raise FlagError(f"flag needs an argument: {flag}")
            continue
        i = _short_group(word, argv, i, tbl, out)
    return out


def _short_group(word: str, argv: list[str], i: int, tbl: Table, out: Parsed) -> int:
    """`-itd`, `-eK=V`, `-d=false`, `-de K=V`: returns the next index into argv."""
    j = 1
    while j < len(word):
        letter = word[j]
        spec = tbl.get("-" + letter)
        if spec is None:
            raise FlagError(f"unknown shorthand flag: '{letter}' in {word}")
        name, kind = spec
        rest = word[j + 1 :]
        if kind == BOOL:
            if rest.startswith("="):
                _store(out, name, kind, _bool_value(name, rest[1:]))
                return i
            _store(out, name, kind, True)
            j += 1
            continue
        if rest:
            _store(out, name, kind, rest[1:] if rest.startswith("=") else rest)
            return i
        if i < len(argv):
            _store(out, name, kind, argv[i])
            return i + 1
        raise FlagError(f"flag needs an argument: '{letter}' in -{letter}")
    return i


class UsageError(InvalidArgument):
    """docker 28's refusal of a wrong number of arguments (printed as is, exit status 1)."""

    plain = True


SWARM_USAGE = {
    "swarm init": "[OPTIONS]",
    "swarm join": "[OPTIONS] HOST:PORT",
    "swarm leave": "[OPTIONS]",
    "swarm update": "[OPTIONS]",
    "swarm join-token": "[OPTIONS] (worker|manager)",
    "swarm unlock-key": "[OPTIONS]",
    "swarm unlock": "",
    "node ls": "[OPTIONS]",
    "node inspect": "[OPTIONS] self|NODE [NODE...]",
    "node update": "[OPTIONS] NODE",
    "node promote": "NODE [NODE...]",
    "node demote": "NODE [NODE...]",
    "node rm": "[OPTIONS] NODE [NODE...]",
    "node ps": "[OPTIONS] [NODE...]",
    "service create": "[OPTIONS] IMAGE [COMMAND] [ARG...]",
    "service ls": "[OPTIONS]",
    "service ps": "[OPTIONS] SERVICE [SERVICE...]",
    "service inspect": "[OPTIONS] SERVICE [SERVICE...]",
    "service scale": "SERVICE=REPLICAS [SERVICE=REPLICAS...]",
    "service update": "[OPTIONS] SERVICE",
    "service rollback": "[OPTIONS] SERVICE",
    "service logs": "[OPTIONS] SERVICE|TASK",
    "service rm": "SERVICE [SERVICE...]",
    "secret create": "[OPTIONS] SECRET [file|-]",
    "secret ls": "[OPTIONS]",
    "secret inspect": "[OPTIONS] SECRET [SECRET...]",
    "secret rm": "SECRET [SECRET...]",
    "config create": "[OPTIONS] CONFIG file|-",
    "config ls": "[OPTIONS]",
    "config inspect": "[OPTIONS] CONFIG [CONFIG...]",
    "config rm": "CONFIG [CONFIG...]",
    "stack deploy": "[OPTIONS] STACK",
    "stack ls": "[OPTIONS]",
    "stack ps": "[OPTIONS] STACK",
    "stack services": "[OPTIONS] STACK",
    "stack rm": "[OPTIONS] STACK [STACK...]",
}


def arity(verb: str, want: str) -> UsageError:
    """`wharfie: 'wharfie service ps' requires at least 1 argument` with the verb's usage, as
    docker 28 words it; `want` is "accepts no arguments", "requires 1 argument", ..."""
    usage = f"wharfie {verb} {SWARM_USAGE.get(verb, '[OPTIONS]')}".rstrip()
    # cobra's RequiresMinArgs says "See", the others "Run"
    word = "See" if want.startswith("requires at least") and "at most" not in want else "Run"
    return UsageError(
        f"wharfie: 'wharfie {verb}' {want}\n\nUsage:  {usage}\n\n"
        f"{word} 'wharfie {verb} --help' for more information"
    )
