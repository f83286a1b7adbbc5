"""Images (list, inspect, tag, history, remove, load, import, commit, pull errors) and build."""

from __future__ import annotations

import io
import json
import tarfile
from urllib.parse import quote

from harness import Side
from test_containers import BB


def _tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_images(differ) -> None:
    def s(d: Side) -> None:
        d.call("inspect-missing", "GET", "/images/nosuch:1/json")
        d.call("inspect-bad-ref", "GET", "/images/UPPER/json")
        d.call("tag", "POST", "/images/busybox/tag?repo=mine/bb&tag=v1", kind="none")
        d.call("tag-bad", "POST", "/images/busybox/tag?repo=Bad%20Repo&tag=v1")
        d.call("tag-bad-tag", "POST", "/images/busybox/tag?repo=mine/bb&tag=-x")
        d.call("tag-missing", "POST", "/images/nosuch/tag?repo=x&tag=1")
        d.call("tag-no-repo", "POST", "/images/busybox/tag")
        rows = d.json("GET", "/images/json")
        d.note("list-tags", sorted(t for r in rows for t in (r.get("RepoTags") or [])))
        d.note("list-keys", sorted(rows[0]))
        d.call("list-bad-filter", "GET", '/images/json?filters={"bogus":["x"]}')
        d.call("list-dangling-bad", "GET", '/images/json?filters={"dangling":["maybe"]}')
        rows = d.json("GET", '/images/json?filters={"reference":["mine/*"]}')
        d.note("list-reference", sorted(t for r in rows for t in (r.get("RepoTags") or [])))
        d.call("history-missing", "GET", "/images/nosuch/history")
        d.call("rm-missing", "DELETE", "/images/nosuch:1")
        d.call("rm-tag", "DELETE", "/images/mine/bb:v1")
        rich = {"Env": ["E=1"], "Labels": {"c": "2"}, "ExposedPorts": {"80/tcp": {}}}
        d.raw("POST", "/containers/create?name=im1", {**BB, **rich, "WorkingDir": "/tmp"})
        d.call("rm-in-use", "DELETE", "/images/busybox")
        d.call("commit", "POST", "/commit?container=im1&repo=committed&tag=t1", {})
        # no Config in the body: the container's whole Config (moby's CreateImageFromContainer)
        d.note("committed-config", d.json("GET", "/images/committed:t1/json")["Config"])
        own = {"Cmd": ["echo", "own"], "Env": ["A=1"], "Labels": {"l": "1"}}
        d.call("commit-own-config", "POST", "/commit?container=im1&repo=committed&tag=t2", own)
        d.note("committed-own-config", d.json("GET", "/images/committed:t2/json")["Config"])
        d.call(
            "commit-changes",
            "POST",
            "/commit?container=im1&repo=committed&tag=t3&changes=" + quote("ENV B=2"),
        )
        d.note("committed-changes", d.json("GET", "/images/committed:t3/json")["Config"])
        d.call("commit-missing", "POST", "/commit?container=nosuch&repo=x")
        d.call("commit-bad-repo", "POST", "/commit?container=im1&repo=Bad%20Repo")
        d.call("commit-bad-body", "POST", "/commit?container=im1&repo=x", b"[1]")
        d.call(
            "load-garbage",
            "POST",
            "/images/load?quiet=1",
            b"not a tar" * 100,
            kind="lines",
            headers={"Content-Type": "application/x-tar"},
        )
        d.call(
            "load-empty-tar",
            "POST",
            "/images/load?quiet=1",
            b"\0" * 1024,
            kind="lines",
            headers={"Content-Type": "application/x-tar"},
        )
        d.call(
            "import-garbage",
            "POST",
            "/images/create?fromSrc=-&repo=imp&tag=1",
            b"garbage" * 100,
            kind="lines",
            headers={"Content-Type": "application/x-tar"},
        )
        d.call(
            "pull-unreachable",
            "POST",
            "/images/create?fromImage=127.0.0.1:9/nothing&tag=1",
            kind="lines",
            timeout=60,
        )
        d.call("pull-bad-ref", "POST", "/images/create?fromImage=Bad%20Ref", kind="lines")
        d.call("search-bad", "GET", "/images/search?term=x&limit=abc")
        d.call("get-missing", "GET", "/images/nosuch:1/get")
        d.call("prune-bad-filter", "POST", '/images/prune?filters={"bogus":["x"]}')

    differ(s)


def test_build(differ) -> None:
    hdr = {"Content-Type": "application/x-tar"}

    def s(d: Side) -> None:
        ok = _tar({"Dockerfile": b"FROM busybox\nRUN echo hi > /f\nLABEL a=b\n"})
        r = d.raw("POST", "/build?t=built:1&rm=1", ok, headers=hdr, timeout=120)
        lines = [json.loads(x) for x in r.body.splitlines() if x.strip()]
        d.note("build-ok-status", r.status)
        d.note("build-ok-keys", sorted({k for x in lines for k in x}))
        d.call("inspect-built-labels", "GET", "/images/built:1/json")
        built = d.json("GET", "/images/built:1/json")
        # the classic builder's Config.Image: the image the last step ran on (its parent)
        d.note("built-config-image-is-parent", built["Config"]["Image"] == built["Parent"])
        graph = built["GraphDriver"]["Data"]
        d.note("built-graph-dirs", sorted(k for k, v in graph.items() if v))
        d.note(
            "built-graph-distinct", len({graph["MergedDir"], graph["WorkDir"], graph["UpperDir"]})
        )
        fail = _tar({"Dockerfile": b"FROM busybox\nRUN exit 7\n"})
        r = d.raw("POST", "/build?rm=1", fail, headers=hdr, timeout=120)
        lines = [json.loads(x) for x in r.body.splitlines() if x.strip()]
        d.note("build-fail-status", r.status)
        d.note("build-fail-error", [x.get("error") for x in lines if "error" in x])
        d.note("build-fail-errorDetail", [x.get("errorDetail") for x in lines if "error" in x])
        bad = _tar({"Dockerfile": b"FROM busybox\nNOSUCH x\n"})
        d.call("build-bad-instruction", "POST", "/build", bad, kind="lines", headers=hdr)
        base = _tar({"Dockerfile": b"FROM nosuch-base:1\n"})
        r = d.raw("POST", "/build", base, headers=hdr, timeout=60)
        d.note("build-missing-base-status", r.status)
        nodf = _tar({"x": b""})
        d.call("build-no-dockerfile", "POST", "/build", nodf, kind="lines", headers=hdr)
        d.call("build-bad-tag", "POST", "/build?t=Bad%20Tag", ok, kind="lines", headers=hdr)
        d.call("build-garbage", "POST", "/build", b"x" * 2048, kind="lines", headers=hdr)
        d.call("build-bad-memory", "POST", "/build?memory=abc", ok, kind="lines", headers=hdr)
        d.call("build-prune-bad-filter", "POST", '/build/prune?filters={"bogus":["x"]}')

    differ(s)
