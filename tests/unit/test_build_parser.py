"""The Dockerfile parser, from the cases of Docker's Dockerfile reference."""

from __future__ import annotations

import pytest

from wharfie.build.parser import ParseError, name_values, parse, parse_trigger, split_words


def cmds(text: str) -> list[tuple[str, str]]:
    return [(i.cmd, i.rest) for i in parse(text).instructions]


def test_case_insensitive_and_comments() -> None:
    df = parse("# a comment\nfrom busybox\n  # indented comment\nRuN echo hi\n")
    assert [(i.cmd, i.rest, i.line) for i in df.instructions] == [
        ("from", "busybox", 2),
        ("run", "echo hi", 4),
    ]


def test_continuation_with_comment_and_blank_lines_inside() -> None:
    text = "FROM busybox\nRUN echo hello \\\n# comment\n\n  world\n"
    (_, run) = parse(text).instructions
    assert run.rest == "echo hello   world"
    assert run.line == 2


def test_escape_directive_backtick() -> None:
    text = "# escape=`\nFROM busybox\nCOPY testfile.txt c:\\ `\n   d:\\\n"
    df = parse(text)
    assert df.escape == "`"
    assert df.instructions[1].rest == "testfile.txt c:\\    d:\\"


def test_directives_only_at_the_top() -> None:
    df = parse("FROM busybox\n# escape=`\nRUN echo \\\n x\n")
    assert df.escape == "\\"
    assert df.instructions[1].rest == "echo  x"
    df = parse("# syntax=docker/dockerfile:1\n# escape=`\nFROM busybox\n")
    assert df.directives == {"syntax": "docker/dockerfile:1", "escape": "`"}


def test_unknown_directive_is_a_comment_and_ends_directives() -> None:
    df = parse("# unknowndirective=value\n# escape=`\nFROM busybox\n")
    assert df.escape == "\\"


def test_invalid_escape() -> None:
    with pytest.raises(ParseError, match="invalid escape token"):
        parse("# escape=x\nFROM busybox\n")


def test_json_and_shell_forms() -> None:
    df = parse('FROM busybox\nCMD ["echo", "a b"]\nCMD echo a b\nRUN [ "bad json\n')
    assert df.instructions[1].json == ["echo", "a b"]
    assert df.instructions[2].json is None
    assert df.instructions[3].json is None  # not JSON: the shell form


def test_flags() -> None:
    (_, copy) = parse("FROM busybox\nCOPY --from=build --chown=1:2 a b\n").instructions
    assert copy.flags == ["--from=build", "--chown=1:2"]
    assert copy.flag("from") == "build" and copy.flag("chown") == "1:2"
    assert copy.rest == "a b"


def test_heredocs() -> None:
    text = (
        "FROM busybox\nRUN <<EOF\necho one\necho two\nEOF\n"
        "COPY <<-'END' /x\n\tline $A\n\tEND\nRUN true\n"
    )
    df = parse(text)
    run, copy = df.instructions[1], df.instructions[2]
    assert run.heredocs[0].content == "echo one\necho two\n" and run.heredocs[0].expand
    assert copy.heredocs[0].content == "line $A\n"
    assert copy.heredocs[0].expand is False and copy.heredocs[0].chomp
    assert df.instructions[3].rest == "true"


def test_unterminated_heredoc() -> None:
    with pytest.raises(ParseError, match=r"line 2.*unterminated heredoc"):
        parse("FROM busybox\nRUN <<EOF\necho\n")


def test_unknown_instruction_names_the_line() -> None:
    """buildkit's parseError, as Engine 25 reports it: the line, not the file's name."""
    with pytest.raises(ParseError) as exc:
        parse("FROM busybox\n\nFOO bar\n", "my.Dockerfile")
    assert str(exc.value) == "dockerfile parse error on line 3: unknown instruction: FOO"


@pytest.mark.parametrize(
    "text,message",
    [
        ("FROM\n", "FROM requires"),
        ("FROM a b\n", "FROM requires either one or three"),
        ("FROM busybox\nCOPY a\n", "COPY requires at least two"),
        ("FROM busybox\nSHELL /bin/bash\n", "SHELL requires the arguments to be in JSON form"),
        ("FROM busybox\nENV\n", "ENV requires at least one"),
        ("FROM busybox\nENV A\n", "ENV must have two arguments"),
        ("FROM busybox\nLABEL =x\n", "names can not be blank"),
    ],
)
def test_argument_errors(text: str, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        parse(text)


def test_env_forms() -> None:
    df = parse('FROM busybox\nENV A B C\nENV X="a b" Y=c\\ d Z=\n')
    assert name_values(df.instructions[1], "Dockerfile") == [("A", "B C")]
    assert name_values(df.instructions[2], "Dockerfile") == [
        ("X", '"a b"'),
        ("Y", "c\\ d"),
        ("Z", ""),
    ]


def test_arg_without_value() -> None:
    df = parse("ARG A\nARG B=1 C\nFROM busybox\n")
    assert name_values(df.instructions[0], "D") == [("A", "\0")]
    assert name_values(df.instructions[1], "D") == [("B", "1"), ("C", "\0")]


def test_split_words_keeps_quotes() -> None:
    assert split_words('a \'b c\' "d \\" e" f\\ g') == ["a", "'b c'", '"d \\" e"', "f\\ g"]


def test_onbuild_trigger() -> None:
    ins = parse_trigger("RUN echo built")
    assert (ins.cmd, ins.rest) == ("run", "echo built")
    with pytest.raises(ParseError, match=r"line 2.*ONBUILD isn't allowed"):
        parse("FROM busybox\nONBUILD ONBUILD RUN x\n")
    with pytest.raises(ParseError, match="unknown instruction: NOPE"):
        parse("FROM busybox\nONBUILD NOPE x\n")


def test_crlf_and_bom() -> None:
    assert cmds("\ufeffFROM busybox\r\nRUN echo\r\n") == [("from", "busybox"), ("run", "echo")]


def test_flags_are_checked() -> None:
    with pytest.raises(ParseError, match=r"line 2.*Unknown flag: bogus"):
        parse("FROM busybox\nCOPY --bogus=1 a b\n")
    with pytest.raises(ParseError, match="the --mount option requires BuildKit"):
        parse("FROM busybox\nRUN --mount=type=cache,target=/x true\n")
    with pytest.raises(ParseError, match="Unknown flag: interval2"):
        parse("FROM busybox\nHEALTHCHECK --interval2=1s CMD true\n")
    ins = parse("FROM --platform=linux/amd64 busybox AS x\n").instructions[0]
    assert ins.flag("platform") == "linux/amd64" and ins.rest == "busybox AS x"


def test_empty_continuation_lines_warn() -> None:
    df = parse("FROM busybox\nRUN echo a \\\n\n  b\nRUN echo c \\\n# comment only\n d\n")
    assert df.warnings == ["Empty continuation line found in: RUN echo a   b"]
