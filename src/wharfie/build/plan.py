"""The build planner (pure): stages, what each depends on, which ones a target needs,
and in which order they can run (stages whose dependencies are done run concurrently).

ARGs before the first FROM are the "meta args": they are in scope for FROM lines only
(a stage sees one by declaring `ARG NAME` without a value). A stage depends on another
when its FROM names it, or a `COPY --from` (or `RUN --mount=from=`) names it by name or
index. Only the target's dependency closure is built.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from wharfie.build import shell
from wharfie.build.parser import Dockerfile, Instruction, error, name_values
from wharfie.errors import InvalidArgument

PROXY_ARGS = frozenset(
    {
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "FTP_PROXY",
        "ftp_proxy",
        "NO_PROXY",
        "no_proxy",
        "ALL_PROXY",
        "all_proxy",
    }
)


@dataclass
class Stage:
    index: int
    name: str  # lower case, "" when unnamed
    base: str  # the FROM image after meta-arg substitution
    platform: str
    line: int
    instructions: list[Instruction]
    deps: set[int] = field(default_factory=set)
    base_stage: int | None = None  # FROM <an earlier stage>


@dataclass
class Plan:
    stages: list[Stage]
    meta_args: dict[str, str]  # declared meta args -> value (build-arg or default)
    declared_meta: set[str]
    target: int
    needed: list[int]  # stage indexes, in Dockerfile order

    def levels(self) -> list[list[int]]:
        """Batches of needed stages; each batch depends only on earlier batches."""
        done: set[int] = set()
        left = list(self.needed)
        out: list[list[int]] = []
        while left:
            ready = [i for i in left if self.stages[i].deps <= done]
            out.append(ready)
            done.update(ready)
            left = [i for i in left if i not in done]
        return out


def meta_args(
    instructions: list[Instruction], build_args: dict[str, str], df: Dockerfile, escape: str
) -> dict[str, str]:
    values: dict[str, str] = {}
    for ins in instructions:
        for key, default in name_values(ins, df.filename):
            if key in build_args:
                values[key] = build_args[key]
            elif default != "\0":
                values[key] = shell.word(default, values, escape)
    return values


def plan(df: Dockerfile, build_args: dict[str, str], target: str = "") -> Plan:
    head: list[Instruction] = []
    i = 0
    while i < len(df.instructions) and df.instructions[i].cmd != "from":
        ins = df.instructions[i]
        if ins.cmd != "arg":
            raise error(df.filename, ins.line, "no build stage in current context")
        head.append(ins)
        i += 1
    if i == len(df.instructions):
        raise InvalidArgument(
            f"the Dockerfile ({df.filename}) cannot be empty"
            if not df.instructions
            else "no build stage in current context"
        )
    metas = meta_args(head, build_args, df, df.escape)
    declared = {k for ins in head for k, _ in name_values(ins, df.filename)}
    stages = _stages(df, df.instructions[i:], metas)
    tindex = _target(stages, target)
    needed = _closure(stages, tindex)
    return Plan(stages, metas, declared, tindex, needed)


def _stages(df: Dockerfile, rest: list[Instruction], metas: dict[str, str]) -> list[Stage]:
    """The stages; `COPY --from` values are substituted with the meta args, as FROM's."""
    stages: list[Stage] = []
    names: dict[str, int] = {}
    for ins in rest:
        if ins.cmd != "from":
            stages[-1].instructions.append(ins)
            continue
        words = ins.rest.split()
        base = shell.word(words[0], metas, df.escape)
        if not base:
            raise error(df.filename, ins.line, f"base name ({words[0]}) should not be blank")
        name = words[2].lower() if len(words) == 3 else ""
        if name and name in names:
            raise error(df.filename, ins.line, f"duplicate name {name}")
        platform = shell.word(ins.flag("platform") or "", metas, df.escape)
        st = Stage(len(stages), name, base, platform, ins.line, [])
        ref = base.lower()
        if ref in names:
            st.base_stage = names[ref]
            st.deps.add(names[ref])
        if name:
            names[name] = st.index
        stages.append(st)
    for st in stages:
        for ins in st.instructions:
            src = ins.flag("from")
            if src is not None and ins.cmd in ("copy", "add"):
                dep = stage_ref(stages, names, shell.word(src, metas, df.escape), st.index)
                if dep is not None:
                    st.deps.add(dep)
    return stages


def stage_ref(stages: list[Stage], names: dict[str, int], ref: str, before: int) -> int | None:
    """The stage a --from value names (by name or index), or None for an image."""
    low = ref.lower()
    if low in names and names[low] < before:
        return names[low]
    if low.isdigit():
        n = int(low)
        if n >= before:
            raise InvalidArgument(
                f"invalid from flag value {ref}: refers to current build stage"
                if n == before
                else f"invalid from flag value {ref}: stage index out of range"
            )
        return n
    return None


def stage_names(stages: list[Stage]) -> dict[str, int]:
    return {s.name: s.index for s in stages if s.name}


def _target(stages: list[Stage], target: str) -> int:
    if not target:
        return len(stages) - 1
    for st in stages:
        if st.name == target.lower():
            return st.index
    raise InvalidArgument(f"failed to reach build target {target} in Dockerfile")


def _closure(stages: list[Stage], target: int) -> list[int]:
    seen: set[int] = set()
    todo = [target]
    while todo:
        i = todo.pop()
        if i in seen:
            continue
        seen.add(i)
        todo.extend(stages[i].deps)
    return sorted(seen)
