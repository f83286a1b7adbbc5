"""Parsers for the statistics files of both cgroup versions (pure)."""

from __future__ import annotations

UNLIMITED_V1 = 1 << 62  # v1 reports "no limit" as PAGE_COUNTER_MAX * page size (~2**63)


def flat_keyed(text: str | None) -> dict[str, int]:
    """ "key value" lines (cpu.stat, memory.stat, memory.events, oom_control) -> dict."""
    out: dict[str, int] = {}
    for line in (text or "").splitlines():
        key, _, value = line.partition(" ")
        try:
            out[key] = int(value)
        except ValueError:
            continue  # not a number (none in these files today)
    return out


def number(text: str | None) -> int | None:
    """A single-number file; None when absent (or empty)."""
    if text is None or not text.strip():
        return None
    return int(text.strip())


def limit(text: str | None) -> int | None:
    """A limit file: None when absent or unlimited ("max" on v2, ~2**63 on v1)."""
    if text is None or text.strip() in ("max", ""):
        return None
    value = int(text.strip())
    return None if value >= UNLIMITED_V1 else value


def blkio_v1_bytes(text: str | None) -> dict[str, int]:
    """blkio.throttle.io_service_bytes(_recursive): "8:0 Read 4096" lines -> totals."""
    totals = {"read_bytes": 0, "write_bytes": 0}
    for line in (text or "").splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in ("Read", "Write"):
            totals[parts[1].lower() + "_bytes"] += int(parts[2])
    return totals


def io_v2_bytes(text: str | None) -> dict[str, int]:
    """io.stat: "8:0 rbytes=1 wbytes=2 rios=3 ..." lines -> totals."""
    totals = {"read_bytes": 0, "write_bytes": 0}
    names = {"rbytes": "read_bytes", "wbytes": "write_bytes"}
    for line in (text or "").splitlines():
        for field in line.split()[1:]:
            key, _, value = field.partition("=")
            if key in names:
                totals[names[key]] += int(value)
    return totals
