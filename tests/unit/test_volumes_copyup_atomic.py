"""Copy-up is atomic: an interrupted copy is discarded and done again (no root needed)."""

from __future__ import annotations

import os
from pathlib import Path

from wharfie.volumes import copy_up, discard_interrupted, finish_discard
from wharfie.volumes.copyup import pending_marker


def _tree(root: Path, n: int) -> None:
    (root / "sub").mkdir(parents=True)
    for i in range(n):
        (root / "sub" / f"f{i}").write_text(f"file {i}\n")
    (root / "top").write_text("top\n")


def _listing(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_complete_copy_leaves_no_marker(tmp_path: Path) -> None:
    src, dest = tmp_path / "src", tmp_path / "vol" / "_data"
    _tree(src, 5)
    dest.mkdir(parents=True)
    assert copy_up(str(src), str(dest))
    assert not os.path.exists(pending_marker(str(dest)))
    assert _listing(dest) == _listing(src)
    assert not copy_up(str(src), str(dest))  # not empty and not interrupted: left alone


def test_interrupted_copy_is_redone(tmp_path: Path) -> None:
    src, dest = tmp_path / "src", tmp_path / "vol" / "_data"
    _tree(src, 20)
    dest.mkdir(parents=True)
    # what a crash in the middle leaves: the marker and part of the tree
    Path(pending_marker(str(dest))).touch()
    (dest / "sub").mkdir()
    (dest / "sub" / "f0").write_text("file 0\n")
    (dest / "sub" / "f1").write_text("fi")
    assert copy_up(str(src), str(dest))
    assert _listing(dest) == _listing(src)
    assert (dest / "sub" / "f1").read_text() == "file 1\n"
    assert not os.path.exists(pending_marker(str(dest)))


def test_interrupted_copy_then_source_gone_leaves_it_empty(tmp_path: Path) -> None:
    dest = tmp_path / "vol" / "_data"
    dest.mkdir(parents=True)
    Path(pending_marker(str(dest))).touch()
    (dest / "partial").write_text("x")
    assert not copy_up(str(tmp_path / "nosuch"), str(dest))
    assert _listing(dest) == [] and not os.path.exists(pending_marker(str(dest)))


def test_nocopy_discards_an_interrupted_copy(tmp_path: Path) -> None:
    dest = tmp_path / "vol" / "_data"
    (dest / "d").mkdir(parents=True)
    Path(pending_marker(str(dest))).touch()
    assert discard_interrupted(str(dest))
    finish_discard(str(dest))
    assert _listing(dest) == [] and not os.path.exists(pending_marker(str(dest)))
    assert not discard_interrupted(str(dest))
