"""The hand-written Docker flag parser."""

import pytest

from wharfie.cli.createbody import RUN_FLAGS
from wharfie.cli.flags import parse, table
from wharfie.errors import InvalidArgument


def test_combined_short_flags_and_stop_at_image() -> None:
    f = parse(["-it", "--rm", "busybox", "sh", "-c", "echo -n x"], RUN_FLAGS, interspersed=False)
    assert f.on("interactive") and f.on("tty") and f.on("rm")
    assert f.args == ["busybox", "sh", "-c", "echo -n x"]


def test_values_inline_separate_and_repeated() -> None:
    f = parse(
        ["--name=web", "-e", "A=1", "-eB=2", "--env", "C=3", "-p8080:80", "busybox"],
        RUN_FLAGS,
        interspersed=False,
    )
    assert f.get("name") == "web"
    assert f.all("env") == ["A=1", "B=2", "C=3"]
    assert f.all("publish") == ["8080:80"]


def test_group_ending_with_a_value_flag() -> None:
    f = parse(["-de", "K=V", "img"], RUN_FLAGS, interspersed=False)
    assert f.on("detach") and f.all("env") == ["K=V"] and f.args == ["img"]


def test_bool_with_explicit_value_and_alias() -> None:
    f = parse(["--sig-proxy=false", "-d=true", "--net", "host", "img"], RUN_FLAGS)
    assert f.on("sig-proxy", True) is False
    assert f.on("detach")
    assert f.get("network") == "host"


def test_double_dash_and_interspersed() -> None:
    tbl = table("f force bool")
    f = parse(["a", "-f", "b", "--", "-c"], tbl)
    assert f.on("force") and f.args == ["a", "b", "-c"]


def test_lone_dash_is_positional() -> None:
    f = parse(["-", "c:/tmp"], table("a archive bool"))
    assert f.args == ["-", "c:/tmp"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--x"], "unknown flag: --x"),
        (["-Z"], "unknown shorthand flag: 'Z' in -Z"),
        (["--name"], "flag needs an argument: --name"),
        (["-e"], "flag needs an argument: 'e' in -e"),
        (["--rm=maybe"], 'invalid argument "maybe" for "rm" flag'),
    ],
)
def test_errors_use_docker_wording(argv: list[str], message: str) -> None:
    with pytest.raises(InvalidArgument) as exc:
        parse(argv, RUN_FLAGS)
    assert str(exc.value).startswith(message)
