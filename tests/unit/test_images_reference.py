"""Image references normalised like Docker's distribution/reference."""

from __future__ import annotations

import pytest

from wharfie.errors import InvalidArgument
from wharfie.images import reference

H64 = "a" * 64


@pytest.mark.parametrize(
    ("ref", "full", "familiar"),
    [
        ("busybox", "docker.io/library/busybox:latest", "busybox:latest"),
        ("busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36"),
        ("library/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
        ("docker.io/library/busybox:latest", "docker.io/library/busybox:latest", "busybox:latest"),
        ("index.docker.io/library/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
        ("docker.io/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
        ("user/app:v2", "docker.io/user/app:v2", "user/app:v2"),
        ("a/b/c", "docker.io/a/b/c:latest", "a/b/c:latest"),
        ("localhost:5000/x:1", "localhost:5000/x:1", "localhost:5000/x:1"),
        ("localhost/x", "localhost/x:latest", "localhost/x:latest"),
        (
            "registry.example.com/team/app",
            "registry.example.com/team/app:latest",
            "registry.example.com/team/app:latest",
        ),
        ("my_app-1.x__y", "docker.io/library/my_app-1.x__y:latest", "my_app-1.x__y:latest"),
        (
            f"busybox@sha256:{H64}",
            f"docker.io/library/busybox@sha256:{H64}",
            f"busybox@sha256:{H64}",
        ),
        (
            f"busybox:1@sha256:{H64}",
            f"docker.io/library/busybox:1@sha256:{H64}",
            f"busybox:1@sha256:{H64}",
        ),
        ("[::1]:5000/x", "[::1]:5000/x:latest", "[::1]:5000/x:latest"),
    ],
)
def test_normalize_and_short(ref: str, full: str, familiar: str) -> None:
    assert reference.normalize(ref) == full
    assert reference.short(reference.normalize(ref)) == familiar


def test_split() -> None:
    assert reference.split("busybox") == ("docker.io/library/busybox", "latest", "")
    assert reference.split("localhost:5000/x:1") == ("localhost:5000/x", "1", "")
    assert reference.split(f"x@sha256:{H64}") == ("docker.io/library/x", "", f"sha256:{H64}")


def test_short_keeps_no_tag_when_absent() -> None:
    assert reference.short("docker.io/library/busybox") == "busybox"
    assert reference.short("docker.io/user/app") == "user/app"


@pytest.mark.parametrize(
    "ref",
    [
        "",
        "busy box",
        ":x",
        "x:",
        "x::1",
        "-x",
        "x/",
        "/x",
        "x//y",
        "x:a/b",
        "x@sha256:zz",
        "x:" + "a" * 129,
        "UPPER.example.com/x/Y",
        "a" * 256,
    ],
)
def test_invalid(ref: str) -> None:
    with pytest.raises(InvalidArgument, match=r"^invalid reference format"):
        reference.parse(ref)


def test_uppercase_wording() -> None:
    with pytest.raises(InvalidArgument) as exc:
        reference.parse("Busybox")
    assert str(exc.value) == (
        "invalid reference format: repository name (library/Busybox) must be lowercase"
    )


def test_uppercase_first_component_is_a_domain() -> None:
    # as Docker: an uppercase first component is taken for a registry host
    assert reference.normalize("Foo/bar") == "Foo/bar:latest"


def test_64_hex_is_not_a_name() -> None:
    with pytest.raises(InvalidArgument, match="cannot specify 64-byte hexadecimal strings"):
        reference.parse(H64)


def test_with_tag() -> None:
    assert reference.with_tag("x", "1").full() == "docker.io/library/x:1"
    assert reference.with_tag("x:2", "").full() == "docker.io/library/x:2"
    assert reference.with_tag("x", "").full() == "docker.io/library/x:latest"
    with pytest.raises(InvalidArgument, match="invalid tag format"):
        reference.with_tag("x", "bad tag")
    with pytest.raises(InvalidArgument, match="digest"):
        reference.with_tag(f"x@sha256:{H64}", "")


def test_id_prefix() -> None:
    assert reference.is_id_prefix("a")
    assert reference.is_id_prefix("0123abc")
    assert not reference.is_id_prefix("busybox")
    assert not reference.is_id_prefix("A1")
