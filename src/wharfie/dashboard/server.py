"""The dashboard listener: the page, its static files, and the Engine API behind a token.

Routes on the dashboard's own listener (every one needs the token or its cookie):

    GET  /                      the page (index.html)
    GET  /static/<file>         its scripts, styles and the vendored libraries
    ANY  /api/<engine route>    the daemon's Engine API routes, the same handlers the CLI
                                reaches on the unix socket, called in-process
    GET  /dash/live             the page's one live stream: the Engine API's events and every
                                running container's stats (live.py, stats.py)
    GET  /dash/exec/<exec id>   WebSocket: a terminal into an exec with a TTY (terminal.py)
    POST /dash/compose/<p>/up   `wharfie compose up -d` of a project (composeup.py)

On the API socket, `POST /wharfie/dashboard` starts the listener if needed and
answers its URL (with the token): anyone who may call the API is root-equivalent
anyway. The port and token are kept in `<data-root>/dashboard.json` (mode 0600), so
a restarted daemon serves the same URL and open pages reconnect by themselves.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import ssl
from typing import TYPE_CHECKING, Any

from wharfie.api.http import HTTPError, Reply, Request, Response, Router, Stream
from wharfie.api.http import json_response as json_reply
from wharfie.api.serve import Server
from wharfie.dashboard import auth
from wharfie.dashboard.stats import StatsHub
from wharfie.errors import InvalidArgument, WharfieError
from wharfie.oci import jsonio

if TYPE_CHECKING:
    from wharfie.engine.core import Engine

log = logging.getLogger("wharfie.dashboard")

SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "connect-src 'self' ws: wss:; frame-ancestors 'none'"
    ),
}
UNAUTHORIZED_PAGE = b"""<!doctype html><meta charset=utf-8><title>Wharfie dashboard</title>
<body style="font-family:system-ui;max-width:36em;margin:4em auto">
<h1>Wharfie dashboard</h1><p>This page needs its access token. Run
<code>wharfie dashboard</code> on the host and open the URL it prints.</p>"""


def check_address(text: str, tls: ssl.SSLContext | None) -> auth.Address:
    """The listener's address; plain HTTP is refused anywhere but loopback."""
    try:
        address = auth.parse_address(text or "127.0.0.1:0")
    except ValueError as exc:
        raise InvalidArgument(str(exc)) from None
    if not address.loopback and tls is None:
        raise InvalidArgument(
            f"refusing to serve the dashboard on {address.host}:{address.port} without TLS: "
            "use --tls/--tlsverify with --tlscert and --tlskey (the access token is still "
            "required), or a loopback address"
        )
    return address


class Dashboard:
    """The dashboard's listener, routes and state. `api_router` is the daemon's Engine
    API router: `/api/...` requests are dispatched to its handlers."""

    def __init__(
        self,
        engine: Engine,
        api_router: Router,
        *,
        state_path: str,
        address: str = "",
        tls: ssl.SSLContext | None = None,
        api_host: str = "",
    ) -> None:
        self.engine = engine
        self.api_router = api_router
        self.inner = Server(api_router)  # serves the exec bridge's in-process connections
        self.state_path = state_path
        self.address = check_address(address, tls)
        self.tls = tls
        self.api_host = api_host  # the daemon's own API address, for `compose up`
        self.token = ""
        self.url = ""
        self.stats = StatsHub(engine)
        self.router = Router()
        self.server = Server(self.router)
        self.listener: asyncio.Server | None = None
        self._lock = asyncio.Lock()
        r = self.router
        r.add("GET", "/", self.index)
        r.add(
            "GET",
            "/static/(?:(?P<tag>[0-9a-f]{16})/)?(?P<name>[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)?)",
            self.static,
        )
        for method in ("GET", "POST", "PUT", "DELETE", "HEAD"):
            r.add(method, "/api(?P<rest>/.*)", self.api)
        r.add("GET", "/dash/live", self.live)
        r.add("GET", "/dash/exec/(?P<eid>[^/]+)", self.terminal)
        r.add("POST", "/dash/compose/(?P<project>[^/]+)/up", self.compose_up)

    # ------------------------------------------------------------ lifecycle
    def register(self, api_router: Router) -> None:
        """Add `POST /wharfie/dashboard` to the daemon's API."""
        api_router.add("POST", "/wharfie/dashboard", self._api_start)

    @property
    def configured(self) -> bool:
        return os.path.exists(self.state_path)

    async def start(self) -> str:
        async with self._lock:
            if self.listener is not None:
                return self.url
            state = self._load_state()
            self.token = str(state.get("token") or auth.new_token())
            port = self.address.port or int(state.get("port") or 0)
            try:
                self.listener = await self._listen(port)
            except OSError as exc:
                if self.address.port or not port:
                    raise InvalidArgument(
                        f"cannot listen on {self.address.host}:{port} for the dashboard: {exc}"
                    ) from exc
                self.listener = await self._listen(0)  # the remembered port is taken
            sock = self.listener.sockets[0]
            bound = int(sock.getsockname()[1])
            self._save_state({"port": bound, "token": self.token})
            scheme = "https" if self.tls else "http"
            host = self.address.host
            shown = f"[{host}]" if ":" in host else host
            self.url = f"{scheme}://{shown}:{bound}/?token={self.token}"
            log.info("dashboard listening on %s://%s:%d", scheme, shown, bound)
            return self.url

    async def _listen(self, port: int) -> asyncio.Server:
        return await asyncio.start_server(self._connection, self.address.host, port, ssl=self.tls)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # A page's live stream is open until the daemon stops, which cancels it: the task
        # then ends quietly (Python 3.11's stream callback logs a cancelled one as an error).
        try:
            await self.server.handle(reader, writer)
        except asyncio.CancelledError:
            pass

    async def close(self) -> None:
        if self.listener is not None:
            self.listener.close()
        for task in list(self.server.connections) + list(self.inner.connections):
            task.cancel()
        if self.stats.task is not None:
            self.stats.task.cancel()

    def _load_state(self) -> dict[str, Any]:
        try:
            with open(self.state_path, "rb") as f:
                state = jsonio.loads(f.read())
            return state if isinstance(state, dict) else {}
        except (OSError, ValueError):
            return {}

    def _save_state(self, state: dict[str, object]) -> None:
        tmp = self.state_path + ".tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(jsonio.dumps(state))
        os.replace(tmp, self.state_path)

    async def _api_start(self, req: Request) -> Reply:
        url = await self.start()
        return json_reply({"URL": url})

    # ------------------------------------------------------------ access
    def _guard(self, req: Request) -> Response | None:
        """None when the request may proceed, else the refusal (or the first-visit redirect)."""
        path, _, query = req.target.partition("?")
        verdict = auth.check(
            self.token,
            path=path,
            query=query,
            cookie_header=req.headers.get("cookie", ""),
            authorization=req.headers.get("authorization", ""),
            secure=self.tls is not None,
        )
        # the token must not reach any log line that names the request
        req.target = path
        if verdict.status:
            if path.startswith("/api/") or path.startswith("/dash/"):
                message = "missing access token" if verdict.status == 401 else "bad access token"
                return Response(
                    verdict.status,
                    jsonio.dumps({"message": message}).encode(),
                    "application/json",
                    SECURITY_HEADERS,
                )
            return Response(
                verdict.status, UNAUTHORIZED_PAGE, "text/html; charset=utf-8", SECURITY_HEADERS
            )
        if verdict.redirect:
            headers = {**SECURITY_HEADERS, "Location": verdict.redirect}
            headers["Set-Cookie"] = verdict.set_cookie
            return Response(303, b"", None, headers)
        if req.method != "GET" or req.headers.get("upgrade"):
            origin = req.headers.get("origin", "")
            if not auth.same_origin(origin, req.headers.get("host", "")):
                return Response(
                    403,
                    jsonio.dumps({"message": "cross-origin request refused"}).encode(),
                    "application/json",
                )
        return None

    # ------------------------------------------------------------ routes
    async def index(self, req: Request) -> Reply:
        refused = self._guard(req)
        if refused is not None:
            return refused
        # The page names its files under a tag of their current contents: they are then
        # cached for good, and a daemon with other files serves other URLs (and the
        # modules' relative imports carry the tag along).
        body = _asset("index.html").replace(b'"/static/', f'"/static/{_static_tag()}/'.encode())
        return Response(200, body, "text/html; charset=utf-8", SECURITY_HEADERS)

    async def static(self, req: Request, name: str, tag: str | None = None) -> Reply:
        refused = self._guard(req)
        if refused is not None:
            return refused
        try:
            body = _asset(name)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise HTTPError(404, f"no such file: {name}") from None
        cache = "private, max-age=31536000, immutable" if tag else "no-cache"
        headers = {**SECURITY_HEADERS, "Cache-Control": cache}
        kind = CONTENT_TYPES.get(name.rpartition(".")[2], "application/octet-stream")
        return Response(200, body, kind, headers)

    async def api(self, req: Request, rest: str) -> Reply:
        refused = self._guard(req)
        if refused is not None:
            return refused
        req.path = rest
        handler, params = self.api_router.match(req.method, rest)
        return await handler(req, **params)

    async def live(self, req: Request) -> Reply:
        refused = self._guard(req)
        if refused is not None:
            return refused
        from wharfie.dashboard.live import merge

        handler, params = self.api_router.match("GET", "/events")
        events = await handler(req, **params)  # the API's own events route (filters, since)
        if not isinstance(events, Stream):
            return events
        return Stream(merge(events.chunks, self.stats.subscribe()), "application/json")

    async def terminal(self, req: Request, eid: str) -> Reply:
        refused = self._guard(req)
        if refused is not None:
            return refused
        from wharfie.dashboard.terminal import bridge

        return await bridge(req, self.inner.handle, eid, self._hangup)

    async def compose_up(self, req: Request, project: str) -> Reply:
        refused = self._guard(req)
        if refused is not None:
            return refused
        from wharfie.dashboard import composeup

        if not self.api_host:
            raise HTTPError(501, "compose up needs the daemon to listen on a unix socket")
        labels = [c.config.get("Labels") or {} for c in list(self.engine.containers.values())]
        files = composeup.project_files(project, labels)
        return json_reply({"Output": await composeup.up(self.api_host, files)})

    async def _hangup(self, eid: str) -> None:
        """The page's terminal closed: SIGHUP to the exec's process, SIGKILL if it stays.
        The monitor sends them: it reaps the process, so its pid cannot have been reused
        (a kill by pid from here could hit whatever process took that pid since)."""
        try:
            ex = self.engine.execs_service.get(eid)
        except WharfieError:
            return
        for sig in (signal.SIGHUP, signal.SIGKILL, signal.SIGKILL):
            if not ex.running or not ex.pid:
                return
            try:
                await self.engine.need_monitor().signal(eid, int(sig))
            except WharfieError as exc:  # gone meanwhile, or a monitor that did not answer
                if not ex.running:
                    return
                log.warning("terminal %s: %s to its process: %s", eid[:12], sig.name, exc)
            try:
                await asyncio.wait_for(asyncio.shield(ex.done), 2.0)
                return
            except TimeoutError:
                continue
        log.warning("terminal %s: its process outlived SIGHUP and SIGKILL", eid[:12])


STATIC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
CONTENT_TYPES = {
    "js": "text/javascript",
    "mjs": "text/javascript",
    "css": "text/css",
    "html": "text/html; charset=utf-8",
    "png": "image/png",
    "svg": "image/svg+xml",
}


def _path(name: str) -> str:
    """A file under static/ (installed as package data beside this module)."""
    parts = name.split("/")
    if ".." in parts or "" in parts:
        raise FileNotFoundError(name)
    return os.path.join(STATIC, *parts)


def _asset(name: str) -> bytes:
    with open(_path(name), "rb") as f:
        return f.read()


def _static_tag() -> str:
    """A digest of the static files' names, sizes and times (a few dozen stats)."""
    import hashlib

    h = hashlib.sha256()
    for folder, _, files in sorted(os.walk(STATIC)):
        for name in sorted(files):
            st = os.stat(os.path.join(folder, name))
            h.update(f"{folder}/{name}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]
