"""json-file logs: writer records, rotation, and the readers (lines, tail, since/until, follow)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from wharfie.logs import Entry, Writer, follow, format_time, parse_time, read, read_raw

T0 = 1_795_000_000_000_000_000


def _write(
    path: Path, chunks: list[tuple[int, bytes]], max_size: int = 0, max_file: int = 1
) -> None:
    w = Writer(str(path), max_size, max_file)
    for i, (stream, data) in enumerate(chunks):
        w.write(stream, data, T0 + i * 1000)
    w.close()


def test_one_record_per_chunk_in_dockers_format(tmp_path: Path) -> None:
    log = tmp_path / "c.log"
    _write(log, [(1, b"a\nb\nc"), (2, b"oops\n")])
    lines = log.read_text().splitlines()
    assert len(lines) == 2
    rec = json.loads(lines[0])
    assert rec == {"log": "a\nb\nc", "stream": "stdout", "time": format_time(T0)}
    assert rec["time"].endswith("Z") and len(rec["time"]) == 30
    assert json.loads(lines[1])["stream"] == "stderr"


def test_time_round_trip() -> None:
    assert parse_time(format_time(T0 + 123)) == T0 + 123
    assert parse_time("2026-11-22T10:00:00Z") == parse_time("2026-11-22T10:00:00.000000000Z")
    assert parse_time("2026-11-22T10:00:00.5Z") % 1_000_000_000 == 500_000_000


def test_lines_split_and_joined_across_records(tmp_path: Path) -> None:
    log = tmp_path / "c.log"
    _write(log, [(1, b"one\ntw"), (2, b"err\n"), (1, b"o\nthree"), (1, b"\nfour")])
    got = list(read(str(log)))
    assert got == [
        Entry("stdout", b"one\n", T0),
        Entry("stderr", b"err\n", T0 + 1000),
        Entry("stdout", b"two\n", T0),  # when complete; the time its first byte came in
        Entry("stdout", b"three\n", T0 + 2000),
        Entry("stdout", b"four", T0 + 3000),  # a final partial line
    ]
    assert [e.data for e in read(str(log), stdout=False)] == [b"err\n"]


def test_read_raw_keeps_records(tmp_path: Path) -> None:
    log = tmp_path / "c.log"
    _write(log, [(1, b"a\nb\n"), (2, b"c\n")])
    assert list(read_raw(str(log))) == [("stdout", b"a\nb\n", T0), ("stderr", b"c\n", T0 + 1000)]
    assert list(read_raw(str(log), stderr=False)) == [("stdout", b"a\nb\n", T0)]


def test_invalid_and_split_utf8(tmp_path: Path) -> None:
    log = tmp_path / "c.log"
    snow = "\u2603".encode()  # 3 bytes
    _write(log, [(1, b"x" + snow[:1]), (1, snow[1:] + b"\n"), (1, b"bad \xff\n")])
    data = b"".join(e.data for e in read(str(log)))
    assert data == ("x\u2603\nbad \ufffd\n").encode()


def test_incomplete_sequence_at_close_is_replaced(tmp_path: Path) -> None:
    log = tmp_path / "c.log"
    _write(log, [(1, b"end\xe2\x98")])
    assert b"".join(e.data for e in read(str(log))) == "end\ufffd".encode()


def test_rotation_keeps_max_file_and_reads_oldest_first(tmp_path: Path) -> None:
    log = tmp_path / "c.log"
    chunks = [(1, f"line {i:03d}\n".encode()) for i in range(100)]
    _write(log, chunks, max_size=400, max_file=3)
    assert (tmp_path / "c.log.1").exists() and (tmp_path / "c.log.2").exists()
    assert not (tmp_path / "c.log.3").exists()
    assert all(p.stat().st_size <= 400 for p in tmp_path.iterdir())
    got = [e.data for e in read(str(log))]
    assert got == [c[1] for c in chunks[-len(got) :]]  # the newest, in order, contiguous
    assert got[-1] == b"line 099\n"


def test_rotation_with_one_file_truncates(tmp_path: Path) -> None:
    log = tmp_path / "c.log"
    _write(log, [(1, b"x" * 50 + b"\n") for _ in range(10)], max_size=300, max_file=1)
    assert not (tmp_path / "c.log.1").exists()
    assert log.stat().st_size <= 300


def test_tail_across_rotated_files(tmp_path: Path) -> None:
    log = tmp_path / "c.log"
    chunks = [(1 + i % 2, f"{i}a\n{i}b\n".encode()) for i in range(200)]
    _write(log, chunks, max_size=2000, max_file=5)
    everything = list(read(str(log)))
    for n in (0, 1, 3, 50, 10_000):
        assert list(read(str(log), tail=n)) == (everything[-n:] if n else [])
    assert [e.data for e in read(str(log), tail=2, stderr=False)] == [b"198a\n", b"198b\n"]


def test_tail_keeps_a_line_spanning_records_whole(tmp_path: Path) -> None:
    log = tmp_path / "c.log"
    _write(log, [(1, b"first\nlong-"), (2, b"e1\n"), (1, b"line-"), (1, b"end\n")])
    assert list(read(str(log), tail=1, stderr=False)) == [Entry("stdout", b"long-line-end\n", T0)]
    assert [e.data for e in read(str(log), tail=2)] == [b"e1\n", b"long-line-end\n"]


def test_since_and_until(tmp_path: Path) -> None:
    log = tmp_path / "c.log"
    _write(log, [(1, f"{i}\n".encode()) for i in range(10)])
    got = [e.data for e in read(str(log), since_ns=T0 + 3000, until_ns=T0 + 5000)]
    assert got == [b"3\n", b"4\n", b"5\n"]
    assert [e.data for e in read(str(log), since_ns=T0 + 8000, tail=5)] == [b"8\n", b"9\n"]


def test_follow_sees_growth_and_rotation(tmp_path: Path) -> None:
    log = tmp_path / "c.log"
    w = Writer(str(log), 1000, 9)  # rotates every ~12 records, the reader keeps up
    w.write(1, b"before\n")
    done = threading.Event()
    seen: list[bytes] = []

    def consume() -> None:
        for _stream, data, _ts in follow(str(log), poll=0.01, stop=done.is_set):
            seen.append(data)

    t = threading.Thread(target=consume)
    t.start()
    for i in range(30):
        w.write(1, f"live {i:02d} ".encode() + b"y" * 20 + b"\n")
        time.sleep(0.002)
    w.close()
    time.sleep(0.1)
    done.set()
    t.join(5)
    assert not t.is_alive()
    assert seen[0] == b"before\n"
    assert [s[:7] for s in seen[1:]] == [f"live {i:02d}".encode() for i in range(30)]


def test_follow_marks_each_catch_up_when_asked(tmp_path: Path) -> None:
    log = tmp_path / "c.log"
    w = Writer(str(log), 0, 1)
    w.write(1, b"one\n")
    w.write(2, b"two\n")
    stopped = [False]
    it = follow(str(log), poll=0.001, stop=lambda: stopped[0], idle_marks=True)
    got = [next(it)[1], next(it)[1], next(it)]
    assert got == [b"one\n", b"two\n", ("", b"", 0)]  # caught up: the mark, then a wait
    w.write(1, b"three\n")
    assert next(it)[1] == b"three\n"
    w.close()
    stopped[0] = True
    assert [r for r in it if r[0]] == []
    assert [r[1] for r in follow(str(log), poll=0.001, stop=lambda: True)] == [
        b"one\n",
        b"two\n",
        b"three\n",
    ]  # no marks unless asked
