"""exec and attach: create/start/inspect, stream framing, errors inside streams, exit codes."""

from __future__ import annotations

import harness
from harness import Side
from test_containers import BB, sleeper


def test_exec(differ) -> None:
    def s(d: Side) -> None:
        sleeper(d, "ex1")
        d.raw("POST", "/containers/create?name=ex2", BB)
        d.call("create-not-running", "POST", "/containers/ex2/exec", {"Cmd": ["true"]})
        d.call("create-missing", "POST", "/containers/nosuch/exec", {"Cmd": ["true"]})
        d.call("create-no-cmd", "POST", "/containers/ex1/exec", {})
        d.call("create-empty-body", "POST", "/containers/ex1/exec", b"")
        d.call("create-cmd-number", "POST", "/containers/ex1/exec", {"Cmd": 1})
        d.call("create-tty-string", "POST", "/containers/ex1/exec", {"Cmd": ["true"], "Tty": "y"})
        d.call("create-env-string", "POST", "/containers/ex1/exec", {"Cmd": ["true"], "Env": "A"})
        d.call(
            "create-bad-keys",
            "POST",
            "/containers/ex1/exec",
            {"Cmd": ["true"], "DetachKeys": "ctrl-"},
        )
        d.call(
            "create-relative-wd",
            "POST",
            "/containers/ex1/exec",
            {"Cmd": ["true"], "WorkingDir": "rel"},
        )
        d.call("inspect-missing", "GET", "/exec/nosuch/json")
        d.call("start-missing", "POST", "/exec/nosuch/start", {"Detach": True})
        d.call("resize-missing", "POST", "/exec/nosuch/resize?h=1&w=1")
        runs = {
            "mux": (
                {
                    "Cmd": ["sh", "-c", "echo o; sleep 0.1; echo e >&2; exit 3"],
                    "AttachStdout": True,
                    "AttachStderr": True,
                },
                {},
            ),
            "tty": (
                {"Cmd": ["sh", "-c", "echo o; exit 4"], "AttachStdout": True, "Tty": True},
                {"Tty": True},
            ),
            # The stream's framing follows the start request's Tty, the terminal the create's.
            "tty-create-plain-start": (
                {"Cmd": ["sh", "-c", "echo o; exit 5"], "AttachStdout": True, "Tty": True},
                {},
            ),
            "plain-create-tty-start": (
                {
                    "Cmd": ["sh", "-c", "echo o; echo e >&2"],
                    "AttachStdout": True,
                    "AttachStderr": True,
                },
                {"Tty": True},
            ),
            "lowercase": ({"cmd": ["sh", "-c", "echo low"], "attachstdout": True}, {}),
            "stdin": ({"Cmd": ["cat"], "AttachStdin": True, "AttachStdout": True}, {}),
            "missing-binary": (
                {"Cmd": ["/nosuch"], "AttachStdout": True, "AttachStderr": True},
                {},
            ),
            "missing-in-path": (
                {"Cmd": ["nosuchcmd"], "AttachStdout": True, "AttachStderr": True},
                {},
            ),
            "not-executable": (
                {"Cmd": ["/etc/passwd"], "AttachStdout": True, "AttachStderr": True},
                {},
            ),
            "directory": ({"Cmd": ["/etc"], "AttachStdout": True, "AttachStderr": True}, {}),
        }
        for label, (create, start) in runs.items():
            eid = d.json("POST", "/containers/ex1/exec", create)["Id"]
            d.call(
                f"{label}-start",
                "POST",
                f"/exec/{eid}/start",
                start,
                kind="stream",
                upgrade=True,
                stdin=b"in\n" if label == "stdin" else b"",
            )
            obs = d.json("GET", f"/exec/{eid}/json")
            d.note(f"{label}-inspect", {k: obs[k] for k in ("Running", "ExitCode")})
            d.call(f"{label}-start-again", "POST", f"/exec/{eid}/start", {"Detach": True})
        eid = d.json("POST", "/containers/ex1/exec", {"Cmd": ["sleep", "0.2"]})["Id"]
        d.call("detach-start", "POST", f"/exec/{eid}/start", {"Detach": True}, kind="text")
        d.call("detach-start-bad-body", "POST", f"/exec/{eid}/start", {"Detach": "yes"})
        d.call("exec-inspect", "GET", f"/exec/{eid}/json")

    differ(s)


def test_attach_and_wait(differ) -> None:
    def s(d: Side) -> None:
        body = {**BB, "Cmd": ["sh", "-c", "echo a1; sleep 0.1; echo a2 >&2"]}
        d.raw("POST", "/containers/create?name=at1", body)
        d.raw("POST", "/containers/create?name=at2", {**body, "Tty": True})
        for n in ("at1", "at2"):
            d.raw("POST", f"/containers/{n}/start")
            d.raw("POST", f"/containers/{n}/wait")
        d.call(
            "attach-logs",
            "POST",
            "/containers/at1/attach?logs=1&stdout=1&stderr=1",
            kind="stream",
            upgrade=True,
            stdin=b"",
        )
        d.call(
            "attach-logs-tty",
            "POST",
            "/containers/at2/attach?logs=1&stdout=1",
            kind="stream",
            upgrade=True,
            stdin=b"",
        )
        d.call("attach-missing", "POST", "/containers/nosuch/attach?stream=1&stdout=1")
        d.call("attach-bad-keys", "POST", "/containers/at1/attach?stream=1&detachKeys=ctrl-")
        d.raw(
            "POST",
            "/containers/create?name=at3",
            {
                **BB,
                "Cmd": ["cat"],
                "OpenStdin": True,
                "StdinOnce": True,
                "AttachStdin": True,
                "AttachStdout": True,
            },
        )
        import threading

        result: dict[str, object] = {}

        def attach() -> None:
            result["r"] = d.raw(
                "POST",
                "/containers/at3/attach?stream=1&stdin=1&stdout=1",
                upgrade=True,
                stdin=b"hello\n",
                timeout=10,
            )

        t = threading.Thread(target=attach)
        t.start()
        import time

        time.sleep(0.3)
        d.raw("POST", "/containers/at3/start")
        t.join(15)
        reply = result.get("r")
        d.note(
            "attach-before-start",
            [getattr(reply, "status", None), harness.demux(getattr(reply, "body", b""))],
        )
        d.call("wait-created", "POST", "/containers/at3/wait?condition=not-running", timeout=5)

    differ(s)


def test_archive(differ) -> None:
    def s(d: Side) -> None:
        d.raw("POST", "/containers/create?name=ar1", {**BB, "Cmd": ["true"]})
        d.call("head-missing-path", "HEAD", "/containers/ar1/archive?path=/nosuch", kind="none")
        d.call("head", "HEAD", "/containers/ar1/archive?path=/etc", kind="none")
        d.call("get-missing-path", "GET", "/containers/ar1/archive?path=/nosuch")
        d.call("get-no-path", "GET", "/containers/ar1/archive")
        d.call("get-missing-container", "GET", "/containers/nosuch/archive?path=/")
        d.call("get", "GET", "/containers/ar1/archive?path=/etc/hostname", kind="tar")
        d.call("get-nul", "GET", "/containers/ar1/archive?path=/etc%00x")
        import io
        import tarfile

        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            info = tarfile.TarInfo("hello.txt")
            info.size = 2
            tar.addfile(info, io.BytesIO(b"hi"))
        data = buf.getvalue()
        hdr = {"Content-Type": "application/x-tar"}
        d.call("put", "PUT", "/containers/ar1/archive?path=/tmp", data, kind="none", headers=hdr)
        d.call("put-missing-dir", "PUT", "/containers/ar1/archive?path=/nosuch", data, headers=hdr)
        d.call("put-not-dir", "PUT", "/containers/ar1/archive?path=/etc/passwd", data, headers=hdr)
        d.call("put-garbage", "PUT", "/containers/ar1/archive?path=/tmp", b"x" * 1024, headers=hdr)
        d.call("put-no-path", "PUT", "/containers/ar1/archive", data, headers=hdr)
        d.call("head-put-file", "HEAD", "/containers/ar1/archive?path=/tmp/hello.txt", kind="none")
        d.call("changes", "GET", "/containers/ar1/changes")

    differ(s)
