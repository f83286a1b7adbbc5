"""A container after `create`: start, its status, signals, pause and resume, delete.

`start`, `state`, `kill` and `delete` import this module, not `container` (the create path:
namespaces, mounts, libc through ctypes), so each costs little more than the interpreter.

`destroy` is what every ending shares (`delete`, a foreground `run` whose process
exited, a failed start): kill what is left in the cgroup, remove the cgroup and the
state directory, run poststop hooks.
"""

from __future__ import annotations

import os

from wharfie import cgroups
from wharfie.errors import FailedPrecondition
from wharfie.oci import jsonio
from wharfie.runtime import state, sync
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


def start(st: State) -> list[str]:
    """Let the created container exec its process; returns poststart hook warnings."""
    status = st.status()
    if status == "stopped":
        raise FailedPrecondition("cannot start a container that has stopped")
    if status != "created":
        raise FailedPrecondition(f"cannot start an already {status} container")
    _release_fifo(st)
    return _poststart(st)


def finish_start(st: State, ch: sync.Channel) -> list[str]:
    """`run` of an init that went on from READY by itself: wait until it has exec'd its
    process (its end of the sync channel closes) or says why not; returns poststart hook
    warnings."""
    try:
        tag, payload = ch.recv()
    except sync.PeerGone:
        return _poststart(st)
    finally:
        ch.close()
    raise FailedPrecondition(payload if tag == sync.ERROR else f"unexpected message {tag!r}")


def _poststart(st: State) -> list[str]:
    poststart = (st.config.get("hooks") or {}).get("poststart")
    if not poststart:
        return []
    from wharfie.runtime import hooks

    return hooks.run_all("poststart", poststart, jsonio.dumps(st.oci_state("running")))


def _release_fifo(st: State) -> None:
    """Open the exec fifo: the init sends "0", then an error message or EOF at its execve."""
    try:
        fd = os.open(st.fifo, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise FailedPrecondition("cannot start an already running container") from None
    try:
        _await_release(st, fd)
        os.unlink(st.fifo)
        error = _read_to_eof(fd)
    finally:
        os.close(fd)
    if error:
        raise FailedPrecondition(error.decode(errors="replace"))


def _await_release(st: State, fd: int) -> None:
    """Wait for the init's "0" with a blocking read.

    A writer blocked in open() already counts as the fifo's writer, so the read
    waits for its byte. Only if the init has not reached open() yet (or died) does
    the read see end-of-file at once; then check it is alive and try again.
    """
    import time

    os.set_blocking(fd, True)
    while os.read(fd, 1) != b"0":
        if not st.alive():
            # between that end-of-file and this check the init may have opened the fifo,
            # written its "0", exec'd and exited (a quick process): the byte is still here
            if os.read(fd, 1) == b"0":
                return
            raise FailedPrecondition("cannot start a container that has stopped")
        time.sleep(0.0002)


def _read_to_eof(fd: int) -> bytes:
    out = b""
    while chunk := os.read(fd, 4096):
        out += chunk
    return out
