"""Dockerfile builds against wharfied through `DOCKER_BUILDKIT=0 docker build`, `wharfie
build` and docker-py: the image config, the files a container run from the image sees,
the cache, and bad input (a clear error, no tagged image, nothing leaked)."""

from __future__ import annotations

import bz2
import gzip
import http.server
import io
import json
import lzma
import os
import subprocess
import sys
import tarfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from support.daemon import Daemon, docker_cli, wharfie_cli
from support.peers import ReferenceRegistry

pytestmark = pytest.mark.root

CLIS = ["docker", "wharfie"]


def build(
    d: Daemon, cli: str, ctx: Path | None, *args: str, input: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    run = docker_cli if cli == "docker" else wharfie_cli
    extra = [] if cli == "docker" else ["--progress", "plain"]
    where = "-" if ctx is None else str(ctx)
    return run(d, "build", *extra, *args, where, input=input, timeout=120)


def ok(p: subprocess.CompletedProcess[bytes]) -> str:
    assert p.returncode == 0, (p.stdout + p.stderr).decode()
    return p.stdout.decode()


def config(d: Daemon, ref: str) -> dict[str, Any]:
    doc = json.loads(ok(docker_cli(d, "image", "inspect", ref)))[0]
    return dict(doc["Config"])


def run_out(d: Daemon, ref: str, *cmd: str) -> str:
    return ok(docker_cli(d, "run", "--rm", ref, *cmd))


def write(ctx: Path, files: dict[str, str | bytes]) -> Path:
    ctx.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        path = ctx / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, bytes):
            path.write_bytes(data)
        else:
            path.write_text(data)
    return ctx


def containers(d: Daemon) -> set[str]:
    return set(ok(docker_cli(d, "ps", "-aq", "--no-trunc")).split())


def build_mounts(d: Daemon) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if str(d.base) in line and "/builds/" in line]


# ------------------------------------------------------------------ the must-shows
@pytest.mark.parametrize("cli", CLIS)
def test_multistage_copy_from_and_target(
    daemon: Daemon, tmp_path: Path, name: str, cli: str
) -> None:
    ctx = write(
        tmp_path,
        {
            "Dockerfile": """\
FROM busybox AS builder
RUN mkdir -p /out && echo built > /out/artifact && echo 2 > /out/two
FROM busybox AS other
RUN echo other > /other
FROM busybox AS broken
RUN exit 3
FROM busybox
COPY --from=builder /out/artifact /app/
COPY --from=1 /other /app/other
COPY --from=builder /out/ /app/dir/
CMD ["cat", "/app/artifact"]
"""
        },
    )
    out = ok(build(daemon, cli, ctx, "-t", name, "--target", ""))
    assert "exit 3" not in out  # the stage the target does not need is not built
    assert run_out(daemon, name) == "built\n"
    assert run_out(daemon, name, "cat", "/app/other", "/app/dir/two") == "other\n2\n"
    ok(build(daemon, cli, ctx, "-t", name + "-b", "--target", "builder"))
    assert run_out(daemon, name + "-b", "cat", "/out/artifact") == "built\n"


@pytest.mark.parametrize("cli", CLIS)
def test_from_scratch_platform_and_copy_from_an_image(
    daemon: Daemon, tmp_path: Path, name: str, cli: str
) -> None:
    ctx = write(
        tmp_path,
        {
            "f": "in scratch\n",
            "Dockerfile": """\
FROM --platform=linux/amd64 busybox AS tools
FROM scratch
MAINTAINER someone@example.com
COPY --from=busybox /bin/busybox /bin/busybox
COPY f /
ENV OLD value with  spaces
ENTRYPOINT ["/bin/busybox"]
CMD ["cat", "/f"]
""",
        },
    )
    ok(build(daemon, cli, ctx, "-t", name))
    doc = json.loads(ok(docker_cli(daemon, "image", "inspect", name)))[0]
    assert len(doc["RootFS"]["Layers"]) == 2 and doc["Author"] == "someone@example.com"
    assert doc["Config"]["Env"] == [
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "OLD=value with  spaces",
    ]
    assert run_out(daemon, name) == "in scratch\n"
    assert run_out(daemon, name, "ls", "/").split() == ["bin", "dev", "etc", "f", "proc", "sys"]


@pytest.mark.parametrize("cli", CLIS)
def test_args_env_workdir_user_and_config(
    daemon: Daemon, tmp_path: Path, name: str, cli: str
) -> None:
    ctx = write(
        tmp_path,
        {
            "Dockerfile": f"ARG UNIQUE={name}\n"
            + """\
ARG BASE=busybox
ARG VERSION=1.0
FROM ${BASE}
ARG UNIQUE
ARG VERSION
ARG WHO=world
ENV APP_HOME=/srv/app GREETING="hello $WHO"
WORKDIR $APP_HOME
WORKDIR sub
RUN echo "$GREETING v$VERSION in $(pwd)" > info && \\
    echo "app:x:1234:2345::/home/app:/bin/sh" >> /etc/passwd && \\
    echo "app:x:2345:" >> /etc/group
LABEL org.example.version=$VERSION "with space"="a b"
EXPOSE 8080 53/udp
VOLUME /data
STOPSIGNAL SIGUSR1
USER app
RUN id -u > /tmp/uid-by-name
USER 4321:99
RUN id -u > /tmp/uid-by-number; id -g >> /tmp/uid-by-number
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["cat info"]
"""
        },
    )
    first = ok(
        build(daemon, cli, ctx, "-t", name, "--build-arg", "WHO=builder", "--label", "via=cli")
    )
    again = ok(
        build(daemon, cli, ctx, "-t", name, "--build-arg", "WHO=builder", "--label", "via=cli")
    )
    assert "Using cache" not in first
    assert again.count("Using cache") == 18  # every step after FROM, --label's step too
    cfg = config(daemon, name)
    assert cfg["WorkingDir"] == "/srv/app/sub"
    assert "APP_HOME=/srv/app" in cfg["Env"] and "GREETING=hello builder" in cfg["Env"]
    assert not any(e.startswith(("VERSION=", "WHO=")) for e in cfg["Env"])  # ARGs stay out
    assert cfg["User"] == "4321:99"
    assert cfg["ExposedPorts"] == {"8080/tcp": {}, "53/udp": {}}
    assert cfg["Volumes"] == {"/data": {}}
    assert cfg["Labels"] == {"org.example.version": "1.0", "with space": "a b", "via": "cli"}
    assert cfg["StopSignal"] == "SIGUSR1"
    assert cfg["Entrypoint"] == ["/bin/sh", "-c"] and cfg["Cmd"] == ["cat info"]
    assert run_out(daemon, name) == "hello builder v1.0 in /srv/app/sub\n"
    assert run_out(daemon, name, "cat /tmp/uid-by-name /tmp/uid-by-number") == "1234\n4321\n99\n"


@pytest.mark.parametrize("cli", CLIS)
def test_onbuild_triggers_run_in_the_child(
    daemon: Daemon, tmp_path: Path, name: str, cli: str
) -> None:
    parent = write(
        tmp_path / "parent",
        {
            "Dockerfile": """\
FROM busybox
ONBUILD COPY marker.txt /marker.txt
ONBUILD RUN echo triggered > /triggered
"""
        },
    )
    ok(build(daemon, cli, parent, "-t", name + "-base"))
    assert config(daemon, name + "-base")["OnBuild"] == [
        "COPY marker.txt /marker.txt",
        "RUN echo triggered > /triggered",
    ]
    (parent / "Dockerfile").write_text((parent / "Dockerfile").read_text() + f"ENV N={name}\n")
    ok(build(daemon, cli, parent, "-t", name + "-base"))  # cached triggers, then a new step
    assert config(daemon, name + "-base")["OnBuild"] == [
        "COPY marker.txt /marker.txt",
        "RUN echo triggered > /triggered",
    ]
    child = write(
        tmp_path / "child",
        {
            "Dockerfile": f"FROM {name}-base\nRUN cat /triggered\n",
            "marker.txt": "from the child's context\n",
        },
    )
    out = ok(build(daemon, cli, child, "-t", name))
    assert "Executing 2 build triggers" in out
    assert run_out(daemon, name, "cat", "/marker.txt", "/triggered") == (
        "from the child's context\ntriggered\n"
    )
    assert not config(daemon, name).get("OnBuild")  # triggers are not inherited further


@pytest.mark.parametrize("cli", CLIS)
def test_healthcheck_shell_and_heredocs(
    daemon: Daemon, tmp_path: Path, name: str, cli: str
) -> None:
    ctx = write(
        tmp_path,
        {
            "Dockerfile": """\
FROM busybox
SHELL ["/bin/sh", "-ec"]
ENV WHO=heredoc
RUN <<EOF
echo "first line" > /script-out
echo "second $WHO" >> /script-out
EOF
RUN cat <<'END' > /literal
not expanded: $WHO
END
RUN <<EOF
#!/bin/busybox awk -f
BEGIN { print "from awk" > "/awk-out" }
EOF
COPY <<EOF /etc/copied.conf
copied for "$WHO"
EOF
HEALTHCHECK --interval=5s --timeout=2s --start-period=1s --retries=4 CMD test -f /script-out
CMD echo "shell form via $0"
"""
        },
    )
    ok(build(daemon, cli, ctx, "-t", name))
    cfg = config(daemon, name)
    assert cfg["Healthcheck"] == {
        "Test": ["CMD-SHELL", "test -f /script-out"],
        "Interval": 5_000_000_000,
        "Timeout": 2_000_000_000,
        "StartPeriod": 1_000_000_000,
        "Retries": 4,
    }
    assert cfg["Cmd"] == ["/bin/sh", "-ec", 'echo "shell form via $0"']
    assert run_out(daemon, name) == "shell form via /bin/sh\n"
    assert run_out(daemon, name, "cat", "/awk-out") == "from awk\n"  # a shebang heredoc
    assert run_out(daemon, name, "ls", "-A", "/dev/shm") == ""
    assert run_out(daemon, name, "cat", "/script-out", "/literal", "/etc/copied.conf") == (
        'first line\nsecond heredoc\nnot expanded: $WHO\ncopied for "heredoc"\n'
    )


def _tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for path, data in files.items():
            ti = tarfile.TarInfo(path)
            ti.size, ti.mode = len(data), 0o640
            tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[Callable[[str, bytes], str]]:
    root = tmp_path / "www"
    root.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a: Any, **kw: Any) -> None:
            super().__init__(*a, directory=str(root), **kw)

        def log_message(self, *_: Any) -> None:
            return None

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def publish(path: str, data: bytes) -> str:
        (root / path).write_bytes(data)
        return f"http://127.0.0.1:{server.server_address[1]}/{path}"

    yield publish
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("cli", CLIS)
def test_add_tar_archives_and_url(
    daemon: Daemon, tmp_path: Path, name: str, cli: str, http_server: Callable[[str, bytes], str]
) -> None:
    url = http_server("remote.txt", b"fetched over http\n")
    ctx = write(
        tmp_path / "ctx",
        {
            "plain.tar": _tar({"p/a.txt": b"plain\n"}),
            "g.tar.gz": gzip.compress(_tar({"g/a.txt": b"gzip\n"})),
            "b.tar.bz2": bz2.compress(_tar({"b/a.txt": b"bzip2\n"})),
            "x.tar.xz": lzma.compress(_tar({"x/a.txt": b"xz\n"})),
            "notes.gz": gzip.compress(b"not a tar\n"),
            "Dockerfile": f"""\
FROM busybox
ADD plain.tar g.tar.gz b.tar.bz2 x.tar.xz /unpacked/
ADD notes.gz /kept/
ADD {url} /downloads/
ADD --chmod=644 {url} /renamed.txt
""",
        },
    )
    ok(build(daemon, cli, ctx, "-t", name))
    assert (
        run_out(
            daemon,
            name,
            "cat",
            "/unpacked/p/a.txt",
            "/unpacked/g/a.txt",
            "/unpacked/b/a.txt",
            "/unpacked/x/a.txt",
        )
        == "plain\ngzip\nbzip2\nxz\n"
    )
    assert run_out(daemon, name, "ls", "/kept") == "notes.gz\n"  # not a tar: copied as is
    assert run_out(daemon, name, "cat", "/downloads/remote.txt") == "fetched over http\n"
    modes = run_out(daemon, name, "stat", "-c", "%a", "/downloads/remote.txt", "/renamed.txt")
    assert modes == "600\n644\n"


@pytest.mark.parametrize("cli", CLIS)
def test_dockerignore_exceptions_and_wildcards(
    daemon: Daemon, tmp_path: Path, name: str, cli: str
) -> None:
    ctx = write(
        tmp_path,
        {
            ".dockerignore": "# notes\n*.md\n!README.md\nsecrets\n**/*.tmp\nDockerfile\n",
            "README.md": "readme\n",
            "CHANGES.md": "changes\n",
            "secrets/key": "k\n",
            "src/a.txt": "a\n",
            "src/b.txt": "b\n",
            "src/c.tmp": "tmp\n",
            "src/deep/d.txt": "d\n",
            "Dockerfile": """\
FROM busybox
COPY . /ctx/
COPY src/*.txt /txt/
COPY --chown=1:2 --chmod=600 src/a.txt /owned
RUN mkdir /real && ln -s /real /link
COPY sr? /wild/
COPY src/a.txt /link/
""",
        },
    )
    ok(build(daemon, cli, ctx, "-t", name))
    assert sorted(run_out(daemon, name, "ls", "/wild").split()) == ["a.txt", "b.txt", "deep"]
    assert run_out(daemon, name, "readlink", "/link") == "/real\n"  # still a link
    assert run_out(daemon, name, "cat", "/real/a.txt") == "a\n"
    listing = run_out(daemon, name, "find", "/ctx", "-type", "f").split()
    assert sorted(listing) == [
        "/ctx/.dockerignore",
        "/ctx/README.md",
        "/ctx/src/a.txt",
        "/ctx/src/b.txt",
        "/ctx/src/deep/d.txt",
    ]
    assert sorted(run_out(daemon, name, "ls", "/txt").split()) == ["a.txt", "b.txt"]
    assert run_out(daemon, name, "stat", "-c", "%u:%g %a", "/owned") == "1:2 600\n"


def test_independent_stages_build_concurrently(daemon: Daemon, tmp_path: Path, name: str) -> None:
    """Each stage's RUN notes when it started and ended (host uptime): the two overlap."""
    span = "cut -d' ' -f1 /proc/uptime > /{0}.start; sleep 1; cut -d' ' -f1 /proc/uptime > /{0}.end"
    ctx = write(
        tmp_path,
        {
            "Dockerfile": f"""\
FROM busybox AS a
RUN {span.format("a")}
FROM busybox AS b
RUN {span.format("b")}
FROM busybox
COPY --from=a /a.start /a.end /
COPY --from=b /b.start /b.end /
"""
        },
    )
    ok(build(daemon, "wharfie", ctx, "-t", name, "--no-cache"))
    t = [
        float(x)
        for x in run_out(daemon, name, "cat", "/a.start", "/a.end", "/b.start", "/b.end").split()
    ]
    assert t[0] < t[3] and t[2] < t[1], f"the stages ran one after the other: {t}"


def test_network_none_and_chown_by_name(daemon: Daemon, tmp_path: Path, name: str) -> None:
    ctx = write(
        tmp_path,
        {
            "f": "owned\n",
            "Dockerfile": """\
FROM busybox
RUN ls /sys/class/net > /nets && \\
    echo "svc:x:701:702::/:/bin/sh" >> /etc/passwd && echo "svcgrp:x:703:" >> /etc/group
COPY --chown=svc f /by-user
COPY --chown=svc:svcgrp --link f /by-user-group
""",
        },
    )
    ok(build(daemon, "docker", ctx, "-t", name, "--network", "none"))
    assert run_out(daemon, name, "cat", "/nets") == "lo\n"
    assert run_out(daemon, name, "stat", "-c", "%u:%g", "/by-user", "/by-user-group") == (
        "701:702\n701:703\n"
    )


def test_from_pulls_a_missing_base(daemon: Daemon, tmp_path: Path, name: str) -> None:
    reg = ReferenceRegistry(tmp_path / "registry")
    reg.start()
    try:
        ref = f"{reg.addr}/{name}:1"
        ok(docker_cli(daemon, "tag", "busybox", ref))
        ok(docker_cli(daemon, "push", ref))
        ok(docker_cli(daemon, "rmi", ref))
        ctx = write(tmp_path / "ctx", {"Dockerfile": f"FROM {ref}\nRUN echo pulled > /p\n"})
        ok(build(daemon, "docker", ctx, "-t", name))
        assert run_out(daemon, name, "cat", "/p") == "pulled\n"
        ok(docker_cli(daemon, "image", "inspect", ref))
        built = f"{reg.addr}/{name}-built:1"  # a built image pushes and pulls back
        ok(docker_cli(daemon, "tag", name, built))
        ok(docker_cli(daemon, "push", built))
        ok(docker_cli(daemon, "rmi", built, name))
        ok(docker_cli(daemon, "pull", built))
        assert run_out(daemon, built, "cat", "/p") == "pulled\n"
        other = write(tmp_path / "other", {"Dockerfile": f"FROM --platform=linux/s390x {ref}\n"})
        p = build(daemon, "docker", other, "-t", name + "-s390x")  # the local one is amd64
        assert p.returncode != 0 and b"wanted linux/s390x" in p.stdout + p.stderr
    finally:
        reg.stop()
    missing = write(tmp_path / "missing", {"Dockerfile": f"FROM {reg.addr}/nope:1\n"})
    p = build(daemon, "docker", missing, "-t", name + "-missing")
    assert p.returncode != 0 and f"{reg.addr}/nope" in (p.stdout + p.stderr).decode()


def test_from_a_registry_with_auth(daemon: Daemon, tmp_path: Path, name: str) -> None:
    """docker login stores the credentials; docker build sends them (X-Registry-Config)."""
    reg = ReferenceRegistry(tmp_path / "registry", htpasswd={"builder": "s3cret"})
    reg.start()
    try:
        ref = f"{reg.addr}/{name}:1"
        ok(
            docker_cli(
                daemon, "login", "-u", "builder", "--password-stdin", reg.addr, input=b"s3cret"
            )
        )
        ok(docker_cli(daemon, "tag", "busybox", ref))
        ok(docker_cli(daemon, "push", ref))
        ok(docker_cli(daemon, "rmi", ref))
        ctx = write(tmp_path / "ctx", {"Dockerfile": f"FROM {ref}\nRUN echo authed > /a\n"})
        ok(build(daemon, "docker", ctx, "-t", name))
        assert run_out(daemon, name, "cat", "/a") == "authed\n"
        ok(docker_cli(daemon, "logout", reg.addr))
        ok(docker_cli(daemon, "rmi", ref))
        p = build(daemon, "docker", ctx, "-t", name + "-anon", "--no-cache")
        assert p.returncode != 0  # no credentials: the pull is refused
    finally:
        reg.stop()


# ------------------------------------------------------------------------- the cache
def test_cache_hits_and_invalidation(daemon: Daemon, tmp_path: Path, name: str) -> None:
    ctx = write(
        tmp_path,
        {
            "one.txt": "1\n",
            "two.txt": "2\n",
            "Dockerfile": """\
FROM busybox
RUN echo first > /first
COPY one.txt /
RUN cat /one.txt > /copy-of-one
COPY two.txt /
RUN cat /proc/sys/kernel/random/uuid > /stamp
""",
        },
    )
    first = ok(build(daemon, "docker", ctx, "-t", name))
    assert "Using cache" not in first
    again = ok(build(daemon, "docker", ctx, "-t", name + "-again"))
    assert again.count("Using cache") == 5  # every step after FROM
    assert config(daemon, name) == config(daemon, name + "-again")
    stamp = run_out(daemon, name, "cat", "/stamp")
    (ctx / "two.txt").write_text("changed\n")
    changed = ok(build(daemon, "docker", ctx, "-t", name))
    steps = changed.split("Step ")[1:]
    assert ["Using cache" in s for s in steps] == [False, True, True, True, False, False]
    assert run_out(daemon, name, "cat", "/two.txt") == "changed\n"
    assert run_out(daemon, name, "cat", "/stamp") != stamp
    nocache = ok(build(daemon, "docker", ctx, "-t", name, "--no-cache"))
    assert "Using cache" not in nocache
    df = ok(docker_cli(daemon, "system", "df", "--format", "{{.Type}} {{.TotalCount}}"))
    assert int(df.split("Build Cache ")[1].split()[0]) >= 5


def test_no_cache_rebuild_keeps_other_chains(daemon: Daemon, tmp_path: Path, name: str) -> None:
    """A --no-cache build of the same first steps does not cut another context's chain."""
    df = f"FROM busybox\nRUN echo {name} > /x\nCOPY f /f\nRUN cat /f\n"
    a = write(tmp_path / "a", {"Dockerfile": df, "f": "a\n"})
    b = write(tmp_path / "b", {"Dockerfile": df, "f": "b\n"})
    ok(build(daemon, "docker", a, "-t", name + "-a", "--no-cache"))
    ok(build(daemon, "docker", b, "-t", name + "-b", "--no-cache"))
    assert ok(build(daemon, "docker", a, "-t", name + "-a")).count("Using cache") == 3
    assert ok(build(daemon, "docker", b, "-t", name + "-b")).count("Using cache") == 3
    assert run_out(daemon, name + "-a", "cat", "/f") == "a\n"


def test_concurrent_builds_of_one_context(daemon: Daemon, tmp_path: Path, name: str) -> None:
    ctx = write(
        tmp_path,
        {
            "f": f"{name}\n",
            "Dockerfile": 'FROM busybox\nRUN echo run > /r\nCOPY f /f\nCMD ["cat", "/f"]\n',
        },
    )
    env = {**daemon.env, "DOCKER_BUILDKIT": "0"}
    procs = [
        subprocess.Popen(
            ["docker", "build", "-q", "-t", f"{name}-{i}", str(ctx)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for i in range(3)
    ]
    for p in procs:
        _out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()
    for i in range(3):
        assert run_out(daemon, f"{name}-{i}") == f"{name}\n"
    assert run_out(daemon, f"{name}-0", "cat", "/r") == "run\n"
    assert os.listdir(daemon.base / "data" / "builds") == []


def test_cache_survives_a_daemon_restart(daemon: Daemon, tmp_path: Path, name: str) -> None:
    ctx = write(tmp_path, {"Dockerfile": f"FROM busybox\nRUN echo {name} > /x\n"})
    ok(build(daemon, "docker", ctx, "-t", name))
    daemon.stop()
    daemon.start()
    assert "Using cache" in ok(build(daemon, "docker", ctx, "-t", name))


def test_cache_from_an_image(daemon: Daemon, tmp_path: Path, name: str) -> None:
    ctx = write(
        tmp_path,
        {
            "f": f"{name}\n",
            "Dockerfile": """\
FROM busybox
ENV MARK=cache-from
RUN cat /proc/sys/kernel/random/uuid > /id
COPY f /f
CMD ["cat", "/id"]
""",
        },
    )
    ok(build(daemon, "docker", ctx, "-t", name))
    ok(wharfie_cli(daemon, "builder", "prune", "-f", "--all"))  # the cache index is empty now
    out = ok(build(daemon, "docker", ctx, "-t", name + "-b", "--cache-from", name))
    assert out.count("Using cache") == 4
    assert run_out(daemon, name + "-b") == run_out(daemon, name)  # the RUN's layer reused
    ok(wharfie_cli(daemon, "builder", "prune", "-f", "--all"))
    assert "Using cache" not in ok(build(daemon, "docker", ctx, "-t", name + "-c"))


def test_daemon_killed_mid_build_leaves_nothing_after_restart(
    daemon: Daemon, tmp_path: Path, name: str
) -> None:
    import signal
    import time

    ctx = write(tmp_path, {"Dockerfile": f"FROM busybox\nRUN echo {name}; sleep 30\n"})
    env = {**daemon.env, "DOCKER_BUILDKIT": "0"}
    client = subprocess.Popen(
        ["docker", "build", "-t", name, str(ctx)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        label = "label=org.wharfie.build.step"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if ok(docker_cli(daemon, "ps", "-q", "--filter", label)).strip():
                break
            time.sleep(0.1)
        else:
            pytest.fail("the RUN container never started")
        daemon.stop(signal.SIGKILL)
        daemon.start()
        assert ok(docker_cli(daemon, "ps", "-aq", "--filter", label)).strip() == ""
        assert os.listdir(daemon.base / "data" / "builds") == []
        assert build_mounts(daemon) == []
    finally:
        client.kill()
        client.wait()


def test_client_gone_mid_run_cancels_the_build(daemon: Daemon, tmp_path: Path, name: str) -> None:
    """A silent RUN gives the stream nothing to write: the build still notices the client
    closed its connection, stops the RUN and cleans up."""
    import time

    ctx = write(tmp_path, {"Dockerfile": f"FROM busybox\nRUN sleep 60 # {name}\n"})
    env = {**daemon.env, "DOCKER_BUILDKIT": "0"}
    client = subprocess.Popen(
        ["docker", "build", "-t", name, str(ctx)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    label = "label=org.wharfie.build.step"
    try:
        deadline = time.monotonic() + 30
        while not ok(docker_cli(daemon, "ps", "-q", "--filter", label)).strip():
            assert time.monotonic() < deadline, "the RUN container never started"
            time.sleep(0.1)
        client.kill()
        client.wait()
        deadline = time.monotonic() + 20
        while ok(docker_cli(daemon, "ps", "-aq", "--filter", label)).strip():
            assert time.monotonic() < deadline, "the RUN container outlived its client"
            time.sleep(0.2)
        while os.listdir(daemon.base / "data" / "builds"):
            assert time.monotonic() < deadline, "the build's directory was left"
            time.sleep(0.1)
        assert build_mounts(daemon) == []
        assert docker_cli(daemon, "image", "inspect", name).returncode != 0
    finally:
        if client.poll() is None:
            client.kill()
            client.wait()


def test_builder_prune_with_a_size_cap(tmp_path: Path) -> None:
    """On a daemon of its own (the cap counts every cache entry of the daemon)."""
    from support.daemon import busybox_tar

    d = Daemon(tmp_path / "own", 6)
    d.start()
    try:
        ok(docker_cli(d, "import", "-c", 'CMD ["sh"]', "-", "busybox", input=busybox_tar(tmp_path)))
        for n in ("a", "b"):  # a 400 kB RUN layer each, under an image that is then removed
            ctx = write(
                tmp_path / n,
                {
                    "Dockerfile": f"FROM busybox\nRUN head -c 400000 "
                    f"/dev/urandom > /{n}\nENV X={n}\n"
                },
            )
            ok(build(d, "docker", ctx, "-t", n))
            ok(docker_cli(d, "rmi", "--no-prune", n))  # the RUN step's image stays, untagged
        out = ok(wharfie_cli(d, "builder", "prune", "-f", "--keep-storage", "500KB"))
        assert "Total reclaimed space: 400" in out  # a's layer: the least recently used
        steps_b = ok(build(d, "docker", tmp_path / "b", "-t", "b")).split("Step ")[1:]
        assert ["Using cache" in s for s in steps_b] == [False, True, False]  # ENV's image: gone
        steps_a = ok(build(d, "docker", tmp_path / "a", "-t", "a")).split("Step ")[1:]
        assert ["Using cache" in s for s in steps_a] == [False, False, False]
        out = ok(wharfie_cli(d, "builder", "prune", "-f", "--all"))
        assert "Deleted build cache objects" in out
        assert "Using cache" not in ok(build(d, "docker", tmp_path / "a", "-t", "a2"))
    finally:
        assert d.teardown() == []


# ------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "dockerfile,message",
    [
        ("FROM busybox\nRUN true\nFROM\n", "line 3"),
        ("# only a comment\n", "the Dockerfile (Dockerfile) cannot be empty"),
        ("FROM busybox\nCOPY *.nothing /\n", "no source files were specified"),
        ("FROM busybox\nUSER nosuchuser\nRUN true\n", "unable to find user nosuchuser"),
        ("FROM busybox\nFOO bar\n", "unknown instruction: FOO"),
        ("FROM busybox\nCOPY missing.txt /\n", "missing.txt"),
        ("FROM busybox AS a\nCOPY --from=7 /x /x\n", "invalid from flag value 7"),  # no stage 7
        (
            "FROM busybox\nRUN echo partial > /p\nRUN echo some output; false\n",
            "The command '/bin/sh -c echo some output; false' returned a non-zero code: 1",
        ),
    ],
)
@pytest.mark.parametrize("cli", CLIS)
def test_bad_input(
    daemon: Daemon, tmp_path: Path, name: str, cli: str, dockerfile: str, message: str
) -> None:
    ctx = write(tmp_path, {"Dockerfile": dockerfile})
    before = containers(daemon)
    p = build(daemon, cli, ctx, "-t", name)
    assert p.returncode != 0
    assert message in (p.stdout + p.stderr).decode()
    assert docker_cli(daemon, "image", "inspect", name).returncode != 0  # nothing tagged
    assert containers(daemon) == before  # no stray containers
    assert build_mounts(daemon) == []
    assert os.listdir(daemon.base / "data" / "builds") == []


def test_unknown_target_stage(daemon: Daemon, tmp_path: Path, name: str) -> None:
    ctx = write(tmp_path, {"Dockerfile": "FROM busybox AS one\nRUN echo never\n"})
    for cli in CLIS:
        p = build(daemon, cli, ctx, "-t", name, "--target", "nostage")
        assert p.returncode != 0
        assert b"failed to reach build target nostage in Dockerfile" in p.stdout + p.stderr
        assert b"never" not in p.stdout


def test_bad_tag_is_refused_before_building(daemon: Daemon) -> None:
    from wharfie.client.api import APIError, Client

    data = _tar({"Dockerfile": b"FROM busybox\nRUN echo should-not-run\n"})
    with Client(daemon.host) as client, pytest.raises(APIError) as exc:
        client.request("POST", "/build", query={"t": "Bad:Tag:x"}, body=data)
    assert exc.value.status == 400 and "invalid reference format" in exc.value.message


def test_build_args_proxy_args_and_the_unused_warning(
    daemon: Daemon, tmp_path: Path, name: str
) -> None:
    ctx = write(
        tmp_path, {"Dockerfile": 'FROM busybox\nARG USED\nRUN echo "$USED $HTTP_PROXY" > /seen\n'}
    )
    out = ok(
        build(
            daemon,
            "docker",
            ctx,
            "-t",
            name,
            "--build-arg",
            "USED=1",
            "--build-arg",
            "FOO=2",
            "--build-arg",
            "HTTP_PROXY=http://127.0.0.1:9",
        )
    )
    assert "[Warning] One or more build-args [FOO] were not consumed" in out
    assert run_out(daemon, name, "cat", "/seen") == "1 http://127.0.0.1:9\n"
    history = ok(docker_cli(daemon, "history", "--no-trunc", name))
    assert "|1 USED=1 /bin/sh -c" in history and "127.0.0.1:9" not in history
    assert not any("PROXY" in e for e in config(daemon, name)["Env"] or [])


def test_steps_before_a_failure_stay_cached(daemon: Daemon, tmp_path: Path, name: str) -> None:
    ctx = write(tmp_path, {"Dockerfile": f"FROM busybox\nRUN echo {name} > /a\nRUN exit 7\n"})
    p = build(daemon, "docker", ctx, "-t", name)
    assert p.returncode != 0 and b"returned a non-zero code: 7" in p.stdout + p.stderr
    (ctx / "Dockerfile").write_text(f"FROM busybox\nRUN echo {name} > /a\nRUN true\n")
    steps = ok(build(daemon, "docker", ctx, "-t", name)).split("Step ")[1:]
    assert ["Using cache" in s for s in steps] == [False, True, False]


def test_run_gets_the_build_resources(daemon: Daemon, tmp_path: Path, name: str) -> None:
    ctx = write(
        tmp_path,
        {
            "Dockerfile": "FROM busybox\nRUN (cat /sys/fs/cgroup/memory.max "
            "/sys/fs/cgroup/memory/memory.limit_in_bytes "
            "2>/dev/null; ulimit -n) > /limit; true\n"
        },
    )
    ok(build(daemon, "docker", ctx, "-t", name, "--memory", "64m", "--ulimit", "nofile=512:512"))
    assert run_out(daemon, name, "cat", "/limit").split() == [str(64 << 20), "512"]


# ---------------------------------------------------------------- stdin and docker-py
def test_context_tar_on_stdin_and_iidfile(daemon: Daemon, tmp_path: Path, name: str) -> None:
    data = _tar({"Dockerfile": b"FROM busybox\nCOPY f /f\n", "f": b"from stdin\n"})
    iid = tmp_path / "iid"
    p = wharfie_cli(daemon, "build", "-q", "-t", name, "--iidfile", str(iid), "-", input=data)
    image_id = ok(p).strip()
    assert image_id.startswith("sha256:") and iid.read_text() == image_id
    assert run_out(daemon, name, "cat", "/f") == "from stdin\n"


@pytest.mark.parametrize("cli", CLIS)
def test_dockerfile_outside_the_context(
    daemon: Daemon, tmp_path: Path, name: str, cli: str
) -> None:
    ctx = write(tmp_path / "ctx", {"data.txt": "data\n"})
    df = write(tmp_path / "elsewhere", {"build.Dockerfile": "FROM busybox\nCOPY . /ctx/\n"})
    ok(build(daemon, cli, ctx, "-t", name, "-f", str(df / "build.Dockerfile")))
    assert run_out(daemon, name, "ls", "-A", "/ctx") == "data.txt\n"


def test_dockerfile_on_stdin_with_a_context_dir(daemon: Daemon, tmp_path: Path, name: str) -> None:
    ctx = write(tmp_path, {"data.txt": "from the dir\n"})
    df = b"FROM busybox\nCOPY . /ctx/\n"
    ok(wharfie_cli(daemon, "build", "-q", "-t", name, "-f", "-", str(ctx), input=df))
    assert run_out(daemon, name, "ls", "-A", "/ctx") == "data.txt\n"
    p = wharfie_cli(daemon, "build", "-f", "-", "-", input=df)
    assert p.returncode != 0 and b"can't use stdin for both" in p.stderr


def test_live_display_on_a_terminal(daemon: Daemon, tmp_path: Path, name: str) -> None:
    import pty

    ctx = write(tmp_path, {"Dockerfile": "FROM busybox\nRUN echo live-output\nENV A=1\n"})
    exe = str(Path(sys.executable).parent / "wharfie")
    pid, fd = pty.fork()
    if pid == 0:  # the child: wharfie build on a terminal
        os.execve(exe, [exe, "build", "-t", name, str(ctx)], daemon.env)
    try:
        out = _read_all(fd)
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    text = out.decode(errors="replace")
    assert os.waitstatus_to_exitcode(status) == 0, text
    assert "[2/3] RUN echo live-output" in text and "  live-output" in text
    assert "DONE" in text and "Finished in" in text


def test_live_display_repeats_a_failing_step(daemon: Daemon, tmp_path: Path, name: str) -> None:
    import pty

    ctx = write(
        tmp_path, {"Dockerfile": "FROM busybox\nRUN for i in 1 2 3; do echo line$i; done; exit 4\n"}
    )
    exe = str(Path(sys.executable).parent / "wharfie")
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(exe, [exe, "build", "-t", name, str(ctx)], daemon.env)
    out = _read_all(fd)
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    text = out.decode(errors="replace")
    assert os.waitstatus_to_exitcode(status) == 1, text
    assert " > [2/2] RUN for i in 1 2 3" in text and "  line3\r\n------" in text
    assert (
        "ERROR: The command '/bin/sh -c for i in 1 2 3; do echo line$i; done; exit 4' "
        "returned a non-zero code: 4" in text
    )


def _read_all(fd: int) -> bytes:
    import select

    out = b""
    while True:
        ready, _, _ = select.select([fd], [], [], 60)
        if not ready:
            return out
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            return out
        if not chunk:
            return out
        out += chunk


def test_run_output_streams_live(daemon: Daemon, tmp_path: Path, name: str) -> None:
    import time

    import docker

    ctx = write(
        tmp_path, {"Dockerfile": f"FROM busybox\nRUN echo early-{name}; sleep 2; echo late\n"}
    )
    client = docker.APIClient(base_url=daemon.host)
    seen: dict[str, float] = {}
    try:
        for msg in client.build(path=str(ctx), tag=name, decode=True, nocache=True):
            text = str(msg.get("stream", ""))
            if text in (f"early-{name}\n", "late\n") or text.startswith("Successfully built"):
                seen.setdefault(text.split()[0], time.monotonic())
    finally:
        client.close()
    early = seen[f"early-{name}"]
    assert seen["late"] - early > 1.5  # each line as the RUN writes it
    assert seen["Successfully"] - early > 1.5  # not held back to the end


def test_docker_py_images_build(daemon: Daemon, tmp_path: Path, name: str) -> None:
    import docker

    ctx = write(tmp_path, {"Dockerfile": "FROM busybox\nLABEL via=docker-py\nRUN echo py > /py\n"})
    client = docker.DockerClient(base_url=daemon.host)
    try:
        image, logs = client.images.build(path=str(ctx), tag=name, rm=True)
        assert image.labels == {"via": "docker-py"}
        assert any("Successfully built" in str(x.get("stream", "")) for x in logs)
        out = client.containers.run(name, ["cat", "/py"], remove=True)
        assert out == b"py\n"
        with pytest.raises(docker.errors.BuildError, match="returned a non-zero code"):
            client.images.build(fileobj=io.BytesIO(b"FROM busybox\nRUN false\n"), tag=name + "x")
    finally:
        client.close()


# ------------------------------------------------------------------------- image inspect
def test_built_image_names_its_parent_and_layer_dirs(
    daemon: Daemon, tmp_path: Path, name: str
) -> None:
    """As dockerd's classic builder: Config.Image is the image the last step ran on (the
    parent), and GraphDriver names the top layer's merged and work dirs (overlay2's keys)."""
    ctx = write(tmp_path, {"Dockerfile": "FROM busybox\nRUN echo hi > /f\nLABEL a=b\n"})
    ok(build(daemon, "docker", ctx, "-t", name))
    doc = json.loads(ok(docker_cli(daemon, "image", "inspect", name)))[0]
    assert doc["Parent"].startswith("sha256:")
    assert doc["Config"]["Image"] == doc["Parent"]
    step = json.loads(ok(docker_cli(daemon, "image", "inspect", doc["Parent"])))[0]
    assert step["Config"]["Labels"] is None and step["Config"]["Image"].startswith("sha256:")
    graph = doc["GraphDriver"]["Data"]
    assert set(graph) == {"LowerDir", "MergedDir", "UpperDir", "WorkDir"}
    assert len({graph["MergedDir"], graph["WorkDir"], graph["UpperDir"]}) == 3
    assert os.path.isdir(graph["UpperDir"])
