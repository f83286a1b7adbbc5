"""The differential harness: one scenario, two daemons, one diff.

A scenario is a function of a `Side` (a daemon seen through raw HTTP on its unix socket).
Every `side.call(...)` records what a client can observe of that call:

- the status code and the error message;
- the JSON body (field names, types, null vs empty, values), after `normalise`;
- stream framing (multiplexed vs raw frames, the content type) and where errors appear
  in a stream (a status line, a JSON `error` line, a frame of its own);
- timing: a scenario observes a call's effect by the next call it makes (an `inspect`
  right after `kill` sees what a client would see).

The scenario runs against the real dockerd and against wharfied, with the same names on
both (each daemon is private, so names cannot collide), and `compare` diffs the two lists
of observations. Differences listed in allowlist.toml (each with its reason) are dropped.
"""

from __future__ import annotations

import fnmatch
import json
import re
import socket
import struct
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

API = "/v1.41"  # dockerd 20.10 speaks up to 1.41; both sides get the same prefix
ALLOWLIST = Path(__file__).with_name("allowlist.toml")


# -- raw HTTP over a unix socket -------------------------------------------------------------


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes
    upgraded: bool = False


def _recv_until(sock: socket.socket, buf: bytearray, marker: bytes) -> int:
    while True:
        at = buf.find(marker)
        if at >= 0:
            return at
        piece = sock.recv(65536)
        if not piece:
            raise ConnectionError(f"connection closed before {marker!r}: {bytes(buf)[:200]!r}")
        buf += piece


def _recv_exact(sock: socket.socket, buf: bytearray, n: int) -> bytes:
    while len(buf) < n:
        piece = sock.recv(65536)
        if not piece:
            raise ConnectionError("connection closed in the middle of a body")
        buf += piece
    out = bytes(buf[:n])
    del buf[:n]
    return out


def _recv_all(sock: socket.socket, buf: bytearray, deadline: float) -> bytes:
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            piece = sock.recv(65536)
        except TimeoutError:
            break
        if not piece:
            break
        buf += piece
    out = bytes(buf)
    buf.clear()
    return out


def http(
    sock_path: str,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    upgrade: bool = False,
    stdin: bytes | None = None,
    timeout: float = 30.0,
    stream_for: float | None = None,
) -> Reply:
    """One request on a fresh connection. `upgrade` asks for a hijack (attach, exec start):
    `stdin` is written after the 101 and the write side is shut; the raw stream is read until
    EOF. `stream_for` reads a chunked stream (events, stats) for that long only."""
    hdrs = {"Host": "docker", **(headers or {})}
    if body is not None:
        hdrs.setdefault("Content-Type", "application/json")
        hdrs["Content-Length"] = str(len(body))
    if upgrade:
        hdrs.update({"Connection": "Upgrade", "Upgrade": "tcp"})
    head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items())
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(timeout)
        sock.connect(sock_path)
        sock.sendall(head.encode("latin-1") + b"\r\n" + (body or b""))
        buf = bytearray()
        end = _recv_until(sock, buf, b"\r\n\r\n")
        lines = bytes(buf[:end]).decode("latin-1").split("\r\n")
        del buf[: end + 4]
        status = int(lines[0].split(" ")[1])
        rh: dict[str, str] = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            rh[k.strip().lower()] = v.strip()
        deadline = time.monotonic() + (stream_for if stream_for is not None else timeout)
        if status == 101 or (upgrade and status == 200 and "content-length" not in rh):
            if stdin:
                sock.sendall(stdin)
            if stdin is not None:
                sock.shutdown(socket.SHUT_WR)
            return Reply(status, rh, _recv_all(sock, buf, deadline), upgraded=True)
        if method == "HEAD" or status in (204, 304):
            return Reply(status, rh, b"")
        if "chunked" in rh.get("transfer-encoding", ""):
            data = bytearray()
            try:
                while time.monotonic() < deadline:
                    sock.settimeout(max(0.01, deadline - time.monotonic()))
                    end = _recv_until(sock, buf, b"\r\n")
                    size = int(bytes(buf[:end]).split(b";")[0], 16)
                    del buf[: end + 2]
                    if size == 0:
                        break
                    data += _recv_exact(sock, buf, size)
                    _recv_exact(sock, buf, 2)
            except TimeoutError:
                pass
            return Reply(status, rh, bytes(data))
        if "content-length" in rh:
            return Reply(status, rh, _recv_exact(sock, buf, int(rh["content-length"])))
        return Reply(status, rh, _recv_all(sock, buf, deadline))


# -- observations ------------------------------------------------------------------------------


def demux(data: bytes) -> list[tuple[int, bytes]] | None:
    """Multiplexed frames [(stream, payload)], or None when `data` is not framed."""
    frames: list[tuple[int, bytes]] = []
    i = 0
    while i < len(data):
        if len(data) - i < 8 or data[i] not in (0, 1, 2, 3) or data[i + 1 : i + 4] != b"\0\0\0":
            return None
        (size,) = struct.unpack(">I", data[i + 4 : i + 8])
        if i + 8 + size > len(data):
            return None
        frames.append((data[i], data[i + 8 : i + 8 + size]))
        i += 8 + size
    return frames


def _merge_frames(frames: list[tuple[int, bytes]]) -> list[list[Any]]:
    """Adjacent frames of one stream joined (how a write is split is not observable)."""
    out: list[list[Any]] = []
    for stream, payload in frames:
        if out and out[-1][0] == stream:
            out[-1][1] += payload.decode(errors="replace")
        else:
            out.append([stream, payload.decode(errors="replace")])
    return out


def observe(reply: Reply, kind: str) -> dict[str, Any]:
    """What a client sees of `reply`: `kind` says how to read the body
    (json | text | stream | lines | none | tar)."""
    obs: dict[str, Any] = {"status": reply.status}
    ctype = reply.headers.get("content-type", "").split(";")[0].strip()
    if reply.status >= 400 and not reply.upgraded:
        try:
            obs["message"] = json.loads(reply.body).get("message")
        except (ValueError, AttributeError):  # dockerd's plain-text errors end in a newline
            obs["message"] = reply.body.decode(errors="replace").rstrip("\n")
        return obs
    if kind == "json":
        obs["body"] = json.loads(reply.body) if reply.body.strip() else None
    elif kind == "text":
        obs["body"] = reply.body.decode(errors="replace")
    elif kind == "lines":  # a JSON-lines stream (pull, load, build, events, prune-as-stream)
        obs["content-type"] = ctype
        obs["body"] = [json.loads(x) for x in reply.body.splitlines() if x.strip()]
    elif kind == "stream":  # a hijacked or log stream: framing and content
        obs["content-type"] = ctype
        frames = demux(reply.body)
        if frames is None or not reply.body:
            obs["framing"] = "raw" if reply.body else "empty"
            obs["body"] = reply.body.decode(errors="replace")
        else:
            obs["framing"] = "multiplexed"
            obs["body"] = _merge_frames(frames)
    elif kind == "tar":
        obs["content-type"] = ctype
        obs["body"] = "<tar>" if reply.body[257:262] == b"ustar" else reply.body[:64].hex()
    return obs


# -- normalisation -------------------------------------------------------------------------------

_SUBS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"sha256:[0-9a-f]{64}"), "<digest>"),
    (re.compile(r"\b[0-9a-f]{64}\b"), "<id>"),
    (re.compile(r"\b[0-9a-f]{12}\b"), "<short-id>"),
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)"), "<time>"),
    (re.compile(r"\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}(/\d+)?\b"), "<ip>"),
    (re.compile(r"\b[0-9a-f]{2}(:[0-9a-f]{2}){5}\b"), "<mac>"),
    (
        re.compile(r"/var/lib/docker|/tmp/\S+?/data(?=/|\b)|\S+/(data|dockerd)/(?=volumes)"),
        "<root>/",
    ),
]
VOLATILE_KEYS = {
    "Created", "Pid", "Size", "SizeRw", "SizeRootFs", "VirtualSize", "SharedSize", "time",
    "timeNano", "StartedAt", "FinishedAt", "Mountpoint", "SandboxKey", "SandboxID",
    "ResolvConfPath", "HostnamePath", "HostsPath", "LogPath", "UpperDir", "LowerDir",
    "MergedDir", "WorkDir", "Id", "ID", "EndpointID", "NetworkID", "Gateway", "IPAddress",
    "MacAddress", "Subnet", "IPPrefixLen", "SpaceReclaimed", "CreatedAt", "Hostname",
    "ContainerID", "ImageID", "Image", "Digest", "RepoDigests", "Parent", "ParentId",
    "ExitCode_volatile", "Uptime", "LastTagTime",
}  # fmt: skip


UNORDERED = {"ContainersDeleted", "VolumesDeleted", "NetworksDeleted", "CachesDeleted"}


def normalise(value: Any, key: str = "") -> Any:
    if isinstance(value, dict):
        return {k: normalise(v, k) for k, v in value.items()}
    if isinstance(value, list):
        items = [normalise(v, key) for v in value]
        if key in UNORDERED and all(isinstance(v, str) for v in items):
            return sorted(items)  # what a prune deleted: its order means nothing
        return items
    if key in VOLATILE_KEYS and value not in (None, "", 0, [], {}):
        return f"<{type(value).__name__}>"
    if isinstance(value, str):
        for rx, sub in _SUBS:
            value = rx.sub(sub, value)
        return value
    return value


def shape(value: Any) -> Any:
    """Field names, types, and null vs empty, without the values (counters, pids)."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return None if value is None else type(value).__name__


# -- running and comparing ------------------------------------------------------------------------


@dataclass
class Side:
    name: str  # "dockerd" | "wharfied"
    sock: str
    api: str = API
    observations: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    cleanups: list[Callable[[], None]] = field(default_factory=list)

    def raw(self, method: str, path: str, body: Any = None, **kw: Any) -> Reply:
        """A request whose result is not compared (setup and teardown)."""
        data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        prefix = "" if path.startswith("/v1.") or path.startswith("!") else self.api
        target = quote(prefix + path.lstrip("!"), safe="/?=&%:,+@!*$'()")
        return http(self.sock, method, target, data, **kw)

    def call(
        self, label: str, method: str, path: str, body: Any = None, kind: str = "json", **kw: Any
    ) -> dict[str, Any]:
        reply = self.raw(method, path, body, **kw)
        obs = normalise(observe(reply, kind))
        self.observations.append((label, obs))
        return obs

    def note(self, label: str, value: Any) -> None:
        """Record a derived observation (a field of an inspect, a timing fact)."""
        self.observations.append((label, normalise({"value": value})))

    def json(self, method: str, path: str, body: Any = None) -> Any:
        reply = self.raw(method, path, body)
        return json.loads(reply.body) if reply.body.strip() else None


_ABSENT = object()


@dataclass
class Allowed:
    call: str
    path: str
    reason: str
    dockerd: str | None = None  # a regex the reference's value (repr) must match
    wharfied: str | None = None  # a regex wharfied's value (repr) must match
    used: int = 0

    def covers(self, call: str, where: str, a: Any, b: Any) -> bool:
        if not (fnmatch.fnmatchcase(call, self.call) and fnmatch.fnmatchcase(where, self.path)):
            return False
        for rx, value in ((self.dockerd, a), (self.wharfied, b)):
            text = "<absent>" if value is _ABSENT else repr(value)
            if rx is not None and not re.search(rx, text):
                return False
        return True


def load_allowlist(path: Path = ALLOWLIST, runtime: str = "wharfie-runtime") -> list[Allowed]:
    """The entries that apply when wharfied runs containers with `runtime` (an entry's
    `runtimes` names the runtimes it is for; none: all)."""
    doc = tomllib.loads(path.read_text())
    return [
        Allowed(e["call"], e.get("path", "*"), e["reason"], e.get("dockerd"), e.get("wharfied"))
        for e in doc.get("allow", [])
        if runtime in e.get("runtimes", [runtime])
    ]


def _diff(a: Any, b: Any, where: str, out: list[tuple[str, Any, Any]]) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            _diff(a.get(k, _ABSENT), b.get(k, _ABSENT), f"{where}.{k}", out)
        return
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _diff(x, y, f"{where}[{i}]", out)
        return
    if a is _ABSENT or b is _ABSENT or a != b or type(a) is not type(b):
        out.append((where, a, b))


def _describe(a: Any, b: Any) -> str:
    if a is _ABSENT:
        return f"only wharfied has it: {b!r}"[:300]
    if b is _ABSENT:
        return f"missing on wharfied (dockerd: {a!r})"[:300]
    return f"dockerd {a!r} != wharfied {b!r}"[:400]


def compare(
    scenario: str,
    ref: list[tuple[str, dict[str, Any]]],
    ours: list[tuple[str, dict[str, Any]]],
    allow: list[Allowed],
) -> list[str]:
    """Differences not on the allow-list, as readable lines."""
    problems: list[str] = []
    if [label for label, _ in ref] != [label for label, _ in ours]:
        return [f"{scenario}: the calls differ: {[x for x, _ in ref]} vs {[x for x, _ in ours]}"]
    for (label, a), (_, b) in zip(ref, ours, strict=True):
        diffs: list[tuple[str, Any, Any]] = []
        _diff(a, b, "$", diffs)
        full = f"{scenario}/{label}"
        for where, x, y in diffs:
            hit = next((e for e in allow if e.covers(full, where, x, y)), None)
            if hit is not None:
                hit.used += 1
                continue
            problems.append(f"{full} {where}: {_describe(x, y)}")
    return problems
