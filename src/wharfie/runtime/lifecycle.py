"""A container after `create`: its status, signals, pause and resume, delete.

`destroy` is what every ending shares (`delete`, a foreground `run` whose process
exited, a failed start): kill what is left in the cgroup, remove the cgroup and the
state directory, run poststop hooks.
"""

from __future__ import annotations

import os

from wharfie import cgroups
from wharfie.errors import FailedPrecondition
from wharfie.oci import jsonio
from wharfie.runtime import state
from wharfie.runtime.state import State

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def frozen(st: State) -> bool:
    try:
        return bool(cgroups.from_paths(st.data["cgroup_paths"]).frozen())
    except OSError:
        return False


def current_status(st: State) -> str:
    status = st.status()
    if status in ("running", "created") and frozen(st):  # runc: a frozen cgroup wins
        return "paused"
    return status


def kill(st: State, sig: int, all_procs: bool = False) -> None:
    status = current_status(st)
    if status == "stopped":
        raise FailedPrecondition("container not running")
    if all_procs:
        for pid in cgroups.from_paths(st.data["cgroup_paths"]).pids():
            _signal_pid(pid, sig)
    else:
        _signal_pid(st.pid, sig)


def _signal_pid(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def delete(st: State, force: bool) -> list[str]:
    """Remove a container; returns poststop hook warnings."""
    status = current_status(st)
    if status in ("running", "paused") and not force:
        raise FailedPrecondition(f"cannot delete container {st.id} that is not stopped: {status}")
    return destroy(st)


def destroy(st: State) -> list[str]:
    cg = cgroups.from_paths(st.data["cgroup_paths"])
    # processes that were in the cgroup before the container (runc 1.1 only warns about
    # them): not ours to kill, and the cgroup is not ours to remove while they live
    foreign = set(st.data.get("foreign_pids") or ())
    warnings = []
    if st.alive():
        _kill_everything(st, cg, foreign)
    try:
        cg.destroy()
    except FailedPrecondition:  # still busy: processes outside the init's pid namespace
        _kill_everything(st, cg, foreign)
        try:
            cg.destroy()
        except FailedPrecondition as exc:
            if not foreign:
                raise
            warnings.append(f"cgroup left in place, it holds processes of others: {exc}")
    state.remove_dir(st.dir)
    poststop = (st.config.get("hooks") or {}).get("poststop")
    if not poststop:
        return warnings
    from wharfie.runtime import hooks

    return warnings + hooks.run_all("poststop", poststop, jsonio.dumps(st.oci_state("stopped")))


def _kill_everything(st: State, cg: Any, foreign: frozenset[int] | set[int] = frozenset()) -> None:
    """SIGKILL the init and every process in the cgroup (except `foreign` ones), thawing it
    so they can die."""
    import time

    pids = [p for p in cg.pids() if p not in foreign] if cg.paths else []
    if st.alive():
        pids.append(st.pid)
    if not pids:
        return
    for pid in pids:
        _signal_pid(pid, 9)
    if cg.frozen():
        cg.thaw()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        _reap_children()
        if not [p for p in cg.pids() if p not in foreign] and not st.alive():
            return
        time.sleep(0.002)
    raise FailedPrecondition(f"processes of container {st.id} did not exit after SIGKILL")


def _reap_children() -> None:
    try:
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
    except ChildProcessError:
        pass


def pause(st: State) -> None:
    status = current_status(st)
    if status not in ("running", "created"):
        raise FailedPrecondition("container not running")
    cgroups.from_paths(st.data["cgroup_paths"]).freeze()


def resume(st: State) -> None:
    if current_status(st) != "paused":
        raise FailedPrecondition("container not paused")
    cgroups.from_paths(st.data["cgroup_paths"]).thaw()
