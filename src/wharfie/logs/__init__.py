"""json-file container logs: the monitor's writer and the engine's readers.

One JSON record per chunk read from a container's pipe, not per line:
``{"log": "<text>", "stream": "stdout"|"stderr", "time": "<RFC 3339, ns>Z"}``. A record may
hold many lines and may end mid-line; readers split lines only where a line count (`tail`)
or per-line timestamps need them. Rotation follows Docker's json-file driver: `path`,
`path.1` (newer) ... `path.<max_file-1>` (oldest).
"""

from __future__ import annotations

from wharfie.logs.reader import Entry, follow, read, read_raw
from wharfie.logs.writer import Writer, format_time, parse_time

__all__ = ["Entry", "Writer", "follow", "format_time", "parse_time", "read", "read_raw"]
