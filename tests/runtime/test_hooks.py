"""Hooks: order, the state JSON on stdin, env/args, and failures.

Every hook appends its name to one order file: host hooks write to a host directory, the
startContainer hook (run inside the container, after pivot_root) writes to the same
directory through a bind mount at /shared.

Observed with runc 1.1.5:
  after `create`: prestart, createRuntime, createContainer, poststart (runc runs poststart
  during create: opencontainers/runc#1710, fixed upstream only in 2026 by #5186);
  after `start`: startContainer then the process; after `delete`: poststop.
  stdin: createRuntime/prestart {"ociVersion","id","status":"creating","pid":<host pid>,
  "bundle"}; createContainer and startContainer report pid 1 (the container's view);
  poststart status "created"; poststop status "stopped" with no pid.
  A hook's env is exactly its "env" (plus PWD); host hooks run with cwd = the bundle rootfs.
  A failing prestart hook -> create exits 1: "runc create failed: unable to start container
  process: error during container init: error running hook #0: error running hook: exit
  status 3, stdout: , stderr: hook-broke"; a missing hook binary -> "... error running
  hook #0: fork/exec /nonexistent/hook: no such file or directory".
  A failing poststop hook -> `delete` logs "error running hook #0: ..." and exits 0.
  A failing startContainer hook -> the process never runs and the container is stopped,
  but runc's `start` exits 0.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from support.oci_runtime import Container, Runtime

pytestmark = pytest.mark.root

HOST_HOOKS = ("prestart", "createRuntime", "createContainer", "poststart", "poststop")


def hook(script: str, **extra: object) -> dict[str, object]:
    return {"path": "/bin/sh", "args": ["sh", "-c", script], **extra}


def install_hooks(ctr: Container) -> Path:
    """Record every hook in <shared>/order, stdin in <shared>/<name>.json; return shared."""
    shared = ctr.shared_dir()
    hooks: dict[str, list[dict[str, object]]] = {
        name: [hook(f"cat > {shared}/{name}.json; echo {name} >> {shared}/order")]
        for name in HOST_HOOKS
    }
    hooks["startContainer"] = [
        hook("cat > /shared/startContainer.json; echo startContainer >> /shared/order")
    ]
    ctr.spec["hooks"] = hooks
    ctr.sh("echo process >> /shared/order")
    return shared


def order(shared: Path, drop: tuple[str, ...] = ()) -> list[str]:
    path = shared / "order"
    names = path.read_text().split() if path.exists() else []
    return [n for n in names if n not in drop]


def test_hook_order_across_the_lifecycle(ctr: Container) -> None:
    shared = install_hooks(ctr)
    ctr.create().check()
    created = order(shared, drop=("poststart",))
    assert sorted(created) == ["createContainer", "createRuntime", "prestart"], created
    assert created[-1] == "createContainer", created
    ctr.start().check()
    assert ctr.wait_status("stopped") == "stopped"
    started = order(shared, drop=("poststart",))
    assert started[3:] == ["startContainer", "process"], started
    assert "poststart" in order(shared)
    assert "poststop" not in order(shared)
    ctr.delete().check()
    final = order(shared)
    assert final[-1] == "poststop", final
    assert final.count("poststop") == 1 and final.count("poststart") == 1, final


def test_hooks_get_the_state_on_stdin(ctr: Container) -> None:
    shared = install_hooks(ctr)
    ctr.create().check()
    ctr.start().check()
    assert ctr.wait_status("stopped") == "stopped"
    ctr.delete().check()
    for name in (*HOST_HOOKS, "startContainer"):
        state = json.loads((shared / f"{name}.json").read_text())
        assert state["id"] == ctr.id, (name, state)
        assert state["ociVersion"], (name, state)
        assert state["status"] in ("creating", "created", "running", "stopped"), (name, state)
        if name != "startContainer":  # inside the container the host path means nothing
            assert Path(state["bundle"]).resolve() == ctr.bundle.resolve(), (name, state)
    for name in ("prestart", "createRuntime"):
        state = json.loads((shared / f"{name}.json").read_text())
        assert state["status"] == "creating", (name, state)
        assert state["pid"] > 0
    assert json.loads((shared / "poststop.json").read_text())["status"] == "stopped"


def test_poststart_runs_after_start(ctr: Container) -> None:
    if ctr.rt.name == "runc":
        pytest.skip(
            "runc <= 1.4 runs poststart hooks during create, before start "
            "(opencontainers/runc#1710, fixed by #5186)"
        )
    shared = install_hooks(ctr)
    ctr.create().check()
    assert "poststart" not in order(shared), "poststart ran before start"
    ctr.start().check()
    assert ctr.wait_status("stopped") == "stopped"
    full = order(shared)
    assert full.index("poststart") > full.index("startContainer"), full


def test_hook_args_and_env(ctr: Container) -> None:
    out = ctr.bundle / "hook.out"
    ctr.spec["hooks"] = {
        "createRuntime": [
            {
                "path": "/bin/sh",
                "args": [
                    "hook-argv0",
                    "-c",
                    f'echo "$(head -c 10 /proc/$$/cmdline)|$HOOKVAR|$0|$1" > {out}',
                    "zero",
                    "one",
                ],
                "env": ["HOOKVAR=hook-env-value"],
            }
        ]
    }
    ctr.set_args("true")
    ctr.create().check()
    assert out.read_text().strip() == "hook-argv0|hook-env-value|zero|one"


def test_hooks_run_with_foreground_run(ctr: Container) -> None:
    shared = install_hooks(ctr)
    ctr.run().check()
    final = order(shared)
    assert final[-1] == "poststop", final
    assert "startContainer" in final and "process" in final


def assert_nothing_started(rt: Runtime, ctr: Container, shared: Path | None = None) -> None:
    assert ctr.status() is None, "the failed container is still known to the runtime"
    assert not (rt.root / ctr.id).exists()
    if shared is not None:
        assert "process" not in order(shared)


@pytest.mark.parametrize("kind", ["prestart", "createRuntime", "createContainer"])
def test_failing_create_hook_fails_create(ctr: Container, kind: str) -> None:
    shared = ctr.shared_dir()
    ctr.spec["hooks"] = {kind: [hook("echo hook-broke >&2; exit 3")]}
    ctr.sh("echo process >> /shared/order")
    res = ctr.create().fails()
    assert re.search(r"hook", res.stderr, re.I), res.describe()
    assert_nothing_started(ctr.rt, ctr, shared)


def test_missing_hook_binary_fails_create(ctr: Container) -> None:
    ctr.spec["hooks"] = {"createRuntime": [{"path": "/nonexistent/hook"}]}
    res = ctr.create().fails()
    assert re.search(r"no such file|not found|/nonexistent/hook", res.stderr), res.describe()
    assert_nothing_started(ctr.rt, ctr)


def test_failing_start_container_hook_prevents_the_process(ctr: Container) -> None:
    shared = ctr.shared_dir()
    ctr.spec["hooks"] = {"startContainer": [hook("exit 4")]}
    ctr.sh("echo process >> /shared/order")
    ctr.create().check()
    ctr.start()
    assert ctr.wait_status("stopped") == "stopped"
    assert "process" not in order(shared)


def test_failing_start_container_hook_fails_start(ctr: Container) -> None:
    if ctr.rt.name == "runc":
        pytest.skip("runc 1.1 reports success from `start` when a startContainer hook fails")
    ctr.spec["hooks"] = {"startContainer": [hook("exit 4")]}
    ctr.set_args("true")
    ctr.create().check()
    res = ctr.start().fails()
    assert re.search(r"hook", res.stderr, re.I), res.describe()


def test_failing_poststop_hook_does_not_fail_delete(ctr: Container) -> None:
    ctr.spec["hooks"] = {"poststop": [hook("exit 4")]}
    ctr.set_args("true")
    ctr.create().check()
    ctr.start().check()
    assert ctr.wait_status("stopped") == "stopped"
    ctr.delete().check()
    assert ctr.status() is None
