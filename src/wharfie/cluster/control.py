"""The client side of a manager's control endpoint: how a node that is not (or cannot be) an
etcd client talks to the managers. HTTPS with JSON bodies:

- `GET  /control/v1/ca`: the cluster's root certificate (the one call without a client
  certificate, over a connection that is not yet verified: the caller checks the answer
  against the CA digest in its join token);
- `POST /control/v1/join`: a join token and a certificate request; the answer is the new
  node's identity (and, for a manager, its store certificate and etcd membership);
- `POST /control/v1/heartbeat`, `POST /control/v1/forget`: calls of a member, who presents
  its node certificate.

The server is wharfied's (api/routes_control.py); a connection to it is verified against the
cluster's root CA and must present a manager's certificate.
"""

from __future__ import annotations

import http.client
import json
import ssl
from typing import Any

from wharfie.cluster import pki
from wharfie.cluster.kv import TLSFiles
from wharfie.errors import Conflict, InvalidArgument, NotFound, Unavailable

PREFIX = "/control/v1"


def _split(addr: str) -> tuple[str, int]:
    host, _, port = addr.rpartition(":")
    if not host or not port.isdigit():
        raise InvalidArgument(f"invalid remote address {addr!r}: want <ip>:<port>")
    return host.strip("[]"), int(port)


def fetch_root_ca(addr: str, timeout: float) -> bytes:
    """The root certificate a manager presents; not trusted until its digest is checked."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    out = _request(addr, "GET", PREFIX + "/ca", None, ctx, timeout)
    ca = out.get("RootCA")
    if not isinstance(ca, str):
        raise Unavailable(f"the swarm manager at {addr} sent no root certificate")
    return ca.encode()


def call(
    addr: str,
    path: str,
    body: dict[str, Any],
    root_ca_pem: bytes,
    identity: TLSFiles | None,
    timeout: float = 10.0,
    any_node: bool = False,
) -> dict[str, Any]:
    """A verified call to a manager's control endpoint (or, with `any_node`, to any node of
    the cluster: a worker serves its tasks' logs)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False  # the peer is checked below: signed by our CA, a manager
    ctx.load_verify_locations(cadata=root_ca_pem.decode())
    if identity is not None:
        ctx.load_cert_chain(identity.cert, identity.key)
    return _request(addr, "POST", PREFIX + path, body, ctx, timeout, root_ca_pem, any_node)


def _request(
    addr: str,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    ctx: ssl.SSLContext,
    timeout: float,
    root_ca_pem: bytes | None = None,
    any_node: bool = False,
) -> dict[str, Any]:
    host, port = _split(addr)
    conn = http.client.HTTPSConnection(host, port, context=ctx, timeout=timeout)
    try:
        conn.connect()
        if root_ca_pem is not None:
            _check_peer(conn, root_ca_pem, addr, any_node)
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if data is not None else {}
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        raw = resp.read()
    except (OSError, http.client.HTTPException) as exc:  # ssl.SSLError, timeouts: OSError
        raise Unavailable(f"cannot reach the swarm manager at {addr}: {exc}") from exc
    finally:
        conn.close()
    try:
        doc = json.loads(raw) if raw else {}
    except ValueError:
        raise Unavailable(
            f"the swarm manager at {addr} answered {resp.status} without JSON"
        ) from None
    if resp.status >= 300:
        message = str(doc.get("message") if isinstance(doc, dict) else doc)
        if resp.status == 400:
            raise InvalidArgument(message)
        if resp.status == 404:
            raise NotFound(message)
        if resp.status in (403, 409):  # a refusal, not an unreachable manager
            raise Conflict(message)
        raise Unavailable(message)
    if not isinstance(doc, dict):
        raise Unavailable(f"the swarm manager at {addr} answered with a {type(doc).__name__}")
    return doc


def _check_peer(
    conn: http.client.HTTPSConnection, root_ca_pem: bytes, addr: str, any_node: bool
) -> None:
    sock = conn.sock
    der = sock.getpeercert(binary_form=True) if isinstance(sock, ssl.SSLSocket) else None
    if not der:
        raise Unavailable(f"the swarm manager at {addr} presented no certificate")
    pem = ssl.DER_cert_to_PEM_cert(der).encode()
    try:
        who = pki.identity(root_ca_pem, pem)
    except InvalidArgument as exc:
        raise Unavailable(f"the node at {addr} is not a manager of this swarm: {exc}") from None
    if who.role != pki.MANAGER and not any_node:
        raise Unavailable(f"the node at {addr} is not a manager of this swarm")
