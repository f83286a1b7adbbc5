"""The json-file log writer: one record per chunk, size-based rotation like Docker's."""

from __future__ import annotations

import _json
import codecs
import os
import time

_encode_str = _json.encode_basestring_ascii
_STREAMS = ("stdout", "stderr")
_second_cache: list[object] = [-1, ""]


def format_time(ns: int) -> str:
    """RFC 3339 UTC with nanoseconds, as Docker writes it: 2026-11-22T10:00:00.123456789Z."""
    sec, frac = divmod(ns, 1_000_000_000)
    if _second_cache[0] != sec:
        _second_cache[0] = sec
        _second_cache[1] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
    return f"{_second_cache[1]}.{frac:09d}Z"


_parse_cache: dict[str, int] = {}


def parse_time(text: str) -> int:
    """The inverse of format_time; also accepts fewer fraction digits and no fraction."""
    if not text.endswith("Z") or len(text) < 20:
        raise ValueError(f"invalid log time {text!r}")
    head = text[:19]
    sec = _parse_cache.get(head)
    if sec is None:
        import calendar

        sec = calendar.timegm(time.strptime(head, "%Y-%m-%dT%H:%M:%S"))
        if len(_parse_cache) > 4096:
            _parse_cache.clear()
        _parse_cache[head] = sec
    frac = text[20:-1] if text[19:20] == "." else ""
    return sec * 1_000_000_000 + (int(frac.ljust(9, "0")[:9]) if frac else 0)


class Writer:
    """Append records to `path`; rotate when a record would push it past `max_size`.

    Raw fd writes (no buffered file object): a record is one write(2), so a reader never
    sees half a record unless the disk is full, and an idle writer costs a few hundred bytes.
    """

    __slots__ = ("_decoders", "_fd", "max_file", "max_size", "path", "size")

    def __init__(self, path: str, max_size: int = 0, max_file: int = 1) -> None:
        self.path = path
        self.max_size = max_size
        self.max_file = max(1, max_file)
        self._decoders: list[codecs.IncrementalDecoder | None] = [None, None]
        self._fd = self._open()
        self.size = os.fstat(self._fd).st_size

    def _open(self) -> int:
        try:
            return os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
        except OSError as exc:
            raise OSError(exc.errno, f"opening log {self.path}: {exc.strerror}") from exc

    def write(self, stream: int, data: bytes, now_ns: int = 0) -> None:
        """Write one chunk of stream 1 (stdout) or 2 (stderr)."""
        text = self._decode(stream - 1, data)
        if text:
            self._emit(stream, text, now_ns or time.time_ns())

    def _decode(self, idx: int, data: bytes) -> str:
        dec = self._decoders[idx]
        if dec is None:
            try:
                return data.decode()
            except UnicodeDecodeError:
                dec = self._decoders[idx] = codecs.getincrementaldecoder("utf-8")("replace")
        return dec.decode(data)

    def _emit(self, stream: int, text: str, now_ns: int) -> None:
        rec = (
            f'{{"log":{_encode_str(text)},"stream":"{_STREAMS[stream - 1]}",'
            f'"time":"{format_time(now_ns)}"}}\n'
        ).encode()
        if self.max_size > 0 and self.size > 0 and self.size + len(rec) > self.max_size:
            self.rotate()
        os.write(self._fd, rec)
        self.size += len(rec)

    def rotate(self) -> None:
        os.close(self._fd)
        self._fd = -1
        if self.max_file <= 1:
            os.truncate(self.path, 0)
        else:
            for i in range(self.max_file - 1, 1, -1):
                _rename_if_exists(f"{self.path}.{i - 1}", f"{self.path}.{i}")
            _rename_if_exists(self.path, f"{self.path}.1")
        self._fd = self._open()
        self.size = 0

    def flush(self) -> None:
        """Write out a pending incomplete UTF-8 sequence (as U+FFFD) at end of stream."""
        for idx, dec in enumerate(self._decoders):
            if dec is not None:
                text = dec.decode(b"", True)
                if text:
                    self._emit(idx + 1, text, time.time_ns())
                self._decoders[idx] = None

    def close(self) -> None:
        if self._fd >= 0:
            self.flush()
            os.close(self._fd)
            self._fd = -1


def _rename_if_exists(src: str, dst: str) -> None:
    try:
        os.rename(src, dst)
    except FileNotFoundError:
        pass
