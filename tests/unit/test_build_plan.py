"""The planner (stages, dependencies, --target pruning, concurrency levels) and the
per-instruction config changes."""

from __future__ import annotations

import pytest

from wharfie.build import dispatch
from wharfie.build.cache import Entry, pick_for_prune
from wharfie.build.dispatch import StageState, apply_meta, declare_args, run_argv, run_history
from wharfie.build.parser import parse
from wharfie.build.plan import plan
from wharfie.errors import InvalidArgument

MULTI = """\
ARG BASE=busybox
FROM ${BASE} AS base
RUN echo base
FROM busybox AS tools
RUN echo tools
FROM base AS app
COPY --from=tools /x /x
FROM busybox AS unrelated
RUN echo unrelated
FROM app
COPY --from=0 /y /y
"""


def test_stages_dependencies_and_levels() -> None:
    p = plan(parse(MULTI), {})
    assert [s.name for s in p.stages] == ["base", "tools", "app", "unrelated", ""]
    assert p.stages[0].base == "busybox"
    assert p.stages[2].deps == {0, 1} and p.stages[2].base_stage == 0
    assert p.stages[4].deps == {0, 2}
    assert p.needed == [0, 1, 2, 4]  # "unrelated" is not needed
    assert p.levels() == [[0, 1], [2], [4]]


def test_target_prunes() -> None:
    p = plan(parse(MULTI), {}, target="tools")
    assert p.needed == [1]
    with pytest.raises(InvalidArgument, match="failed to reach build target nope"):
        plan(parse(MULTI), {}, target="nope")


def test_meta_args_from_build_args() -> None:
    p = plan(parse(MULTI), {"BASE": "alpine"})
    assert p.stages[0].base == "alpine"
    assert p.meta_args == {"BASE": "alpine"} and p.declared_meta == {"BASE"}


def test_instruction_before_from_is_an_error() -> None:
    with pytest.raises(InvalidArgument, match="no build stage"):
        plan(parse("RUN x\nFROM busybox\n"), {})


def test_duplicate_stage_name() -> None:
    with pytest.raises(InvalidArgument, match="duplicate name"):
        plan(parse("FROM a AS x\nFROM b AS X\n"), {})


def state(
    build_args: dict[str, str] | None = None, meta: dict[str, str] | None = None
) -> StageState:
    return StageState.from_image(
        "sha256:x",
        {"config": {"Env": ["PATH=/bin"]}},
        build_args or {},
        meta or {},
        "\\",
        "Dockerfile",
    )


def apply(st: StageState, text: str) -> None:
    for ins in parse("FROM x\n" + text).instructions[1:]:
        if ins.cmd == "arg":
            declare_args(st, ins)
        else:
            apply_meta(st, ins)


def test_env_and_workdir_interplay() -> None:
    st = state()
    apply(st, 'ENV DIR=/app\nWORKDIR $DIR\nWORKDIR sub\nENV A=${DIR}/x B="$DIR y"\n')
    assert st.config["WorkingDir"] == "/app/sub"
    assert st.config["Env"] == ["PATH=/bin", "DIR=/app", "A=/app/x", "B=/app y"]


def test_arg_scoping_and_build_args() -> None:
    st = state({"V": "from-cli"}, meta={"GLOBAL": "g"})
    apply(st, "ARG V=default\nARG W=w\nARG GLOBAL\nENV X=$V-$W-$GLOBAL\n")
    assert "X=from-cli-w-g" in st.config["Env"]
    assert st.run_args() == {"V": "from-cli", "W": "w", "GLOBAL": "g"}


def test_env_overrides_arg() -> None:
    st = state({"A": "cli"})
    apply(st, "ARG A\nENV A=env\nENV B=$A\n")
    assert "B=env" in st.config["Env"]
    assert "A" not in st.run_args()


def test_proxy_args_reach_run_but_not_history() -> None:
    st = state({"HTTP_PROXY": "http://p:3128", "X": "1"})
    apply(st, "ARG X\n")
    assert st.run_args() == {"X": "1", "HTTP_PROXY": "http://p:3128"}
    ins = parse("FROM x\nRUN echo hi\n").instructions[1]
    assert run_history(st, run_argv(st, ins)) == "|1 X=1 /bin/sh -c echo hi"
    assert dispatch.unused_build_args({"HTTP_PROXY": "p", "FOO": "1", "X": "1"}, {"X"}) == ["FOO"]


def test_cmd_entrypoint_shell() -> None:
    st = state()
    st.config["Cmd"] = ["base"]
    apply(st, 'SHELL ["/bin/bash", "-c"]\nENTRYPOINT echo hi\n')
    assert st.config["Entrypoint"] == ["/bin/bash", "-c", "echo hi"]
    assert st.config["Cmd"] is None  # ENTRYPOINT resets an inherited CMD
    apply(st, 'CMD ["a"]\nENTRYPOINT ["e"]\n')
    assert st.config["Cmd"] == ["a"] and st.config["Entrypoint"] == ["e"]


def test_expose_volume_user_label_stopsignal() -> None:
    st = state()
    apply(
        st,
        'EXPOSE 80 53/udp 8000-8001\nVOLUME /a "/b c"\nVOLUME ["/d"]\n'
        'USER 1000:1000\nLABEL a=1 "b c"="d e"\nSTOPSIGNAL SIGUSR1\n',
    )
    assert st.config["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}, "8000/tcp": {}, "8001/tcp": {}}
    assert st.config["Volumes"] == {"/a": {}, "/b c": {}, "/d": {}}
    assert st.config["User"] == "1000:1000"
    assert st.config["Labels"] == {"a": "1", "b c": "d e"}
    assert st.config["StopSignal"] == "SIGUSR1"


def test_healthcheck() -> None:
    st = state()
    apply(st, "HEALTHCHECK --interval=5s --timeout=3s --retries=2 CMD cat /x || exit 1\n")
    assert st.config["Healthcheck"] == {
        "Test": ["CMD-SHELL", "cat /x || exit 1"],
        "Interval": 5_000_000_000,
        "Timeout": 3_000_000_000,
        "Retries": 2,
    }
    apply(st, 'HEALTHCHECK CMD ["true"]\n')
    assert st.config["Healthcheck"] == {"Test": ["CMD", "true"]}
    apply(st, "HEALTHCHECK NONE\n")
    assert st.config["Healthcheck"] == {"Test": ["NONE"]}
    with pytest.raises(InvalidArgument, match="Unknown flag"):
        apply(st, "HEALTHCHECK --bogus=1 CMD true\n")


def test_onbuild_stores_triggers() -> None:
    st = state()
    apply(st, "ONBUILD run echo built\nONBUILD COPY a b\n")
    assert st.config["OnBuild"] == ["RUN echo built", "COPY a b"]


def test_run_heredoc_argv() -> None:
    st = state()
    ins = parse("FROM x\nRUN <<EOF\necho a\necho b\nEOF\n").instructions[1]
    assert run_argv(st, ins) == ["/bin/sh", "-c", "echo a\necho b\n"]
    ins = parse("FROM x\nRUN cat <<EOF > /f\nhello\nEOF\n").instructions[1]
    assert run_argv(st, ins) == ["/bin/sh", "-c", "cat <<EOF > /f\nhello\nEOF"]


def test_prune_picks_least_recently_used_until_under_the_cap() -> None:
    es = [Entry(f"k{i}", f"i{i}", 100, 0.0, float(i), "") for i in range(5)]
    assert [e.key for e in pick_for_prune(es, 250, False)] == ["k0", "k1", "k2"]
    assert len(pick_for_prune(es, 0, False)) == 5
    assert pick_for_prune(es, 1000, False) == []


def test_cache_from_history_matching() -> None:
    from wharfie.build.cache import from_history

    base = [{"created_by": "", "comment": "Imported"}]
    src = {
        "history": [*base, {"created_by": "ENV", "empty_layer": True}, {"created_by": "RUN x"}],
        "rootfs": {"diff_ids": ["sha256:a", "sha256:b"]},
    }
    assert from_history(src, base, ["sha256:a"], "ENV") == (src["history"][1], "")
    step2 = [*base, src["history"][1]]
    assert from_history(src, step2, ["sha256:a"], "RUN x") == (src["history"][2], "sha256:b")
    assert from_history(src, step2, ["sha256:a"], "RUN y") is None  # another step
    assert from_history(src, base, ["sha256:z"], "ENV") is None  # other parent layers
    assert from_history(src, [{"created_by": "other"}], ["sha256:a"], "ENV") is None
    assert from_history(src, src["history"], ["sha256:a", "sha256:b"], "RUN x") is None


@pytest.mark.parametrize(
    "sig,valid",
    [
        ("SIGTERM", True),
        ("term", True),
        ("9", True),
        ("SIGRTMIN+3", True),
        ("RTMAX-2", True),
        ("0", False),
        ("65", False),
        ("bogus", False),
        ("SIGRTMIN+99", False),
    ],
)
def test_stopsignal_names(sig: str, valid: bool) -> None:
    assert dispatch.valid_signal(sig) is valid
    st = state()
    if valid:
        apply(st, f"STOPSIGNAL {sig}\n")
        assert st.config["StopSignal"] == sig
    else:
        with pytest.raises(InvalidArgument, match="Invalid signal"):
            apply(st, f"STOPSIGNAL {sig}\n")


def test_copy_from_substitution_and_forward_names() -> None:
    df = parse(
        "ARG SRC=one\nFROM busybox AS one\nFROM busybox\nCOPY --from=${SRC} /a /a\n"
        "COPY --from=later /b /b\nFROM busybox AS later\n"
    )
    p = plan(df, {})
    assert p.stages[1].deps == {0}  # "later" is not defined yet: an image name
    with pytest.raises(InvalidArgument, match="refers to current build stage"):
        plan(parse("FROM busybox\nCOPY --from=0 /a /a\n"), {})


def test_run_heredoc_with_a_shebang() -> None:
    st = state()
    text = "FROM x\nRUN <<EOF\n#!/bin/busybox awk -f\nBEGIN { print 1 }\nEOF\n"
    ins = parse(text).instructions[1]
    argv = run_argv(st, ins)
    assert argv[:2] == ["/bin/sh", "-c"]
    assert argv[2].endswith("exec /bin/busybox awk -f /dev/shm/.wharfie-heredoc")
    assert "#!/bin/busybox awk -f\nBEGIN { print 1 }\n" in argv[2]
