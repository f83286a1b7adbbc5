"""The registry application: routing, auth, errors, access logs and metrics.

`Registry.handle` is the HTTP server's handler: it matches the route, asks the
authorizer, runs the route function and turns every `RegistryError` into the
spec's JSON error body. Every request ends as one JSON line in the access log.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
import traceback
from collections.abc import Callable
from typing import IO, Any

from wharfie.registry import routes_blobs as rb
from wharfie.registry import routes_manifests as rm
from wharfie.registry.auth import AuthError, Authorizer, Need, TokenAuth
from wharfie.registry.codes import RegistryError
from wharfie.registry.httpserver import BadRequest, Request, Response
from wharfie.registry.metrics import Metrics
from wharfie.registry.names import check_name
from wharfie.registry.storage import Storage
from wharfie.registry.uploads import Uploads

Route = Callable[..., Response]
_N = r"(?P<name>.+?)"
ROUTES: list[tuple[str, re.Pattern[str], dict[str, Route]]] = [
    ("base", re.compile(r"/v2/?"), {"GET": lambda reg, req: reg.base(req)}),
    ("catalog", re.compile(r"/v2/_catalog"), {"GET": lambda reg, req: reg.catalog(req)}),
    (
        "tags",
        re.compile(rf"/v2/{_N}/tags/list"),
        {"GET": lambda reg, req, name: reg.tags(req, name)},
    ),
    (
        "manifest",
        re.compile(rf"/v2/{_N}/manifests/(?P<reference>[^/]+)"),
        {
            "GET": rm.get_manifest,
            "HEAD": rm.get_manifest,
            "PUT": rm.put_manifest,
            "DELETE": rm.delete_manifest,
        },
    ),
    ("upload", re.compile(rf"/v2/{_N}/blobs/uploads/?"), {"POST": rb.start_upload}),
    (
        "upload",
        re.compile(rf"/v2/{_N}/blobs/uploads/(?P<uid>[^/]+)"),
        {
            "GET": rb.upload_status,
            "PATCH": rb.patch_upload,
            "PUT": rb.put_upload,
            "DELETE": rb.cancel_upload,
        },
    ),
    (
        "blob",
        re.compile(rf"/v2/{_N}/blobs/(?P<digest>[^/]+)"),
        {"GET": rb.get_blob, "HEAD": rb.get_blob, "DELETE": rb.delete_blob},
    ),
    ("referrers", re.compile(rf"/v2/{_N}/referrers/(?P<digest>[^/]+)"), {"GET": rm.get_referrers}),
]
ACTIONS = {
    "GET": ["pull"],
    "HEAD": ["pull"],
    "PUT": ["pull", "push"],
    "POST": ["pull", "push"],
    "PATCH": ["pull", "push"],
    "DELETE": ["delete"],
}


class Registry:
    def __init__(
        self,
        storage: Storage,
        authorizer: Authorizer,
        delete: bool = True,
        accesslog: IO[str] | None = None,
        tls: bool = False,
        readonly: bool = False,
    ) -> None:
        self.storage = storage
        self.uploads = Uploads(storage)
        self.auth = authorizer
        self.delete_enabled = delete
        self.readonly = readonly
        self.metrics = Metrics()
        self.log = accesslog
        self.scheme = "https" if tls else "http"
        self._log_lock = threading.Lock()

    # -- dispatch ------------------------------------------------------------------------
    def handle(self, req: Request) -> Response:
        started = time.perf_counter()
        self.metrics.begin()
        route = "unknown"
        try:
            route, resp = self._route(req)
        except RegistryError as exc:
            resp = _error(exc)
        except (OSError, EOFError, BadRequest):
            self.metrics.end(req.method, route, 499, time.perf_counter() - started, req.bytes_in, 0)
            raise  # the client went away mid-body or sent garbage: the connection closes
        except Exception as exc:  # a bug: answer 500, keep serving, leave a trace
            self._trace(req, exc)
            resp = _error(RegistryError("UNKNOWN", f"internal error: {type(exc).__name__}"))
        resp.headers.setdefault("Docker-Distribution-API-Version", "registry/2.0")
        resp.after = lambda: self._done(req, resp, route, started)
        return resp

    def _done(self, req: Request, resp: Response, route: str, started: float) -> None:
        elapsed = time.perf_counter() - started
        self.metrics.end(req.method, route, resp.status, elapsed, req.bytes_in, resp.bytes_out)
        self._access(req, resp, elapsed, resp.bytes_out)

    def _route(self, req: Request) -> tuple[str, Response]:
        path = req.path
        if path in ("/healthz", "/debug/health"):
            return "health", self.health()
        if path == "/metrics":
            return "metrics", Response(
                200, self.metrics.render().encode(), {"Content-Type": "text/plain; version=0.0.4"}
            )
        if path == "/token" and req.method in ("GET", "POST"):
            return "token", self.token(req)
        for label, pattern, methods in ROUTES:
            m = pattern.fullmatch(path)
            if m is None:
                continue
            params = m.groupdict()
            if "name" in params:
                check_name(params["name"])
            func = methods.get(req.method)
            if func is None:
                raise RegistryError("UNSUPPORTED", f"method {req.method} not allowed here")
            req.user = self._authorize(req, label, params.get("name"))
            if self.readonly and req.method not in ("GET", "HEAD"):
                raise RegistryError("UNSUPPORTED", "the registry is in read-only mode")
            return label, func(self, req, **params)
        raise RegistryError("UNSUPPORTED", f"no such endpoint: {path[:200]}", status=404)

    def _authorize(self, req: Request, label: str, name: str | None) -> str | None:
        needs: list[Need] = []
        if label == "catalog":
            needs = [("registry", "catalog", "*")]
        elif name is not None:
            needs = [("repository", name, a) for a in ACTIONS.get(req.method, ["pull"])]
        return self.auth.check(req.headers, needs, self._base_url(req))

    def _base_url(self, req: Request) -> str:
        return f"{self.scheme}://{req.headers.get('host', 'localhost')}"

    def may_pull(self, req: Request, name: str) -> bool:
        try:
            check_name(name)
            self.auth.check(req.headers, [("repository", name, "pull")], self._base_url(req))
        except RegistryError:
            return False
        return True

    def require_delete(self) -> None:
        if not self.delete_enabled:
            raise RegistryError("UNSUPPORTED", "deletes are disabled on this registry")

    # -- small routes ----------------------------------------------------------------------
    def health(self) -> Response:
        """200 while the storage root is there and writable, 503 otherwise."""
        problem = None
        if not os.path.isdir(self.storage.blobs):
            problem = "storage root missing"
        elif not self.readonly and not os.access(self.storage.uploads, os.W_OK):
            problem = "storage not writable"
        body = {"status": "ok"} if problem is None else {"status": "unhealthy", "error": problem}
        return Response(
            200 if problem is None else 503,
            json.dumps(body).encode(),
            {"Content-Type": "application/json"},
        )

    def base(self, req: Request) -> Response:
        return Response(200, b"{}", {"Content-Type": "application/json"})

    def catalog(self, req: Request) -> Response:
        names, link = paginate(self.storage.catalog(), req.query, "/v2/_catalog")
        return _json({"repositories": names}, link)

    def tags(self, req: Request, name: str) -> Response:
        self.storage.require_repo(name)
        tags, link = paginate(self.storage.tags(name), req.query, f"/v2/{name}/tags/list")
        return _json({"name": name, "tags": tags}, link)

    def token(self, req: Request) -> Response:
        if not isinstance(self.auth, TokenAuth):
            raise RegistryError("UNSUPPORTED", "this registry does not issue tokens", status=404)
        params = req.query_all
        if req.method == "POST":
            from urllib.parse import parse_qs

            params = parse_qs(req.read_all(65536).decode(errors="replace"), keep_blank_values=True)
        return _json(self.auth.token_request(req.method, req.headers, params), None)

    # -- logs ------------------------------------------------------------------------------
    def _access(self, req: Request, resp: Response, elapsed: float, size: int) -> None:
        if self.log is None:
            return
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "remote": req.remote,
            "method": req.method,
            "path": req.target,
            "status": resp.status,
            "bytes_in": req.bytes_in,
            "bytes_out": 0 if req.method == "HEAD" else size,
            "duration_ms": round(elapsed * 1000, 3),
            "user": req.user,
            "user_agent": req.headers.get("user-agent"),
        }
        self._write_log(entry)

    def _trace(self, req: Request, exc: Exception) -> None:
        self._write_log(
            {
                "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "level": "error",
                "method": req.method,
                "path": req.target,
                "error": repr(exc),
                "trace": traceback.format_exc(),
            }
        )

    def log_error(self, message: str) -> None:
        self._write_log(
            {
                "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "level": "error",
                "error": message,
            }
        )

    def _write_log(self, entry: dict[str, Any]) -> None:
        if self.log is None:
            return
        line = json.dumps(entry) + "\n"
        with self._log_lock:
            self.log.write(line)
            self.log.flush()


def _error(exc: RegistryError) -> Response:
    headers = {"Content-Type": "application/json"}
    if isinstance(exc, AuthError) and exc.challenge:
        headers["WWW-Authenticate"] = exc.challenge
    return Response(exc.status, exc.body(), headers)


def _json(body: Any, link: str | None) -> Response:
    headers = {"Content-Type": "application/json"}
    if link:
        headers["Link"] = link
    return Response(200, json.dumps(body).encode(), headers)


def paginate(items: list[str], query: dict[str, str], path: str) -> tuple[list[str], str | None]:
    """The page after `last` of at most `n` sorted items, and the Link to the next page."""
    last = query.get("last")
    if last:
        items = [i for i in items if i > last]
    n_text = query.get("n")
    if n_text is None or n_text == "":
        return items, None
    if not n_text.isdigit():
        raise RegistryError(
            "PAGINATION_NUMBER_INVALID", "n must be a non-negative integer", {"n": n_text}
        )
    n = int(n_text)
    if len(items) <= n:
        return items, None
    page = items[:n]
    if not page:
        return page, None
    return page, f'<{path}?n={n}&last={page[-1]}>; rel="next"'
