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


# runc's blkio keys (libcontainer/cgroups/fs/blkio.go), and the v1 files they come from: the
# CFQ files when the kernel fills them, else the throttle ones (which have only two).
BLKIO_V1_FILES = {
    "ioServiceBytesRecursive": "io_service_bytes_recursive",
    "ioServicedRecursive": "io_serviced_recursive",
    "ioQueueRecursive": "io_queued_recursive",
    "ioServiceTimeRecursive": "io_service_time_recursive",
    "ioWaitTimeRecursive": "io_wait_time_recursive",
    "ioMergedRecursive": "io_merged_recursive",
    "ioTimeRecursive": "time_recursive",
    "sectorsRecursive": "sectors_recursive",
}
BLKIO_V1_THROTTLE = ("ioServiceBytesRecursive", "ioServicedRecursive")


def blkio_v1_entries(text: str | None) -> list[dict[str, int | str]]:
    """A blkio file as runc's entries: "8:0 Read 4096" -> {major, minor, op, value}; the
    "Total N" summary line is dropped, a line without an op ("8:0 42") has op ""."""
    out: list[dict[str, int | str]] = []
    for line in (text or "").splitlines():
        parts = line.split()
        if len(parts) < 2 or parts[0] == "Total" or ":" not in parts[0]:
            continue
        major, _, minor = parts[0].partition(":")
        op = parts[1] if len(parts) == 3 else ""
        try:
            entry: dict[str, int | str] = {
                "major": int(major), "minor": int(minor), "op": op, "value": int(parts[-1])
            }  # fmt: skip
        except ValueError:
            continue
        out.append(entry)
    return out


def io_v2_entries(text: str | None) -> dict[str, list[dict[str, int | str]]]:
    """io.stat as runc 1.1 reports it: bytes and ios per device, ops "Read" and "Write"."""
    service: list[dict[str, int | str]] = []
    serviced: list[dict[str, int | str]] = []
    for line in (text or "").splitlines():
        parts = line.split()
        if not parts or ":" not in parts[0]:
            continue
        major, _, minor = parts[0].partition(":")
        fields = dict(f.partition("=")[::2] for f in parts[1:])
        dev = {"major": int(major), "minor": int(minor)}
        for key, op, into in (
            ("rbytes", "Read", service), ("wbytes", "Write", service),
            ("rios", "Read", serviced), ("wios", "Write", serviced),
        ):  # fmt: skip
            if key in fields:
                into.append({**dev, "op": op, "value": int(fields[key])})
    out = {}
    if service:
        out["ioServiceBytesRecursive"] = service
    if serviced:
        out["ioServicedRecursive"] = serviced
    return out


def percpu(text: str | None) -> list[int]:
    """cpuacct.usage_percpu: "12 34 ..." -> [12, 34, ...]."""
    return [int(x) for x in (text or "").split()]
