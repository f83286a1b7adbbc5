""".dockerignore matching (moby/patternmatcher) and Go filepath.Match, from Docker's
documentation and the patternmatcher tests."""

from __future__ import annotations

import pytest

from wharfie.errors import InvalidArgument
from wharfie.patterns import Matcher, fnmatch, read_dockerignore


def excluded(patterns: str, path: str) -> bool:
    return Matcher(read_dockerignore(patterns)).excluded(path)


def test_read_dockerignore_cleans_and_skips_comments() -> None:
    text = "# comment\n\n  *.md  \n!README.md\n/secret/../other\n./x//y/\n! spaced\n"
    assert read_dockerignore(text) == ["*.md", "!README.md", "other", "x/y", "!spaced"]


@pytest.mark.parametrize(
    "patterns,path,expected",
    [
        # the reference's examples
        ("*/temp*", "somedir/temporary.txt", True),
        ("*/temp*", "somedir/temp", True),
        ("*/temp*", "temp", False),
        ("*/*/temp*", "somedir/subdir/temporary.txt", True),
        ("temp?", "tempa", True),
        ("temp?", "tempab", False),
        ("**/*.go", "a/b/c.go", True),
        ("**/*.go", "c.go", True),
        ("*.md\n!README.md", "README.md", False),
        ("*.md\n!README.md", "other.md", True),
        ("*.md\n!README*.md\nREADME-secret.md", "README-secret.md", True),
        ("*.md\n!README*.md\nREADME-secret.md", "README-public.md", False),
        ("*.md\nREADME-secret.md\n!README*.md", "README-secret.md", False),
        # parents: a pattern that matches a directory excludes what is under it
        ("docs", "docs/a/b.txt", True),
        ("docs\n!docs/keep", "docs/keep/x", False),
        ("docs\n!docs/keep", "docs/other", True),
        ("/abs", "abs", True),
        ("a/**", "a/b/c", True),
        ("a/**", "a", False),
        ("a/**/b", "a/b", True),
        ("a/**/b", "a/x/y/b", True),
        ("**", "anything/at/all", True),
        ("[a-c]x", "bx", True),
        ("[^a-c]x", "bx", False),
        ("\\*x", "*x", True),
        ("\\*x", "ax", False),
        ("*", "dir/file", True),  # matches the parent dir
        ("x", "xy", False),
    ],
)
def test_matching(patterns: str, path: str, expected: bool) -> None:
    assert excluded(patterns, path) is expected


def test_lone_exclamation_is_an_error() -> None:
    with pytest.raises(InvalidArgument, match="illegal exclusion pattern"):
        Matcher(["!"])


@pytest.mark.parametrize(
    "pattern,name,expected",
    [
        ("*.txt", "a.txt", True),
        ("*.txt", "dir/a.txt", False),  # * never crosses /
        ("dir/*.txt", "dir/a.txt", True),
        ("a?c", "abc", True),
        ("a?c", "a/c", False),
        ("[abc]", "b", True),
        ("[^abc]", "b", False),
        ("[a-z]1", "q1", True),
        ("\\[x\\]", "[x]", True),
        ("*", "", True),
        ("a*b*c", "axxbyyc", True),
    ],
)
def test_go_filepath_match(pattern: str, name: str, expected: bool) -> None:
    assert fnmatch(pattern, name) is expected


def test_go_filepath_match_bad_pattern() -> None:
    with pytest.raises(InvalidArgument):
        fnmatch("[abc", "a")
