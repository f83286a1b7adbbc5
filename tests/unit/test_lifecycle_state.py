"""The container state machine: every move from every phase, legal or refused, with the
state it leaves, the events it emits, and dockerd's wording for what it refuses."""

from __future__ import annotations

import pytest
from fakes import RecordingEvents

from wharfie.engine.lifecycle_state import (
    LEGAL,
    NEVER,
    Move,
    Phase,
    State,
    check,
    notify,
    phase,
    transition,
)
from wharfie.engine.model import Container
from wharfie.errors import Conflict

CID = "c" * 64
STARTED = "2026-01-01T00:00:00.5Z"


def state_in(p: Phase) -> State:
    return {
        Phase.CREATED: State(),
        Phase.RUNNING: State(status="running", running=True, pid=7, started_at=STARTED),
        Phase.PAUSED: State(status="paused", running=True, paused=True, pid=7, started_at=STARTED),
        Phase.RESTARTING: State(
            status="restarting", restarting=True, exit_code=1, started_at=STARTED
        ),
        Phase.EXITED: State(status="exited", exit_code=3, started_at=STARTED),
        Phase.REMOVING: State(status="exited", removing=True, started_at=STARTED),
        Phase.DEAD: State(status="dead", dead=True, started_at=STARTED),
    }[p]


def container(s: State) -> Container:
    c = Container(
        id=CID,
        name="/web",
        created=STARTED,
        path="sh",
        args=[],
        doc={"Config": {"Image": "busybox", "Labels": {"l": "v"}}, "HostConfig": {}},
        state=s,
    )
    c.started_once = s.started_at != NEVER
    return c


# (phase, move) -> (phase after, events) for every legal move; anything not here is refused.
ATTRS = {"name": "web", "image": "busybox", "l": "v"}
LEGAL_MOVES: dict[tuple[Phase, Move], tuple[Phase, list[str]]] = {
    (Phase.CREATED, Move.CREATE): (Phase.CREATED, ["create"]),
    (Phase.CREATED, Move.START): (Phase.RUNNING, ["start"]),
    (Phase.EXITED, Move.START): (Phase.RUNNING, ["start"]),
    (Phase.RESTARTING, Move.START): (Phase.RUNNING, ["start"]),
    (Phase.CREATED, Move.START_FAILED): (Phase.CREATED, ["die"]),
    (Phase.EXITED, Move.START_FAILED): (Phase.EXITED, ["die"]),
    (Phase.RESTARTING, Move.START_FAILED): (Phase.EXITED, ["die"]),
    (Phase.REMOVING, Move.START_FAILED): (Phase.REMOVING, ["die"]),
    (Phase.RUNNING, Move.EXIT): (Phase.EXITED, ["die"]),
    (Phase.PAUSED, Move.EXIT): (Phase.EXITED, ["die"]),
    (Phase.REMOVING, Move.EXIT): (Phase.REMOVING, ["die"]),
    (Phase.RUNNING, Move.PAUSE): (Phase.PAUSED, ["pause"]),
    (Phase.PAUSED, Move.UNPAUSE): (Phase.RUNNING, ["unpause"]),
    (Phase.EXITED, Move.RESTARTING): (Phase.RESTARTING, []),
    (Phase.RESTARTING, Move.RESTART_CANCELLED): (Phase.EXITED, []),
    (Phase.REMOVING, Move.REMOVE_FAILED): (Phase.EXITED, []),
    (Phase.REMOVING, Move.DESTROY): (Phase.REMOVING, ["destroy"]),
    (Phase.RUNNING, Move.FROZEN): (Phase.PAUSED, []),
    (Phase.PAUSED, Move.THAWED): (Phase.RUNNING, []),
}
for _p in (Phase.CREATED, Phase.RUNNING, Phase.PAUSED, Phase.RESTARTING, Phase.EXITED):
    LEGAL_MOVES[(_p, Move.REMOVE_FORCED)] = (Phase.REMOVING, [])
    LEGAL_MOVES[(_p, Move.LOST)] = (Phase.EXITED, [])
    LEGAL_MOVES[(_p, Move.ADOPT)] = (Phase.PAUSED if _p is Phase.PAUSED else Phase.RUNNING, [])
for _p in (Phase.CREATED, Phase.EXITED, Phase.DEAD):
    LEGAL_MOVES[(_p, Move.REMOVE)] = (Phase.REMOVING, [])
LEGAL_MOVES[(Phase.DEAD, Move.REMOVE_FORCED)] = (Phase.REMOVING, [])

ALL = [(p, m) for p in Phase for m in Move]


def test_every_phase_is_reachable_by_the_fixtures() -> None:
    assert [phase(state_in(p)) for p in Phase] == list(Phase)


def test_the_table_is_the_one_spelled_out_here() -> None:
    table = {(p, m) for m, phases in LEGAL.items() for p in phases}
    assert table == set(LEGAL_MOVES)


@pytest.mark.parametrize(("now", "move"), ALL, ids=[f"{p.value}-{m.value}" for p, m in ALL])
def test_each_move_from_each_phase(now: Phase, move: Move) -> None:
    c = container(state_in(now))
    events = RecordingEvents()
    before = State(**vars(c.state))
    if (now, move) not in LEGAL_MOVES:
        with pytest.raises(Conflict):
            check(c, move)
        with pytest.raises(Conflict):
            transition(c, move, events, pid=9, code=2)
        assert c.state == before, "a refused move changed the state"
        assert events.seen == []
        return
    transition(c, move, events, pid=9, code=2)
    after, emitted = LEGAL_MOVES[(now, move)]
    assert phase(c.state) is after
    assert events.actions() == emitted
    for kind, _action, actor, attrs in events.seen:
        assert (kind, actor) == ("container", CID)
        assert {k: attrs[k] for k in ATTRS} == ATTRS


def test_start_records_the_run() -> None:
    c = container(state_in(Phase.EXITED))
    c.state.error, c.state.oom_killed = "old", True
    transition(c, Move.START, RecordingEvents(), pid=42)
    s = c.state
    assert (s.status, s.running, s.pid, s.exit_code, s.error, s.oom_killed) == (
        "running",
        True,
        42,
        0,
        "",
        False,
    )
    assert s.started_at != STARTED and c.started_once


def test_exit_records_code_oom_and_time_and_says_oom_before_die() -> None:
    c = container(state_in(Phase.RUNNING))
    events = RecordingEvents()
    transition(c, Move.EXIT, events, code=137, oom=True, finished="2026-01-02T00:00:00Z")
    s = c.state
    assert (s.status, s.running, s.pid, s.exit_code, s.oom_killed) == (
        "exited",
        False,
        0,
        137,
        True,
    )
    assert s.finished_at == "2026-01-02T00:00:00Z"
    assert events.actions() == ["oom", "die"]
    assert events.seen[1][3]["exitCode"] == "137"


def test_a_failed_first_start_stays_created_a_later_one_is_exited() -> None:
    first = container(State())
    transition(first, Move.START_FAILED, RecordingEvents(), code=127, error="no such file")
    assert (first.state.status, first.state.exit_code, first.state.error) == (
        "created",
        127,
        "no such file",
    )
    later = container(state_in(Phase.EXITED))
    events = RecordingEvents()
    transition(later, Move.START_FAILED, events, code=128, error="boom")
    assert later.state.status == "exited"
    assert events.seen[0][3]["exitCode"] == "128"


def test_lost_is_exit_255_without_events() -> None:
    c = container(state_in(Phase.RUNNING))
    events = RecordingEvents()
    transition(c, Move.LOST, events)
    assert (c.state.status, c.state.exit_code, c.state.running) == ("exited", 255, False)
    assert events.seen == []


def test_adopt_of_a_running_container_only_takes_the_pid() -> None:
    c = container(state_in(Phase.PAUSED))
    transition(c, Move.ADOPT, RecordingEvents(), pid=77)
    assert (c.state.pid, c.state.paused, c.state.started_at) == (77, True, STARTED)


def test_a_forced_removal_cancels_a_pending_restart() -> None:
    c = container(state_in(Phase.RESTARTING))
    transition(c, Move.REMOVE_FORCED, RecordingEvents())
    assert (c.state.restarting, c.state.status, c.removing) == (False, "exited", True)


@pytest.mark.parametrize(
    ("now", "move", "message"),
    [
        # dockerd's words (daemon/start.go, pause.go, unpause.go, delete.go, errors.go)
        (Phase.PAUSED, Move.START, "cannot start a paused container, try unpause instead"),
        (Phase.REMOVING, Move.START, "container is marked for removal and cannot be started"),
        (Phase.DEAD, Move.START, "container is marked for removal and cannot be started"),
        (Phase.CREATED, Move.PAUSE, f"Container {CID} is not running"),
        (Phase.EXITED, Move.PAUSE, f"Container {CID} is not running"),
        (Phase.PAUSED, Move.PAUSE, f"Container {CID} is already paused"),
        (
            Phase.RESTARTING,
            Move.PAUSE,
            f"Container {CID} is restarting, wait until the container is running",
        ),
        (Phase.RUNNING, Move.UNPAUSE, f"Container {CID} is not paused"),
        (Phase.EXITED, Move.UNPAUSE, f"Container {CID} is not paused"),
        (Phase.REMOVING, Move.REMOVE, "removal of container web is already in progress"),
        (
            Phase.RUNNING,
            Move.REMOVE,
            'cannot remove container "/web": container is running: stop the container '
            "before removing or force remove",
        ),
        (
            Phase.RESTARTING,
            Move.REMOVE,
            f"You cannot remove a restarting container {CID}. Stop the container before "
            "attempting removal or force remove",
        ),
        (
            Phase.PAUSED,
            Move.REMOVE,
            f"You cannot remove a paused container {CID}. Unpause and then stop the "
            "container before attempting removal or force remove",
        ),
    ],
)
def test_refusals_in_dockerds_words(now: Phase, move: Move, message: str) -> None:
    c = container(state_in(now))
    with pytest.raises(Conflict) as err:
        transition(c, move, RecordingEvents(), ref="web")
    assert str(err.value) == message


def test_state_round_trips_through_its_document() -> None:
    s = State(
        status="exited",
        oom_killed=True,
        exit_code=137,
        error="e",
        started_at=STARTED,
        finished_at="2026-01-01T00:00:01Z",
    )
    assert State.from_doc(s.to_doc()) == s
    assert list(s.to_doc()) == [
        "Status",
        "Running",
        "Paused",
        "Restarting",
        "OOMKilled",
        "Dead",
        "Pid",
        "ExitCode",
        "Error",
        "StartedAt",
        "FinishedAt",
    ]
    assert "removing" not in str(s.to_doc()).lower()


def test_notify_sends_extra_attributes_and_changes_nothing() -> None:
    c = container(state_in(Phase.RUNNING))
    events = RecordingEvents()
    notify(c, "kill", events, signal="9")
    assert events.seen == [("container", "kill", CID, {**ATTRS, "signal": "9"})]
    assert c.state == state_in(Phase.RUNNING)
