"""Health checks on their own: probes through a fake exec service, the status rules
(starting, healthy, unhealthy after Retries failures, the start period), and events."""

from __future__ import annotations

import asyncio

import pytest
from fakes import FakeExecs, RecordingEvents, Saves, Tasks, bare_container

from wharfie.engine.health import Health, probe_command
from wharfie.engine.lifecycle_state import Move, transition
from wharfie.engine.model import Container, HealthRecord

S = 1_000_000_000


def health(execs: FakeExecs | None = None) -> tuple[Health, RecordingEvents, Saves, Tasks]:
    events, saves, tasks = RecordingEvents(), Saves(), Tasks()
    h = Health(execs=execs or FakeExecs(), index=saves, events=events, tasks=tasks)
    return h, events, saves, tasks


def checked(**hc: object) -> Container:
    return bare_container(Healthcheck={"Test": ["CMD", "true"], **hc})


@pytest.mark.parametrize(
    ("test", "cmd"),
    [
        ([], None),
        (["NONE"], None),
        (["CMD"], None),
        (["CMD", "true", "x"], ["true", "x"]),
        (["CMD-SHELL", "exit", "1"], ["/bin/sh", "-c", "exit 1"]),
        (["curl", "-f"], ["curl", "-f"]),
    ],
)
def test_probe_command(test: list[str], cmd: list[str] | None) -> None:
    assert probe_command(test) == cmd


def test_watch_without_a_check_clears_health_and_spawns_nothing() -> None:
    h, _, _, tasks = health()
    c = bare_container()
    c.health = HealthRecord(status="healthy")
    h.watch(c)
    assert c.health is None and tasks.tasks == []


def test_watch_starts_a_loop_and_stop_cancels_it() -> None:
    async def main() -> None:
        h, _, _, tasks = health()
        c = checked()
        transition(c, Move.START, RecordingEvents(), pid=5)
        h.watch(c)
        assert c.health == HealthRecord(status="starting")
        assert len(tasks.tasks) == 1 and c.health_task is tasks.tasks[0]
        h.stop(c)
        await asyncio.sleep(0)
        assert tasks.tasks[0].cancelled() and c.health_task is None

    asyncio.run(main())


def test_status_goes_healthy_then_unhealthy_after_retries() -> None:
    h, events, saves, _ = health()
    c = checked()
    c.health = HealthRecord()
    for code in (0, 1, 1, 1, 0):
        h._record(c, code, f"out {code}", "2026-01-01T00:00:00Z", retries=3, in_start=False)
    assert events.actions() == [
        "health_status: healthy",
        "health_status: unhealthy",
        "health_status: healthy",
    ]
    assert c.health.status == "healthy" and c.health.failing_streak == 0
    assert [e["ExitCode"] for e in c.health.log] == [0, 1, 1, 1, 0]
    assert len(saves.saved) == 5


def test_only_the_last_five_probes_are_kept_and_output_is_cut() -> None:
    h, _, _, _ = health()
    c = checked()
    c.health = HealthRecord()
    for i in range(7):
        h._record(c, 0, "x" * 5000 if i == 6 else str(i), "t", retries=3, in_start=False)
    assert [e["Output"][:1] for e in c.health.log] == ["2", "3", "4", "5", "x"]
    assert len(c.health.log[-1]["Output"]) == 4096


def test_failures_in_the_start_period_do_not_count() -> None:
    h, events, _, _ = health()
    c = checked()
    c.health = HealthRecord()
    for _ in range(5):
        h._record(c, 1, "", "t", retries=1, in_start=True)
    assert c.health.status == "starting" and c.health.failing_streak == 0
    h._record(c, 1, "", "t", retries=1, in_start=False)
    assert c.health.status == "unhealthy" and events.actions() == ["health_status: unhealthy"]


def test_a_probe_runs_an_exec_and_reads_its_output() -> None:
    async def main() -> tuple[int, str]:
        execs = FakeExecs(output=b"all good\n", code=0)
        h, _, _, _ = health(execs)
        c = checked()
        code, output, _ = await h._probe(c, ["true"], timeout=5)
        assert execs.made[0].body["Cmd"] == ["true"] and execs.made[0].cid == c.id
        return code, output

    assert asyncio.run(main()) == (0, "all good\n")


def test_a_probe_that_does_not_finish_times_out() -> None:
    async def main() -> tuple[int, str]:
        h, _, _, _ = health(FakeExecs(hang=True))
        code, output, _ = await h._probe(checked(), ["sleep"], timeout=0.05)
        return code, output

    assert asyncio.run(main()) == (-1, "Health check exceeded timeout (0.05s)")


def test_the_health_record_shows_in_inspect_and_is_stored() -> None:
    from wharfie.engine import present_container

    c = checked()
    c.health = HealthRecord(status="unhealthy", failing_streak=3, log=[{"ExitCode": 1}])
    doc = present_container.inspect(c)
    assert doc["State"]["Health"] == {
        "Status": "unhealthy",
        "FailingStreak": 3,
        "Log": [{"ExitCode": 1}],
    }
    stored = present_container.stored(c)
    assert "Health" not in stored["State"]
    assert Container.from_stored(stored).health == c.health
