"""Logs of several containers at once, each line prefixed `web-1  | ` (coloured on a
terminal), for `compose logs` and attached `compose up`.

One thread per container reads GET /containers/{id}/logs (demultiplexing the
frames unless the container has a TTY) and hands whole lines to one printer.
"""

from __future__ import annotations

import os
import sys
import threading

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from wharfie.cli.flags import Parsed
    from wharfie.client.api import Client
    from wharfie.compose.apply import Runner

_COLOURS = ("36", "33", "32", "35", "34", "96", "93", "92", "95", "94")


class Printer:
    def __init__(self, names: list[str], colour: bool, prefix: bool = True) -> None:
        self.width = 0
        self.colour = colour
        self.prefix = prefix
        self.colours: dict[str, str] = {}
        self.lock = threading.Lock()
        for n in names:
            self.add(n)

    def add(self, name: str) -> None:
        with self.lock:
            self.width = max(self.width, len(name))
            self.colours.setdefault(name, _COLOURS[len(self.colours) % len(_COLOURS)])

    def head(self, name: str) -> str:
        if not self.prefix:
            return ""
        text = f"{name.ljust(self.width)}  | "
        if self.colour:
            return f"\x1b[{self.colours.get(name, '0')}m{text}\x1b[0m"
        return text

    def line(self, name: str, text: str) -> None:
        with self.lock:
            sys.stdout.write(self.head(name) + text + "\n")
            sys.stdout.flush()

    def note(self, text: str) -> None:
        with self.lock:
            sys.stdout.write(text + "\n")
            sys.stdout.flush()


def short_name(c: dict[str, Any], project: str) -> str:
    """`web-1` for `proj-web-1` (compose's log prefix); container_name kept whole."""
    from wharfie.compose import plan

    labels = c.get("Labels") or {}
    name = str((c.get("Names") or [""])[0]).lstrip("/")
    if name.startswith(project + "-") or name.startswith(project + "_"):
        return name[len(project) + 1 :]
    return name or f"{labels.get(plan.SERVICE)}-{labels.get(plan.NUMBER)}"


def stream_logs(
    client: Client, cid: str, tty: bool, query: dict[str, Any], printer: Printer, name: str
) -> None:
    from wharfie.client.api import FrameSplitter

    splitter = None if tty else FrameSplitter()
    pending: dict[int, bytes] = {}
    with client.request("GET", f"/containers/{cid}/logs", query=query, stream=True) as r:
        for piece in r.iter_bytes():
            frames = [(1, piece)] if splitter is None else splitter.feed(piece)
            for stream, data in frames:
                buf = pending.get(stream, b"") + data
                *lines, rest = buf.split(b"\n")
                pending[stream] = rest
                for ln in lines:
                    printer.line(name, ln.rstrip(b"\r").decode(errors="replace"))
    for rest in pending.values():
        if rest:
            printer.line(name, rest.decode(errors="replace"))


def follow(
    runner: Runner,
    containers: list[dict[str, Any]],
    printer: Printer,
    query: dict[str, Any],
    tails: dict[str, str] | None = None,
) -> dict[str, threading.Thread]:
    """Start one log reader per container; returns {container id: thread}."""
    threads = {}
    for c in containers:
        name = short_name(c, runner.project.name)

        def run(cid: str = c["Id"], name: str = name) -> None:
            client = runner.thread_client()
            tty = bool(client.get_json(f"/containers/{cid}/json")["Config"].get("Tty"))
            q = dict(query)
            if tails and cid in tails:
                q["tail"] = tails[cid]
            try:
                stream_logs(client, cid, tty, q, printer, name)
            except Exception as exc:  # one container's log error is shown, others go on
                printer.note(f"{name}: logs stopped: {exc}")

        t = threading.Thread(target=run, daemon=True)
        t.start()
        threads[c["Id"]] = t
    return threads


class Attacher:
    """Attached `up`: one stream per container, attached just before it starts
    (Runner.before_start), or after `up` for containers already running (after_start
    covers a container started without the hook)."""

    def __init__(self, runner: Runner, printer: Printer, services: set[str]) -> None:
        self.runner = runner
        self.printer = printer
        self.services = services
        self.threads: dict[str, threading.Thread] = {}
        self.lock = threading.Lock()

    def before_start(self, cid: str, cname: str, service: str) -> None:
        # created or exited: the daemon holds a stream attach until the next start (moby,
        # and wharfied since the attach fix), so even instant output is caught
        if service in self.services:
            self._attach(cid, cname, bool(self.runner.project.services[service].get("tty")))

    def after_start(self, cid: str, cname: str, service: str) -> None:
        if service in self.services and cid not in self.threads:
            tty = bool(self.runner.project.services[service].get("tty"))
            self._attach(cid, cname, tty)

    def attach_running(self, containers: list[dict[str, Any]]) -> None:
        for ct in containers:
            if ct["Id"] not in self.threads:
                info = self.runner.client.get_json(f"/containers/{ct['Id']}/json")
                self._attach(
                    ct["Id"], str(info["Name"]).lstrip("/"), bool(info["Config"].get("Tty"))
                )

    def _attach(self, cid: str, cname: str, tty: bool) -> None:
        name = short_name({"Names": [cname]}, self.runner.project.name)
        self.printer.add(name)
        sock = self.runner.thread_client().hijack(
            "POST",
            f"/containers/{cid}/attach",
            query={"stream": True, "stdout": True, "stderr": True},
        )

        def run() -> None:
            try:
                pump_lines(sock, tty, self.printer, name)
            except OSError as exc:  # shown; the other containers go on
                self.printer.note(f"{name}: attach stopped: {exc}")
            finally:
                sock.close()

        t = threading.Thread(target=run, daemon=True)
        with self.lock:
            self.threads[cid] = t
        t.start()


def pump_lines(sock: Any, tty: bool, printer: Printer, name: str) -> None:
    from wharfie.client.api import FrameSplitter

    splitter = None if tty else FrameSplitter()
    pending: dict[int, bytes] = {}
    while data := sock.recv(65536):
        frames = [(1, data)] if splitter is None else splitter.feed(data)
        for stream, chunk in frames:
            *lines, pending[stream] = (pending.get(stream, b"") + chunk).split(b"\n")
            for ln in lines:
                printer.line(name, ln.rstrip(b"\r").decode(errors="replace"))
    for rest in pending.values():
        if rest:
            printer.line(name, rest.decode(errors="replace"))


def prepare_attached(runner: Runner, f: Parsed) -> Attacher:
    """Before `up`: the printer and the attach hook for the services shown."""
    services = set(f.all("attach")) or set(f.args) or set(runner.project.services)
    colour = os.isatty(1) and not f.on("no-color")
    printer = Printer([], colour, not f.on("no-log-prefix"))
    attacher = Attacher(runner, printer, services)
    runner.before_start = attacher.before_start
    runner.after_start = attacher.after_start
    return attacher


def attached_up(attacher: Attacher, f: Parsed) -> int:
    """Show the services' output until every container exited (or one did, with
    --abort-on-container-exit / --exit-code-from); Ctrl-C stops the project."""
    from wharfie.compose import plan as planmod

    runner = attacher.runner
    containers = [
        ct
        for ct in runner.containers()
        if (ct.get("Labels") or {}).get(planmod.SERVICE) in attacher.services
    ]
    attacher.attach_running([ct for ct in containers if ct.get("State") == "running"])
    containers = [ct for ct in containers if ct["Id"] in attacher.threads]
    abort = f.on("abort-on-container-exit") or f.has("exit-code-from")
    try:
        return _watch(
            runner,
            containers,
            dict(attacher.threads),
            attacher.printer,
            abort,
            f.get("exit-code-from"),
        )
    except KeyboardInterrupt:
        attacher.printer.note("Gracefully stopping... (press Ctrl+C again to force)")
        _stop_all(runner, containers)
        return 130


def _watch(
    runner: Runner,
    containers: list[dict[str, Any]],
    threads: dict[str, threading.Thread],
    printer: Printer,
    abort: bool,
    exit_from: str | None,
) -> int:
    from wharfie.compose import plan as planmod

    by_id = {ct["Id"]: ct for ct in containers}
    codes: dict[str, int] = {}
    live = dict(threads)
    while live:
        for cid, t in list(live.items()):
            t.join(0.1)
            if t.is_alive():
                continue
            del live[cid]
            code = _exit_code(runner, cid)
            ct = by_id[cid]
            codes[cid] = code
            printer.note(f"{short_name(ct, runner.project.name)} exited with code {code}")
            service = (ct.get("Labels") or {}).get(planmod.SERVICE)
            if abort and (exit_from is None or service == exit_from):
                printer.note("Aborting on container exit...")
                _stop_all(runner, containers)
                return code
    if exit_from:
        for cid, code in codes.items():
            if (by_id[cid].get("Labels") or {}).get(planmod.SERVICE) == exit_from:
                return code
    return 0


def _exit_code(runner: Runner, cid: str) -> int:
    doc = runner.client.post_json(f"/containers/{cid}/wait", None, {"condition": "not-running"})
    return int((doc or {}).get("StatusCode", 0))


def _stop_all(runner: Runner, containers: list[dict[str, Any]]) -> None:
    paths = [f"/containers/{ct['Id']}/stop" for ct in containers]
    runner.client.request_each("POST", paths)
    for ct in containers:
        runner.progress("Container", short_name(ct, ""), "Stopped")
