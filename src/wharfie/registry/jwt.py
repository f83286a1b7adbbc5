"""A small JWT (RFC 7519) with HS256, for the built-in token endpoint (pure).

Only what the registry needs: sign a claims set with a shared secret, and verify a
token's signature, algorithm, time window, issuer and audience.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

from wharfie.errors import InvalidArgument


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError) as exc:
        raise InvalidArgument(f"token: bad base64url: {exc}") from exc


def encode(claims: dict[str, Any], secret: bytes, kid: str | None = None) -> str:
    header: dict[str, str] = {"typ": "JWT", "alg": "HS256"}
    if kid:
        header["kid"] = kid
    head = _b64(json.dumps(header, separators=(",", ":")).encode())
    body = _b64(json.dumps(claims, separators=(",", ":")).encode())
    signing = f"{head}.{body}".encode()
    return f"{head}.{body}.{_b64(hmac.new(secret, signing, hashlib.sha256).digest())}"


def decode(
    token: str,
    secret: bytes,
    issuer: str,
    audience: str,
    now: float | None = None,
    leeway: float = 60,
) -> dict[str, Any]:
    """The claims of a valid token; InvalidArgument with the reason otherwise."""
    parts = token.split(".")
    if len(parts) != 3:
        raise InvalidArgument("token: not a JWS compact serialization")
    try:
        header = json.loads(_unb64(parts[0]))
        claims = json.loads(_unb64(parts[1]))
    except ValueError as exc:
        raise InvalidArgument(f"token: bad JSON: {exc}") from exc
    if not isinstance(header, dict) or header.get("alg") != "HS256":
        raise InvalidArgument("token: algorithm must be HS256")
    want = hmac.new(secret, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(want, _unb64(parts[2])):
        raise InvalidArgument("token: bad signature")
    if not isinstance(claims, dict):
        raise InvalidArgument("token: claims are not an object")
    _check_claims(claims, issuer, audience, time.time() if now is None else now, leeway)
    return claims


def _check_claims(
    claims: dict[str, Any], issuer: str, audience: str, now: float, leeway: float
) -> None:
    if claims.get("iss") != issuer:
        raise InvalidArgument("token: wrong issuer")
    aud = claims.get("aud")
    if aud != audience and not (isinstance(aud, list) and audience in aud):
        raise InvalidArgument("token: wrong audience")
    exp, nbf = claims.get("exp"), claims.get("nbf", 0)
    if not isinstance(exp, (int, float)) or now > exp + leeway:
        raise InvalidArgument("token: expired")
    if not isinstance(nbf, (int, float)) or now + leeway < nbf:
        raise InvalidArgument("token: not valid yet")
