"""go-units formatting and parsing, docker timestamps, stats arithmetic."""

import pytest

from wharfie.cli.stats import StatsRow, cpu_percent, mem_usage
from wharfie.cli.units import (
    bytes_size,
    go_duration,
    human_duration,
    human_size,
    ram_in_bytes,
    tabulate,
    timestamp,
)
from wharfie.errors import InvalidArgument


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.5, "Less than a second"),
        (1, "1 second"),
        (45, "45 seconds"),
        (90, "About a minute"),
        (150, "2 minutes"),
        (3600, "About an hour"),
        (5 * 3600, "5 hours"),
        (3 * 86400, "3 days"),
        (20 * 86400, "2 weeks"),
        (90 * 86400, "3 months"),
        (800 * 86400, "2 years"),
    ],
)
def test_human_duration(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


def test_sizes() -> None:
    assert human_size(2_100_000, 3) == "2.1MB"
    assert human_size(0, 3) == "0B"
    assert human_size(1234, 3) == "1.23kB"
    assert bytes_size(1536 * 1024) == "1.5MiB"
    assert bytes_size(512) == "512B"


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("64m", 64 << 20),
        ("1g", 1 << 30),
        ("512k", 512 << 10),
        ("1024", 1024),
        ("2GiB", 2 << 30),
        ("1.5g", 3 << 29),
    ],
)
def test_ram_in_bytes(text: str, value: int) -> None:
    assert ram_in_bytes(text) == value


def test_ram_in_bytes_rejects_garbage() -> None:
    with pytest.raises(InvalidArgument):
        ram_in_bytes("lots")


def test_durations_and_timestamps() -> None:
    assert go_duration("1h30m") == 5400
    assert go_duration("1.5s") == 1.5
    with pytest.raises(InvalidArgument):
        go_duration("10x")
    assert timestamp("10m", now=1000.0) == "400.000000000"
    assert timestamp("1700000000") == "1700000000"
    assert timestamp("2024-01-01T00:00:00Z") == "1704067200.000000000"


def test_tabulate_matches_tabwriter() -> None:
    assert (
        tabulate([["A", "BB"], ["CCCCCCCCCCCC", "D"]]) == "A" + " " * 14 + "BB\nCCCCCCCCCCCC   D\n"
    )


STATS = {
    "id": "abcdef0123456789",
    "name": "/web",
    "cpu_stats": {"cpu_usage": {"total_usage": 300}, "system_cpu_usage": 2000, "online_cpus": 2},
    "precpu_stats": {"cpu_usage": {"total_usage": 100}, "system_cpu_usage": 1000},
    "memory_stats": {
        "usage": 10 << 20,
        "limit": 100 << 20,
        "stats": {"total_inactive_file": 2 << 20},
    },
    "networks": {"eth0": {"rx_bytes": 1000, "tx_bytes": 2000}},
    "blkio_stats": {
        "io_service_bytes_recursive": [
            {"op": "Read", "value": 4096},
            {"op": "Write", "value": 8192},
        ]
    },
    "pids_stats": {"current": 3},
}


def test_stats_row() -> None:
    assert cpu_percent(STATS) == pytest.approx(40.0)
    assert mem_usage(STATS) == 8 << 20
    row = StatsRow("web", STATS)
    assert row.CPUPerc == "40.00%"
    assert row.MemUsage == "8MiB / 100MiB"
    assert row.MemPerc == "8.00%"
    assert row.NetIO == "1kB / 2kB"
    assert row.BlockIO == "4.1kB / 8.19kB"
    assert row.PIDs == "3"
    assert row.Name == "web"


def test_stats_v2_inactive_file_and_no_delta() -> None:
    s = {"memory_stats": {"usage": 100, "stats": {"inactive_file": 40}}}
    assert mem_usage(s) == 60
    assert cpu_percent(s) == 0.0
