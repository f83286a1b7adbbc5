"""The monitor's state files (monitor/adopt.py): the running state written at start, the
exit in a file of its own, one state per container when a new worker reads them back."""

from __future__ import annotations

import os
from pathlib import Path

from wharfie.monitor import adopt


def _state(cid: str, **kw: object) -> adopt.State:
    base: dict[str, object] = {
        "id": cid,
        "pid": 42,
        "start_time": "123",
        "tty": False,
        "want_stdin": False,
        "stdin_once": False,
        "log_path": None,
        "log_max_size": 0,
        "log_max_file": 1,
        "started_at": 1.5,
    }
    base.update(kw)
    return adopt.State(**base)  # type: ignore[arg-type]


def test_the_exit_is_written_beside_the_running_state_and_wins(tmp_path: Path) -> None:
    root = str(tmp_path)
    adopt.save(root, _state("c1"))
    adopt.save(root, _state("c1", status="exited", exit_code=3, finished_at=2.5))
    files = sorted(os.listdir(tmp_path / adopt.STATE_DIR))
    assert files == ["c1.exited.json", "c1.json"]  # a new name: nothing renamed over
    (st,) = adopt.load_all(root)
    assert (st.status, st.exit_code, st.finished_at) == ("exited", 3, 2.5)


def test_running_only_and_remove_takes_both(tmp_path: Path) -> None:
    root = str(tmp_path)
    adopt.save(root, _state("run"))
    adopt.save(root, _state("ex", container_id="run"))
    adopt.save(root, _state("ex", container_id="run", status="exited", exit_code=0))
    by_id = {s.id: s for s in adopt.load_all(root)}
    assert by_id["run"].status == "running"
    assert by_id["ex"].status == "exited" and by_id["ex"].container_id == "run"
    adopt.remove(root, "ex")
    adopt.remove(root, "run")
    adopt.remove(root, "never-saved")  # idempotent
    assert os.listdir(tmp_path / adopt.STATE_DIR) == []


def test_a_new_start_voids_an_exit_nobody_forgot(tmp_path: Path) -> None:
    root = str(tmp_path)
    adopt.save(root, _state("c"))
    adopt.save(root, _state("c", status="exited", exit_code=1))
    adopt.save(root, _state("c", pid=77))  # started again
    (st,) = adopt.load_all(root)
    assert (st.status, st.pid) == ("running", 77)


def test_an_exit_record_cut_short_leaves_the_running_state(tmp_path: Path) -> None:
    root = str(tmp_path)
    adopt.save(root, _state("c"))
    adopt.save(root, _state("c", status="exited", exit_code=9))
    path = adopt.exit_path(root, "c")
    whole = Path(path).read_bytes()
    for cut in (0, 1, len(whole) // 2, len(whole) - 1):  # a crash in the middle of the write
        Path(path).write_bytes(whole[:cut])
        (st,) = adopt.load_all(root)
        assert st.status == "running"
        assert not os.path.exists(path)


def test_temp_and_unreadable_files_are_dropped(tmp_path: Path) -> None:
    root = str(tmp_path)
    adopt.save(root, _state("ok"))
    d = tmp_path / adopt.STATE_DIR
    (d / "ok.exited.json.99.tmp").write_text("{")
    (d / "bad.exited.json").write_text("{not json")
    assert [s.id for s in adopt.load_all(root)] == ["ok"]
    assert sorted(os.listdir(d)) == ["ok.json"]


class _Loop:
    """What WardenLink asks of the monitor's loop: timers (flushes) and read callbacks."""

    def __init__(self) -> None:
        self.timers: list[object] = []
        self.cbs: dict[int, object] = {}

    def later(self, delay: float, cb: object) -> None:
        self.timers.append(cb)

    def set_read(self, fd: int, cb: object) -> None:
        self.cbs[fd] = cb

    def watch(self, fd: int) -> None:
        self.cbs.pop(fd, None)


def test_holds_and_drops_leave_in_one_message_at_the_end_of_the_iteration(
    tmp_path: Path,
) -> None:
    import socket

    from wharfie.monitor import protocol
    from wharfie.monitor.warden import Warden

    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    loop = _Loop()
    link = adopt.WardenLink(loop, ours.detach(), lambda pid, status: None)  # type: ignore[arg-type]
    pipes = [os.pipe() for _ in range(5)]
    for i, (r, _w) in enumerate(pipes):
        link.hold("k", f"role{i}", r)
    link.drop("k", "role1")
    for r, _w in pipes:
        os.close(r)  # the numbers may be reused now: the link holds duplicates
    assert len(loop.timers) == 1  # one flush armed, nothing sent yet
    theirs.setblocking(False)
    try:
        theirs.recv(10)
        raise AssertionError("sent before the flush")
    except BlockingIOError:
        pass
    link.flush()
    warden = Warden(str(tmp_path), -1, lambda fd, holds: None)
    messages = 0
    while True:
        try:
            data, fds = protocol.recv_fds(theirs, socket.MSG_DONTWAIT)
        except BlockingIOError:
            break
        messages += 1
        warden._handle(protocol.decode(data), fds)
    assert messages == 2  # five holds: four fds fit in one message
    assert sorted(warden.holds["k"]) == ["role0", "role2", "role3", "role4"]
    for i, fd in warden.holds["k"].items():  # each is the read end of its own pipe
        os.write(pipes[int(i[-1])][1], b"x")
        assert os.read(fd, 1) == b"x"
    for fd in warden.holds["k"].values():
        os.close(fd)
    for _r, w in pipes:
        os.close(w)
    os.close(warden.wake_r)
    os.close(warden.wake_w)
    theirs.close()
