"""COPY sources on a real directory: symlinks resolved inside the root, wildcards, the
content hash, destination rules."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from wharfie.build import copier
from wharfie.build.context import read_dockerfile
from wharfie.errors import InvalidArgument, NotFound


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "dir" / "sub").mkdir(parents=True)
    (tmp_path / "dir" / "a.txt").write_text("a")
    (tmp_path / "dir" / "b.txt").write_text("b")
    (tmp_path / "dir" / "sub" / "c.txt").write_text("c")
    os.symlink("/etc/passwd", tmp_path / "abs-link")  # means <root>/etc/passwd
    os.symlink("../../../../etc", tmp_path / "up-link")
    os.symlink("dir/a.txt", tmp_path / "rel-link")
    os.symlink("loop", tmp_path / "loop")
    return tmp_path


def test_symlinks_never_leave_the_root(root: Path) -> None:
    assert copier.inside(str(root), "abs-link", follow_last=True) == f"{root}/etc/passwd"
    assert copier.inside(str(root), "up-link/x") == f"{root}/etc/x"
    assert copier.inside(str(root), "rel-link", follow_last=True) == f"{root}/dir/a.txt"
    assert copier.inside(str(root), "../../x") == f"{root}/x"
    with pytest.raises(InvalidArgument, match="too many levels"):
        copier.inside(str(root), "loop", follow_last=True)


def test_sources_and_wildcards(root: Path) -> None:
    srcs = copier.sources(str(root), ["dir/*.txt"], "COPY")
    assert [s.rel for s in srcs] == ["dir/a.txt", "dir/b.txt"]
    assert all(s.wildcard for s in srcs)
    assert [s.rel for s in copier.sources(str(root), ["dir/*/c.txt"], "COPY")] == ["dir/sub/c.txt"]
    link = copier.sources(str(root), ["rel-link"], "COPY")[0]
    assert link.path == f"{root}/dir/a.txt" and link.rel == "rel-link"
    with pytest.raises(NotFound, match="file not found in build context"):
        copier.sources(str(root), ["nope"], "COPY")
    with pytest.raises(NotFound, match="no source files were specified"):
        copier.sources(str(root), ["*.nope"], "COPY")
    with pytest.raises(NotFound):
        copier.sources(str(root), ["abs-link"], "COPY")  # /etc/passwd of the root: absent


def test_content_hash_covers_contents_and_metadata(root: Path) -> None:
    srcs = copier.sources(str(root), ["dir"], "COPY")
    first = copier.content_hash(srcs)
    assert copier.content_hash(srcs) == first
    os.utime(root / "dir" / "a.txt", (1, 1))
    assert copier.content_hash(srcs) == first  # mtimes do not count
    os.chmod(root / "dir" / "a.txt", 0o600)
    second = copier.content_hash(srcs)
    assert second != first
    (root / "dir" / "sub" / "c.txt").write_text("C")
    assert copier.content_hash(srcs) != second


def test_destination_rules(root: Path) -> None:
    one = copier.sources(str(root), ["dir/a.txt"], "COPY")
    two = copier.sources(str(root), ["dir/a.txt", "dir/b.txt"], "COPY")
    assert copier.destination("x", "/work") == "/work/x"
    assert copier.dest_is_dir("/x/", one, None) is True
    assert copier.dest_is_dir("/x", one, None) is False
    assert copier.dest_is_dir("/dir", one, str(root)) is True  # exists as a dir in the image
    with pytest.raises(InvalidArgument, match="must be a directory and end with a /"):
        copier.dest_is_dir("/x", two, None)
    assert copier.parse_chmod("755") == 0o755 and copier.parse_chmod(None) is None
    with pytest.raises(InvalidArgument):
        copier.parse_chmod("rwx")


def test_dockerfile_symlink_cannot_point_out(root: Path) -> None:
    os.symlink("/etc/hostname", root / "Dockerfile")
    with pytest.raises(NotFound, match="Cannot locate specified Dockerfile"):
        read_dockerfile(str(root), "")


def test_context_tar_without_end_blocks(tmp_path: Path) -> None:
    """The docker CLI's context for an outside Dockerfile ends right after the last data."""
    import io

    from wharfie.build.context import extract
    from wharfie.client.buildcontext import header

    data = b"FROM busybox\n"
    raw = header("Dockerfile", b"0", 0o644, len(data), 0) + data  # no padding, no end blocks
    dest = tmp_path / "ctx"
    dest.mkdir()
    extract(io.BytesIO(raw), str(dest))
    assert (dest / "Dockerfile").read_bytes() == data
    empty = tmp_path / "empty"
    empty.mkdir()
    extract(io.BytesIO(b""), str(empty))
    assert os.listdir(empty) == []
