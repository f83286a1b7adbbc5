"""What each instruction does to a stage's image config (pure).

`StageState` is the build state of one stage: the image config being assembled, its
history and layers, the ARGs in scope. Metadata instructions (ENV, LABEL, CMD, ...) are
applied here; RUN's argv and environment and the history text are computed here too.
The executor (engine.buildsteps) does what needs the filesystem: RUN, COPY, ADD, WORKDIR.
"""

from __future__ import annotations

import copy
import hashlib
import json
import posixpath
from dataclasses import dataclass, field
from typing import Any

from wharfie.build import shell
from wharfie.build.parser import (
    Instruction,
    name_values,
    parse_json,
    parse_onbuild,
    split_flags,
)
from wharfie.build.plan import PROXY_ARGS
from wharfie.errors import InvalidArgument
from wharfie.units import parse_duration

DEFAULT_SHELL = ["/bin/sh", "-c"]
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
UNSET = "\0"


@dataclass
class StageState:
    config: dict[str, Any]  # the image config's "config" section
    image_id: str  # the last image of this stage in the store ("" = scratch so far)
    diff_ids: list[str]
    history: list[dict[str, Any]]
    build_args: dict[str, str]  # --build-arg values
    meta_args: dict[str, str]  # values of the ARGs before FROM
    escape: str = "\\"
    filename: str = "Dockerfile"
    args: dict[str, str] = field(default_factory=dict)  # declared ARGs (UNSET: no value)
    used_args: set[str] = field(default_factory=set)
    cmd_set: bool = False
    author: str = ""
    stage: int = -1  # the index of the stage being built
    key: str = ""  # the cache chain: the base image and every step so far (see build.cache)

    @classmethod
    def from_image(
        cls,
        image_id: str,
        image: dict[str, Any],
        build_args: dict[str, str],
        meta_args: dict[str, str],
        escape: str,
        filename: str,
    ) -> StageState:
        cfg = copy.deepcopy(image.get("config") or {})
        env = list(cfg.get("Env") or [])
        if not any(e.partition("=")[0] == "PATH" for e in env):
            # As moby's setDefaultPath at every stage: a base without PATH gets the default
            # (and so does the image built on it).
            cfg["Env"] = [*env, DEFAULT_PATH]
        cfg.pop("OnBuild", None)
        diff_ids = list((image.get("rootfs") or {}).get("diff_ids") or [])
        st = cls(
            cfg,
            image_id,
            diff_ids,
            list(image.get("history") or []),
            build_args,
            meta_args,
            escape,
            filename,
        )
        st.key = digest(["from", image_id or "scratch"])
        return st

    # -- the environment seen by substitution and by RUN ---------------------------------
    def env(self) -> dict[str, str]:
        out = {k: v for k, v in self.args.items() if v != UNSET}
        for item in self.config.get("Env") or []:
            k, _, v = item.partition("=")
            out[k] = v
        return out

    def word(self, text: str) -> str:
        return shell.word(text, self.env(), self.escape)

    def words(self, text: str) -> list[str]:
        return shell.words(text, self.env(), self.escape)

    def run_args(self) -> dict[str, str]:
        """ARGs with values that RUN sees as environment (not overridden by ENV)."""
        env_keys = {e.partition("=")[0] for e in self.config.get("Env") or []}
        out = {k: v for k, v in self.args.items() if v != UNSET and k not in env_keys}
        for k in PROXY_ARGS:
            if k in self.build_args and k not in out:
                out[k] = self.build_args[k]
        return out

    def shell_cmd(self) -> list[str]:
        return list(self.config.get("Shell") or DEFAULT_SHELL)

    def add_history(self, created_by: str, empty: bool, created: str) -> None:
        entry: dict[str, Any] = {"created": created, "created_by": created_by}
        if empty:
            entry["empty_layer"] = True
        self.history.append(entry)


def digest(parts: list[Any]) -> str:
    raw = json.dumps(parts, sort_keys=True, separators=(",", ":")).encode()
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def nop(text: str) -> str:
    return f"/bin/sh -c #(nop) {text}"


# -- ARG -------------------------------------------------------------------------------
def declare_args(st: StageState, ins: Instruction) -> str:
    """Declare ARGs; the history text names them with their values (what the cache keys)."""
    shown = []
    for key, default in name_values(ins, st.filename):
        if key in st.build_args:
            value = st.build_args[key]
        elif default != UNSET:
            value = st.word(default)
        elif key in st.meta_args:
            value = st.meta_args[key]
        else:
            value = UNSET
        st.args[key] = value
        st.used_args.add(key)
        shown.append(key if value == UNSET else f"{key}={value}")
    return nop("ARG " + " ".join(shown))


# -- metadata instructions --------------------------------------------------------------
def apply_meta(st: StageState, ins: Instruction) -> str:
    """Apply a metadata instruction; returns its history text."""
    handler = _META.get(ins.cmd)
    if handler is None:
        raise InvalidArgument(f"{ins.cmd.upper()} is not a metadata instruction")
    return handler(st, ins)


def _env(st: StageState, ins: Instruction) -> str:
    env = list(st.config.get("Env") or [])
    shown = []
    for key, raw in name_values(ins, st.filename):
        value = st.word(raw)
        key = st.word(key)
        env = [e for e in env if e.partition("=")[0] != key] + [f"{key}={value}"]
        st.config["Env"] = env
        shown.append(f"{key}={value}")
    return nop("ENV " + " ".join(shown))


def _label(st: StageState, ins: Instruction) -> str:
    labels = dict(st.config.get("Labels") or {})
    shown = []
    for key, raw in name_values(ins, st.filename):
        k, v = st.word(key), st.word(raw)
        labels[k] = v
        shown.append(f"{k}={v}")
    st.config["Labels"] = labels
    return nop("LABEL " + " ".join(shown))


def _maintainer(st: StageState, ins: Instruction) -> str:
    st.author = st.word(ins.rest)
    return nop("MAINTAINER " + st.author)


def command(st: StageState, ins: Instruction) -> list[str]:
    if ins.json is not None:
        return list(ins.json)
    return [*st.shell_cmd(), ins.rest]


def _cmd(st: StageState, ins: Instruction) -> str:
    st.config["Cmd"] = command(st, ins)
    st.cmd_set = True
    return nop("CMD " + json.dumps(st.config["Cmd"]))


def _entrypoint(st: StageState, ins: Instruction) -> str:
    ep = command(st, ins)
    st.config["Entrypoint"] = ep if (ins.json is not None or ins.rest) else None
    if not st.cmd_set:
        st.config["Cmd"] = None
    return nop("ENTRYPOINT " + json.dumps(ep))


def _shell(st: StageState, ins: Instruction) -> str:
    st.config["Shell"] = list(ins.json or [])
    return nop("SHELL " + json.dumps(st.config["Shell"]))


def expose_ports(words: list[str]) -> list[str]:
    out = []
    for w in words:
        port, _, proto = w.partition("/")
        proto = (proto or "tcp").lower()
        if proto not in ("tcp", "udp", "sctp"):
            raise InvalidArgument(f"invalid proto: {proto}")
        lo, _, hi = port.partition("-")
        if not lo.isdigit() or (hi and not hi.isdigit()):
            raise InvalidArgument(f"invalid containerPort: {port}")
        for p in range(int(lo), int(hi or lo) + 1):
            out.append(f"{p}/{proto}")
    return out


def _expose(st: StageState, ins: Instruction) -> str:
    ports = dict(st.config.get("ExposedPorts") or {})
    new = expose_ports(st.words(ins.rest))
    for p in new:
        ports[p] = {}
    st.config["ExposedPorts"] = ports
    return nop("EXPOSE " + " ".join(sorted(ports)))


def _volume(st: StageState, ins: Instruction) -> str:
    vols = dict(st.config.get("Volumes") or {})
    paths = [st.word(w) for w in ins.json] if ins.json is not None else st.words(ins.rest)
    for p in paths:
        if not p.strip():
            raise InvalidArgument("VOLUME specified can not be an empty string")
        vols[p] = {}
    st.config["Volumes"] = vols
    return nop("VOLUME " + json.dumps(paths))


def _user(st: StageState, ins: Instruction) -> str:
    st.config["User"] = st.word(ins.rest)
    return nop("USER " + st.config["User"])


def workdir_path(st: StageState, ins: Instruction) -> str:
    path = st.word(ins.rest)
    if not posixpath.isabs(path):
        path = posixpath.join(st.config.get("WorkingDir") or "/", path)
    return posixpath.normpath(path) if path != "/" else "/"


def _workdir(st: StageState, ins: Instruction) -> str:
    st.config["WorkingDir"] = workdir_path(st, ins)
    return nop("WORKDIR " + st.config["WorkingDir"])


def valid_signal(sig: str) -> bool:
    """moby's signal.ParseSignal: a number, or a name with or without SIG (RTMIN+n too)."""
    import signal

    if sig.isdigit():
        return 0 < int(sig) <= 64
    name = sig.upper().removeprefix("SIG")
    if name.startswith(("RTMIN+", "RTMAX-")):
        return name[6:].isdigit() and 0 <= int(name[6:]) <= 15
    return ("SIG" + name) in signal.Signals.__members__ or name in ("RTMIN", "RTMAX")


def _stopsignal(st: StageState, ins: Instruction) -> str:
    sig = st.word(ins.rest)
    if not valid_signal(sig):
        raise InvalidArgument(f"Invalid signal: {sig}")
    st.config["StopSignal"] = sig
    return nop("STOPSIGNAL " + sig)


def _onbuild(st: StageState, ins: Instruction) -> str:
    parse_onbuild(ins, st.filename)  # the trigger must be a valid instruction
    word, _, rest = ins.rest.partition(" ")
    trigger = f"{word.upper()} {rest.strip()}".strip()
    st.config["OnBuild"] = [*(st.config.get("OnBuild") or []), trigger]
    return nop("ONBUILD " + trigger)


def _healthcheck(st: StageState, ins: Instruction) -> str:
    st.config["Healthcheck"] = healthcheck(ins)
    return nop("HEALTHCHECK " + json.dumps(st.config["Healthcheck"]))


def healthcheck(ins: Instruction) -> dict[str, Any]:
    more, rest = split_flags(ins.rest)
    flags = [*ins.flags, *more]
    word, _, cmd = rest.partition(" ")
    if word.upper() == "NONE":
        if flags or cmd.strip():
            raise InvalidArgument("HEALTHCHECK NONE takes no arguments")
        return {"Test": ["NONE"]}
    if word.upper() != "CMD":
        raise InvalidArgument(f'Unknown type "{word}" in HEALTHCHECK (try CMD)')
    cmd = cmd.strip()
    if not cmd:
        raise InvalidArgument("Missing command after HEALTHCHECK CMD")
    words = parse_json(cmd) if cmd.startswith("[") else None
    out: dict[str, Any] = {"Test": ["CMD", *words] if words is not None else ["CMD-SHELL", cmd]}
    for f in flags:
        key, _, val = f[2:].partition("=")
        field_name = _HC_FLAGS.get(key)
        if field_name is None:
            raise InvalidArgument(f"Unknown flag: {key}")
        out[field_name] = _hc_value(key, val)
    return out


_HC_FLAGS = {
    "interval": "Interval",
    "timeout": "Timeout",
    "start-period": "StartPeriod",
    "start-interval": "StartInterval",
    "retries": "Retries",
}


def _hc_value(key: str, val: str) -> int:
    if key == "retries":
        if not val.isdigit():
            raise InvalidArgument(f"--retries must be a number: {val}")
        return int(val)
    seconds = parse_duration(val or "0s")
    if seconds < 0 or (0 < seconds < 0.001):
        raise InvalidArgument(f'Interval "{key}" cannot be less than 1ms')
    return round(seconds * 1e9)


_META = {
    "env": _env,
    "label": _label,
    "maintainer": _maintainer,
    "cmd": _cmd,
    "entrypoint": _entrypoint,
    "shell": _shell,
    "expose": _expose,
    "volume": _volume,
    "user": _user,
    "workdir": _workdir,
    "stopsignal": _stopsignal,
    "onbuild": _onbuild,
    "healthcheck": _healthcheck,
}
META_INSTRUCTIONS = frozenset(_META)


# -- RUN -------------------------------------------------------------------------------
HEREDOC_SCRIPT = "/dev/shm/.wharfie-heredoc"  # tmpfs: never part of the layer


def run_argv(st: StageState, ins: Instruction) -> list[str]:
    """RUN's command. A RUN that is only a heredoc runs it as the script (through its
    shebang's interpreter when it has one, as BuildKit does); `cmd <<EOF` hands the command
    and the heredoc to the shell, which feeds the body to the command's stdin."""
    if ins.json is not None:
        return list(ins.json)
    script = ins.rest
    if ins.heredocs:
        sole = script.strip().lstrip("<-").strip("'\"") == ins.heredocs[0].name
        if sole and len(ins.heredocs) == 1:
            body = ins.heredocs[0].content
            if body.startswith("#!"):
                interpreter = body.splitlines()[0][2:].strip()
                mark = "__WHARFIE_HEREDOC_END__"
                return [
                    *st.shell_cmd(),
                    f"cat > {HEREDOC_SCRIPT} <<'{mark}'\n{body}{mark}\n"
                    f"exec {interpreter} {HEREDOC_SCRIPT}",
                ]
            return [*st.shell_cmd(), body]
        for doc in ins.heredocs:
            script += "\n" + doc.content + doc.name
    return [*st.shell_cmd(), script]


def run_history(st: StageState, argv: list[str]) -> str:
    """Docker's legacy text: `|N K=V... /bin/sh -c cmd` (proxy ARGs left out)."""
    args = {k: v for k, v in st.run_args().items() if k not in PROXY_ARGS}
    text = " ".join(argv)
    if args:
        pairs = " ".join(f"{k}={v}" for k, v in sorted(args.items()))
        text = f"|{len(args)} {pairs} {text}"
    return text


def unused_build_args(build_args: dict[str, str], used: set[str]) -> list[str]:
    return sorted(k for k in build_args if k not in used and k not in PROXY_ARGS)
