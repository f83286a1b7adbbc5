"""Build contexts as compose sends them (.dockerignore) and `compose run` overrides."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

from wharfie.cli.compose_run import RUN_FLAGS, _override
from wharfie.cli.flags import parse
from wharfie.client.buildcontext import context_tar
from wharfie.patterns import Matcher


def names(data: bytes) -> list[str]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return sorted(m.name for m in tar.getmembers())


def test_context_tar_honours_dockerignore(tmp_path: Path) -> None:
    for rel in (
        "Dockerfile",
        "app.py",
        "notes.md",
        "build/out.o",
        "src/a.py",
        "src/keep.md",
        "node_modules/x/index.js",
    ):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(rel)
    (tmp_path / ".dockerignore").write_text(
        "# comment\n*.md\n!src/keep.md\nbuild\nnode_modules\nDockerfile\n"
    )
    chunks, dockerfile = context_tar(str(tmp_path), str(tmp_path / "Dockerfile"))
    assert dockerfile == "Dockerfile"
    got = names(b"".join(chunks))
    assert "Dockerfile" in got and ".dockerignore" in got  # always sent
    assert "app.py" in got and "src/a.py" in got and "src/keep.md" in got
    assert "notes.md" not in got
    assert not any(n.startswith(("build/", "node_modules/")) for n in got)


def test_ignored_patterns() -> None:
    m = Matcher(["**/*.log", "tmp", "!tmp/keep"])
    assert m.excluded("a/b/c.log") and m.excluded("c.log")
    assert m.excluded("tmp/x") and not m.excluded("tmp/keep")
    assert not m.excluded("src/main.c")


def test_run_overrides() -> None:
    svc = {
        "image": "b",
        "command": ["x"],
        "environment": {"A": "1"},
        "labels": {},
        "ports": [{"target": 80, "published": "8080", "protocol": "tcp"}],
        "volumes": [],
        "container_name": "fixed",
    }
    f = parse(
        [
            "-e",
            "B=2",
            "--entrypoint",
            "sh -c",
            "-u",
            "nobody",
            "-w",
            "/tmp",
            "-p",
            "9000:90",
            "-v",
            "/h:/c:ro",
            "-l",
            "k=v",
            "svc",
            "echo",
            "hi",
        ],
        RUN_FLAGS,
        interspersed=False,
    )
    out = _override(dict(svc), f, f.args[1:])
    assert out["command"] == ["echo", "hi"]
    assert out["entrypoint"] == ["sh", "-c"]
    assert out["environment"] == {"A": "1", "B": "2"}
    assert (out["user"], out["working_dir"]) == ("nobody", "/tmp")
    assert [p["target"] for p in out["ports"]] == [90]  # service ports only with -P
    assert out["volumes"][0]["read_only"] is True
    assert out["labels"] == {"k": "v"} and "container_name" not in out
    f = parse(["--service-ports", "svc"], RUN_FLAGS, interspersed=False)
    assert _override(dict(svc), f, [])["ports"] == svc["ports"]
