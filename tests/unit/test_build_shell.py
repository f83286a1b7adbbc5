"""Variable substitution with Docker's rules (the Dockerfile reference's examples and
moby's shell lexer test cases)."""

from __future__ import annotations

import pytest

from wharfie.build.shell import word, words
from wharfie.errors import InvalidArgument

ENV = {"PWD": "/home", "SHELL": "bash", "EMPTY": "", "SP": "a b", "foo": "hello"}


@pytest.mark.parametrize(
    "text,expected",
    [
        ("$foo", "hello"),
        ("${foo}", "hello"),
        ("${foo}_bar", "hello_bar"),
        ("$foo_bar", ""),  # the name is foo_bar
        ("\\$foo", "$foo"),
        ("'$foo'", "$foo"),
        ('"$foo"', "hello"),
        ('"\\$foo"', "$foo"),
        ('"a\\"b"', 'a"b'),
        ('"\\n"', "\\n"),  # only \" \$ \\ are escapes inside double quotes
        ("a\\ b", "a b"),
        ("${missing:-default}", "default"),
        ("${EMPTY:-default}", "default"),
        ("${EMPTY-default}", ""),
        ("${missing-default}", "default"),
        ("${foo:-default}", "hello"),
        ("${foo:+alt}", "alt"),
        ("${EMPTY:+alt}", ""),
        ("${EMPTY+alt}", "alt"),
        ("${missing:+alt}", ""),
        ("${missing:-$foo world}", "hello world"),
        ("${missing:-${foo}}", "hello"),
        ('${missing:-"a b"}', "a b"),
        ("$", "$"),
        ("a$", "a$"),
        ("$ foo", "$ foo"),
        ("$1", ""),
        ("${PWD}/x", "/home/x"),
        ("", ""),
    ],
)
def test_word(text: str, expected: str) -> None:
    assert word(text, ENV) == expected


def test_words_split_on_unquoted_whitespace() -> None:
    assert words('$SP "c d" e\\ f', ENV) == ["a", "b", "c d", "e f"]
    assert words("", ENV) == []


def test_backtick_escape() -> None:
    assert word("a` b", ENV, escape="`") == "a b"
    assert word("c:\\dir", ENV, escape="`") == "c:\\dir"


@pytest.mark.parametrize(
    "text,message",
    [
        ("${missing:?must be set}", "missing: must be set"),
        ("${EMPTY:?}", "EMPTY"),
        ("${foo", "missing"),
        ("'open", "matching '"),
        ('"open', 'matching "'),
        ("${}", "bad substitution"),
        ("${foo%x}", "unsupported modifier"),
    ],
)
def test_errors(text: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        word(text, ENV)


def test_unset_question_only_when_unset() -> None:
    assert word("${EMPTY?x}", ENV) == ""


def test_heredoc_expansion_keeps_quotes() -> None:
    from wharfie.build.shell import heredoc

    body = "echo \"$foo\" '$foo' \\$foo ${missing:-d}\n"
    assert heredoc(body, ENV) == "echo \"hello\" 'hello' $foo d\n"
