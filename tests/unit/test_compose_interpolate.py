"""Interpolation and .env parsing, cases from the compose specification's interpolation page."""

from __future__ import annotations

import pytest

from wharfie.compose.interpolate import (
    InterpolationError,
    interpolate,
    interpolate_tree,
    parse_env_file,
)

ENV = {"SET": "value", "EMPTY": "", "OTHER": "o"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain", "plain"),
        ("$SET", "value"),
        ("${SET}", "value"),
        ("a-${SET}-b", "a-value-b"),
        ("$SET$OTHER", "valueo"),
        ("${UNSET}", ""),
        ("${UNSET:-default}", "default"),
        ("${EMPTY:-default}", "default"),
        ("${EMPTY-default}", ""),
        ("${UNSET-default}", "default"),
        ("${SET:-default}", "value"),
        ("${SET:+alt}", "alt"),
        ("${EMPTY:+alt}", ""),
        ("${EMPTY+alt}", "alt"),
        ("${UNSET+alt}", ""),
        ("$$SET", "$SET"),
        ("$${SET}", "${SET}"),
        ("cost: 5$", "cost: 5$"),
        ("${UNSET:-${OTHER}}", "o"),
        ("${UNSET:-${ALSO_UNSET:-deep}}", "deep"),
        ("${UNSET:-a b c}", "a b c"),
        ("$1", "$1"),
    ],
)
def test_interpolate(text: str, expected: str) -> None:
    assert interpolate(text, ENV) == expected


def test_unset_warns() -> None:
    warnings: list[str] = []
    interpolate("${NOPE}", ENV, warnings.append)
    assert warnings == ['The "NOPE" variable is not set. Defaulting to a blank string.']


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("${UNSET:?must be set}", "required variable UNSET is missing a value: must be set"),
        ("${EMPTY:?empty not ok}", "required variable EMPTY is missing a value: empty not ok"),
        ("${UNSET?gone}", "required variable UNSET is missing a value: gone"),
        ("${UNSET:?}", "required variable UNSET is missing a value"),
    ],
)
def test_required(text: str, message: str) -> None:
    with pytest.raises(InterpolationError) as err:
        interpolate(text, ENV, where="services.web.image")
    assert str(err.value) == f"services.web.image: {message}"


def test_required_empty_allowed_without_colon() -> None:
    assert interpolate("${EMPTY?x}", ENV) == ""


@pytest.mark.parametrize("text", ["${SET", "${}", "${1A}", "${SET!x}"])
def test_malformed(text: str) -> None:
    with pytest.raises(InterpolationError, match="invalid interpolation format"):
        interpolate(text, ENV)


def test_tree_keys_untouched_and_paths_named() -> None:
    doc = {"services": {"$SET": {"image": "${SET}", "ports": ["${OTHER}:80", 5]}}}
    out = interpolate_tree(doc, ENV)
    assert out == {"services": {"$SET": {"image": "value", "ports": ["o:80", 5]}}}
    with pytest.raises(InterpolationError, match=r"^services\.web\.ports\[1\]: required"):
        interpolate_tree({"services": {"web": {"ports": ["1", "${X:?}"]}}}, {})


def test_env_file() -> None:
    text = """
# comment
A=1
export B = two
C="quoted # not comment\\nnext"
D='single $A'
E=unquoted # trailing comment
F=${A}-x
G
H=
I="${B}"
"""
    out = parse_env_file(text, ".env", {"G": "from-env"})
    assert out == {
        "A": "1",
        "B": "two",
        "C": "quoted # not comment\nnext",
        "D": "single $A",
        "E": "unquoted",
        "F": "1-x",
        "G": "from-env",
        "H": "",
        "I": "two",
    }


def test_env_file_bad_name() -> None:
    with pytest.raises(Exception, match=r"\.env:2: invalid variable name"):
        parse_env_file("A=1\nBAD KEY=2\n", ".env")
