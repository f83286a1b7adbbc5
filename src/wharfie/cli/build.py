"""`wharfie build` and `wharfie builder prune`.

The context is a directory (sent as a tar without what .dockerignore excludes, the
Dockerfile and .dockerignore always included, as the docker CLI does) or `-` (a tar,
or a lone Dockerfile, on stdin). `--progress auto` shows a live per-step display on a
terminal (each step with its state and time, RUN output beneath the running step);
`plain` prints the daemon's stream as it comes; `quiet` (or -q) only the image ID.
"""

from __future__ import annotations

import os
import sys
import time

from wharfie.cli.flags import parse, table
from wharfie.client.api import APIError
from wharfie.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

    from wharfie.cli.context import Context

FLAGS = table(
    """
    t tag list
    f file value
    - build-arg list
    - target value
    - no-cache bool
    - progress value
    - iidfile value
    - label list
    - pull bool
    q quiet bool
    - network value
    - cache-from list
    - platform value
    - rm bool
    - force-rm bool
    """
)
_CHUNK = 1 << 16


def cmd_build(ctx: Context, argv: list[str]) -> int:
    f = parse(argv, FLAGS)
    if len(f.args) != 1:
        raise InvalidArgument('"build" requires exactly 1 argument.')
    progress = "quiet" if f.on("quiet") else (f.get("progress") or "auto")
    if progress not in ("auto", "plain", "quiet", "tty"):
        raise InvalidArgument(f"invalid progress mode {progress!r}: auto, plain, tty or quiet")
    query = _query(f)
    body, dockerfile = _context(f.args[0], f.get("file"))
    if dockerfile:
        query["dockerfile"] = dockerfile
    tty = progress == "tty" or (progress == "auto" and sys.stdout.isatty())
    view: _Plain = _Live() if tty else (_Quiet() if progress == "quiet" else _Plain())
    lines = ctx.client.stream_lines(
        "POST", "/build", query=query, body=body, headers={"Content-Type": "application/x-tar"}
    )
    image_id = view.run(lines)
    if image_id is None:
        return 1
    if f.get("iidfile"):
        with open(str(f.get("iidfile")), "w") as out:
            out.write(image_id)
    return 0


def _query(f: Any) -> dict[str, Any]:
    import json

    q: dict[str, Any] = {"t": f.all("tag") or None, "rm": "0" if f.get("rm") == "false" else "1"}
    if f.on("force-rm"):
        q["forcerm"] = "1"
    for flag, key in (("no-cache", "nocache"), ("pull", "pull"), ("quiet", "q")):
        if f.on(flag):
            q[key] = "1"
    for flag, key in (("target", "target"), ("network", "networkmode"), ("platform", "platform")):
        if f.get(flag):
            q[key] = f.get(flag)
    if f.all("build-arg"):
        q["buildargs"] = json.dumps(_pairs(f.all("build-arg"), from_env=True))
    if f.all("label"):
        q["labels"] = json.dumps(_pairs(f.all("label"), from_env=False))
    if f.all("cache-from"):
        q["cachefrom"] = json.dumps(f.all("cache-from"))
    return q


def _pairs(items: list[str], from_env: bool) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep and from_env:
            if key not in os.environ:
                continue  # docker: `--build-arg X` takes X from the environment if set
            value = os.environ[key]
        out[key] = value
    return out


# -- the context --------------------------------------------------------------------------
def _context(arg: str, dockerfile: str | None) -> tuple[Iterator[bytes], str]:
    if arg == "-":
        if dockerfile == "-":
            raise InvalidArgument(
                "invalid argument: can't use stdin for both build context and dockerfile"
            )
        return _stdin_context(), dockerfile or ""
    if not os.path.isdir(arg):
        raise InvalidArgument(f'unable to prepare context: path "{arg}" not found')
    from wharfie.client.buildcontext import context_tar

    if dockerfile == "-":  # the Dockerfile on stdin, the context a directory
        data = b"".join(iter(lambda: os.read(0, _CHUNK), b""))
        return context_tar(arg, None, dockerfile_data=data)
    return context_tar(arg, dockerfile)


def _stdin_context() -> Iterator[bytes]:
    head = os.read(0, _CHUNK)
    data = head
    while len(data) < 512:
        more = os.read(0, _CHUNK)
        if not more:
            break
        data += more
    is_tar = (
        data[:2] == b"\x1f\x8b"
        or data[:3] == b"BZh"
        or data[:6] == b"\xfd7zXZ\x00"
        or (len(data) >= 512 and data[257:262] == b"ustar")
    )
    if is_tar:
        yield data
        yield from iter(lambda: os.read(0, _CHUNK), b"")
        return
    rest = data + b"".join(iter(lambda: os.read(0, _CHUNK), b""))
    from wharfie.client.buildcontext import single_file_tar

    yield single_file_tar("Dockerfile", rest)


# -- output ---------------------------------------------------------------------------
class _Plain:
    """The daemon's stream as it comes (docker's legacy builder output)."""

    def run(self, lines: Iterator[dict[str, Any]]) -> str | None:
        image_id = ""
        try:
            for msg in lines:
                if msg.get("error") or msg.get("errorDetail"):
                    self.error(str(msg.get("error") or msg["errorDetail"].get("message")))
                    return None
                aux = msg.get("aux")
                if isinstance(aux, dict) and aux.get("ID"):
                    image_id = str(aux["ID"])
                elif "stream" in msg:
                    self.stream(str(msg["stream"]))
                elif msg.get("status"):
                    self.stream(f"{msg.get('id', '')}: {msg['status']}\n".lstrip(": "))
        except APIError as exc:
            self.error(exc.message)
            return None
        self.done(image_id)
        return image_id

    def stream(self, text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()

    def error(self, message: str) -> None:
        sys.stdout.flush()
        sys.stderr.write(f"{message}\n")

    def done(self, image_id: str) -> None:
        return None


class _Quiet(_Plain):
    def stream(self, text: str) -> None:
        return None

    def done(self, image_id: str) -> None:
        sys.stdout.write(image_id + "\n")


class _Live(_Plain):
    """A per-step display: `[N/M] STEP` lines that end with CACHED or DONE and the time;
    output of the running step shown beneath it (dimmed). A failure repeats the failing
    step and its last lines of output above the error, as BuildKit's display does."""

    TAIL = 10

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.step_start = self.started
        self.current = ""
        self.label = ""
        self.cached = False
        self.buffer = ""
        self.tail: list[str] = []

    def stream(self, text: str) -> None:
        self.buffer += text
        while "\n" in self.buffer:
            line, self.buffer = self.buffer.split("\n", 1)
            self.line(line)

    def line(self, line: str) -> None:
        out = sys.stdout
        if line.startswith("Step "):
            self.finish()
            self.current = line.split(" : ", 1)[-1]
            self.label = f"[{line.split(' ', 2)[1]}] {self.current}"
            self.cached = False
            self.tail = []
            self.step_start = time.monotonic()
            out.write(f"\x1b[1m{self.label}\x1b[0m\n")
        elif line.strip() == "---> Using cache":
            self.cached = True
        elif line.startswith(" ---> ") or line.startswith("Removing intermediate"):
            pass
        elif line.startswith("Successfully"):
            self.finish()
            out.write(line + "\n")
        elif line:
            self.tail = [*self.tail[1 - self.TAIL :], line]
            out.write(f"\x1b[2m  {line}\x1b[0m\n")
        out.flush()

    def error(self, message: str) -> None:
        if self.buffer:
            self.line(self.buffer)
        if self.label:
            took = time.monotonic() - self.step_start
            sys.stdout.write(f"\x1b[31m   ERROR {took:.1f}s\x1b[0m\n")
            body = "".join(f"  {ln}\n" for ln in self.tail)
            sys.stderr.write(f"------\n > {self.label}:\n{body}------\n")
        super().error(f"ERROR: {message}")

    def finish(self) -> None:
        if not self.current:
            return
        took = time.monotonic() - self.step_start
        state = "CACHED" if self.cached else f"DONE {took:.1f}s"
        sys.stdout.write(f"\x1b[34m   {state}\x1b[0m\n")
        self.current = ""

    def done(self, image_id: str) -> None:
        self.finish()
        total = time.monotonic() - self.started
        sys.stdout.write(f"\x1b[1mFinished in {total:.1f}s\x1b[0m {image_id}\n")


# -- builder prune ------------------------------------------------------------------------
def cmd_prune(ctx: Context, argv: list[str]) -> int:
    f = parse(argv, table("a all bool\nf force bool\n- keep-storage value\n- filter list"))
    query: dict[str, Any] = {}
    if f.on("all"):
        query["all"] = "1"
    if f.get("keep-storage"):
        from wharfie.units import ram_in_bytes

        query["keep-storage"] = str(ram_in_bytes(str(f.get("keep-storage"))))
    if not f.on("force") and sys.stdin.isatty():
        sys.stdout.write(
            "WARNING! This will remove all dangling build cache.\n"
            "Are you sure you want to continue? [y/N] "
        )
        sys.stdout.flush()
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            return 0
    out = ctx.client.post_json("/build/prune", None, query)
    from wharfie.units import human_size

    deleted = out.get("CachesDeleted") or []
    if deleted:
        sys.stdout.write(
            "Deleted build cache objects:\n" + "".join(f"{k[7:]}\n" for k in deleted) + "\n"
        )
    reclaimed = human_size(float(out.get("SpaceReclaimed") or 0))
    sys.stdout.write(f"Total reclaimed space: {reclaimed}\n")
    return 0
