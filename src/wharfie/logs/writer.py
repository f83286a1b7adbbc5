"""The json-file log writer: one record per chunk, size-based rotation like Docker's."""

from __future__ import annotations

import _json
import codecs
import os
import time

from wharfie.times import format_fixed as format_time
from wharfie.times import parse_fixed_ns as parse_time

_encode_str = _json.encode_basestring_ascii
_STREAMS = ("stdout", "stderr")
__all__ = ["Writer", "format_time", "parse_time"]


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
