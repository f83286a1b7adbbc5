"""Reading json-file logs back: whole records (fast path), lines, the last N lines, follow."""

from __future__ import annotations

import os
import time
from collections import deque
from functools import partial
from itertools import repeat
from typing import NamedTuple

from wharfie.logs.writer import parse_time
from wharfie.oci.jsonio import loads

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

Record = tuple[str, bytes, int]
_BLOCK = 1 << 18


class Entry(NamedTuple):
    """One output line (with its newline) or a final partial line."""

    stream: str
    data: bytes
    time_ns: int


_new_entry = partial(tuple.__new__, Entry)  # Entry._make without its Python frame


def _files(path: str) -> list[str]:
    """The rotated files, oldest first, then `path` itself."""
    rotated = []
    i = 1
    while os.path.exists(f"{path}.{i}"):
        rotated.append(f"{path}.{i}")
        i += 1
    rotated.reverse()
    return [*rotated, path] if os.path.exists(path) else rotated


def _decode(line: bytes) -> Record:
    try:
        rec = loads(line)
        return rec["stream"], rec["log"].encode(), parse_time(rec["time"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"corrupt log record {line[:80]!r}: {exc}") from exc


def _streams(stdout: bool, stderr: bool) -> tuple[str, ...]:
    return ("stdout",) * stdout + ("stderr",) * stderr


def _records_of(
    f: Iterable[bytes], want: tuple[str, ...], since_ns: int, until_ns: int
) -> Iterator[Record]:
    for line in f:
        if not line.endswith(b"\n"):
            break  # a record still being written
        rec = _decode(line)
        if rec[0] in want and rec[2] >= since_ns and (not until_ns or rec[2] <= until_ns):
            yield rec


def read_raw(
    path: str,
    *,
    stdout: bool = True,
    stderr: bool = True,
    since_ns: int = 0,
    until_ns: int = 0,
) -> Iterator[Record]:
    """Whole records (stream, data, time_ns), oldest first across the rotated files."""
    want = _streams(stdout, stderr)
    for name in _files(path):
        try:
            f = open(name, "rb")  # noqa: SIM115 - closed below, generator may be abandoned
        except FileNotFoundError:
            continue  # rotated away meanwhile
        with f:
            yield from _records_of(f, want, since_ns, until_ns)


def split_lines(records: Iterable[Record]) -> Iterator[Entry]:
    """Records -> lines; a line continued over records keeps its first record's time."""
    pending: dict[str, tuple[bytes, int]] = {}
    make = _new_entry
    for stream, data, ts in records:
        if stream in pending:
            head, ts0 = pending.pop(stream)
            cut = data.find(b"\n")
            if cut < 0:
                pending[stream] = (head + data, ts0)
                continue
            yield make((stream, head + data[: cut + 1], ts0))
            data = data[cut + 1 :]
        lines = data.splitlines(keepends=True) if b"\r" not in data else _split_nl(data)
        if lines and not lines[-1].endswith(b"\n"):
            pending[stream] = (lines.pop(), ts)
        yield from map(make, zip(repeat(stream), lines, repeat(ts)))
    for stream, (head, ts0) in pending.items():
        yield make((stream, head, ts0))


def _split_nl(data: bytes) -> list[bytes]:
    parts = data.split(b"\n")
    out = [p + b"\n" for p in parts[:-1]]
    if parts[-1]:
        out.append(parts[-1])
    return out


def read(
    path: str,
    *,
    stdout: bool = True,
    stderr: bool = True,
    since_ns: int = 0,
    until_ns: int = 0,
    tail: int = -1,
) -> Iterator[Entry]:
    """Lines across the rotated files, oldest first; `tail` >= 0 keeps the last N lines.

    A plain function returning an iterator (not a generator): one generator level less
    per line matters at millions of lines.
    """
    if tail < 0:
        return split_lines(
            read_raw(path, stdout=stdout, stderr=stderr, since_ns=since_ns, until_ns=until_ns)
        )
    if tail == 0:
        return iter(())
    records = _tail_records(path, _streams(stdout, stderr), since_ns, until_ns, tail)
    return iter(deque(split_lines(records), maxlen=tail))


def _tail_records(
    path: str, want: tuple[str, ...], since_ns: int, until_ns: int, tail: int
) -> list[Record]:
    """Enough records, read from the end, to hold the last `tail` whole lines.

    Walks back until tail+1 newlines are in hand, then on until, for every stream seen, an
    earlier record ending in a newline proves that the first line kept is whole.
    """
    picked: list[Record] = []
    newlines = 0
    unsure: set[str] | None = None
    for rec in _reverse_records(path):
        stream, data, ts = rec
        if stream not in want or (until_ns and ts > until_ns):
            continue
        if ts < since_ns:
            break
        if unsure is not None:
            if stream in unsure and data.endswith(b"\n"):
                unsure.discard(stream)
                if not unsure:
                    break
                continue
            if stream not in unsure:
                continue
        picked.append(rec)
        newlines += data.count(b"\n")
        if unsure is None and newlines > tail:
            unsure = {r[0] for r in picked}
    picked.reverse()
    return picked


def _reverse_records(path: str) -> Iterator[Record]:
    for name in reversed(_files(path)):
        try:
            fd = os.open(name, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            continue
        try:
            for line in _reverse_lines(fd):
                yield _decode(line)
        finally:
            os.close(fd)


def _reverse_lines(fd: int) -> Iterator[bytes]:
    pos = os.fstat(fd).st_size
    carry = b""
    first = True
    while pos > 0:
        n = min(_BLOCK, pos)
        pos -= n
        block = os.pread(fd, n, pos) + carry
        parts = block.split(b"\n")
        carry = parts[0]
        if first:
            first = False
            parts.pop()  # after the last newline: empty, or a record being written
        for part in reversed(parts[1:]):
            if part:
                yield part
    if carry:
        yield carry


def follow(
    path: str,
    *,
    stdout: bool = True,
    stderr: bool = True,
    since_ns: int = 0,
    poll: float = 0.05,
    stop: Callable[[], bool],
    idle_marks: bool = False,
) -> Iterator[Record]:
    """Records as the log grows: everything present first, then new ones (blocking, poll).

    Survives rotation: when `path` is renamed away, the old file is read to its end and
    reading continues with the new `path`. Ends once stop() is true and the file is read
    to its end. Run it in a thread (or step it between polls). With `idle_marks`, an empty
    record ("", b"", 0) comes each time the reader has caught up and is about to wait, so
    a caller that batches records knows when to send what it holds.
    """
    want = _streams(stdout, stderr)
    for name in _files(path)[:-1]:
        yield from _records_of(_open_lines(name), want, since_ns, 0)
    f = _wait_open(path, poll, stop)
    if f is None:
        return
    carry = b""
    try:
        while True:
            chunk = f.read(_BLOCK)
            if chunk:
                carry += chunk
                cut = carry.rfind(b"\n") + 1
                if cut:
                    yield from _records_of(carry[:cut].splitlines(keepends=True), want, since_ns, 0)
                    carry = carry[cut:]
                continue
            if _rotated(f, path):
                f.close()
                carry = b""
                f = _wait_open(path, poll, stop)
                if f is None:
                    return
                continue
            if stop():
                return
            if idle_marks:
                yield "", b"", 0
            time.sleep(poll)
    finally:
        if f is not None:
            f.close()


def _open_lines(name: str) -> list[bytes]:
    try:
        with open(name, "rb") as f:
            return f.readlines()
    except FileNotFoundError:
        return []


def _wait_open(path: str, poll: float, stop: Callable[[], bool]):  # type: ignore[no-untyped-def]
    while True:
        try:
            return open(path, "rb")
        except FileNotFoundError:
            if stop():
                return None
            time.sleep(poll)


def _rotated(f: object, path: str) -> bool:
    try:
        return os.stat(path).st_ino != os.fstat(f.fileno()).st_ino  # type: ignore[attr-defined]
    except FileNotFoundError:
        return False
