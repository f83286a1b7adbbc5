"""The --change instruction parser (docker import/commit)."""

from __future__ import annotations

import pytest

from wharfie.errors import InvalidArgument
from wharfie.images.changes import apply


def test_cmd_json_and_shell() -> None:
    assert apply({}, ['CMD ["sh", "-c", "x"]'])["Cmd"] == ["sh", "-c", "x"]
    assert apply({}, ["CMD echo hi"])["Cmd"] == ["/bin/sh", "-c", "echo hi"]


def test_entrypoint_resets_cmd() -> None:
    out = apply({"Cmd": ["sh"]}, ['ENTRYPOINT ["/init"]'])
    assert out["Entrypoint"] == ["/init"]
    assert out["Cmd"] is None


def test_env_forms_and_replacement() -> None:
    out = apply({"Env": ["A=1", "PATH=/bin"]}, ['ENV A=2 B="two words"', "ENV C x y"])
    assert out["Env"] == ["PATH=/bin", "A=2", "B=two words", "C=x y"]


def test_expose_label_volume_user_workdir_stopsignal_onbuild() -> None:
    out = apply(
        {},
        [
            "EXPOSE 80 53/udp",
            'LABEL a=b "c d"=e',
            "VOLUME /data /logs",
            'VOLUME ["/x"]',
            "USER 1000:1000",
            "WORKDIR /app",
            "WORKDIR sub",
            "STOPSIGNAL SIGTERM",
            "ONBUILD RUN make",
        ],
    )
    assert out["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}}
    assert out["Labels"] == {"a": "b", "c d": "e"}
    assert out["Volumes"] == {"/data": {}, "/logs": {}, "/x": {}}
    assert out["User"] == "1000:1000"
    assert out["WorkingDir"] == "/app/sub"
    assert out["StopSignal"] == "SIGTERM"
    assert out["OnBuild"] == ["RUN make"]


def test_healthcheck() -> None:
    out = apply({}, ["HEALTHCHECK --interval=5s --retries=3 CMD true"])
    assert out["Healthcheck"] == {
        "Interval": 5_000_000_000,
        "Retries": 3,
        "Test": ["CMD-SHELL", "true"],
    }
    assert apply({}, ["HEALTHCHECK NONE"])["Healthcheck"] == {"Test": ["NONE"]}


def test_lowercase_and_multiline() -> None:
    assert apply({}, ["cmd sh\nuser nobody"]) == {"Cmd": ["/bin/sh", "-c", "sh"], "User": "nobody"}


def test_input_not_modified() -> None:
    base = {"Env": ["A=1"]}
    apply(base, ["ENV B=2"])
    assert base == {"Env": ["A=1"]}


@pytest.mark.parametrize("change", ["RUN make", "FROM busybox", "COPY a b", "ADD a b", "BOGUS x"])
def test_not_a_change_command(change: str) -> None:
    word = change.split()[0].lower()
    with pytest.raises(InvalidArgument) as exc:
        apply({}, [change])
    assert str(exc.value) == f"{word} is not a valid change command"


@pytest.mark.parametrize(
    ("change", "msg"),
    [
        ("ENV", "ENV requires at least one argument"),
        ("CMD", "CMD requires at least one argument"),
        ("ENV =x", "ENV names can not be blank"),
        ("EXPOSE abc", "invalid containerPort: abc"),
        ("USER", "USER requires exactly one argument"),
        ("ONBUILD FROM x", "isn't allowed"),
    ],
)
def test_parse_errors(change: str, msg: str) -> None:
    with pytest.raises(InvalidArgument) as exc:
        apply({}, [change])
    assert str(exc.value).startswith("dockerfile parse error on line 1: ")
    assert msg in str(exc.value)


def test_commit_merge_fills_the_gaps_from_the_container() -> None:
    """moby's commit merge: the request's Config completed from the container's."""
    from wharfie.images.commitmerge import merge

    container = {
        "User": "u",
        "Env": ["A=1", "B=2"],
        "Labels": {"x": "1"},
        "Cmd": ["sh"],
        "ExposedPorts": {"80/tcp": {}},
        "Volumes": {"/v": {}},
        "WorkingDir": "/w",
        "StopSignal": "SIGINT",
        "Image": "busybox",
    }
    out = merge({"Env": ["A=9"], "ExposedPorts": {"53/udp": {}}, "Labels": {"y": "2"}}, container)
    assert out["Env"] == ["A=9", "B=2"] and out["Cmd"] == ["sh"] and out["User"] == "u"
    assert out["ExposedPorts"] == {"53/udp": {}, "80/tcp": {}}
    assert out["Labels"] == {"y": "2", "x": "1"} and out["Volumes"] == {"/v": {}}
    assert out["WorkingDir"] == "/w" and out["StopSignal"] == "SIGINT"
    assert "Image" not in out  # only the container's own Config (the whole of it) carries it
    own_ep = merge({"Entrypoint": ["/x"]}, container)
    assert own_ep["Entrypoint"] == ["/x"] and "Cmd" not in own_ep
