"""Registry errors with Docker's wording."""

from __future__ import annotations

import json

from wharfie.errors import FailedPrecondition, NotFound, Unavailable


class Unauthorized(FailedPrecondition):
    """401 from a registry (the API answers 401 where it can, as moby does)."""


def registry_message(body: bytes, status: int, reason: str) -> str:
    """ "manifest unknown: manifest unknown" from a registry's {"errors": [...]} body."""
    try:
        obj = json.loads(body or b"{}")
    except ValueError:
        obj = {}
    errs = obj.get("errors") if isinstance(obj, dict) else None
    if isinstance(errs, list) and errs:
        parts = []
        for e in errs:
            if not isinstance(e, dict):
                continue
            code = str(e.get("code") or "unknown").lower().replace("_", " ")
            msg = str(e.get("message") or "")
            parts.append(f"{code}: {msg}" if msg else code)
        if parts:
            return ", ".join(parts)
    if status == 401:
        return "unauthorized: authentication required"
    if status == 404:
        return "not found"
    return f"unexpected status code {status} {reason}".strip()


def for_status(status: int, text: str) -> Exception:
    if status == 401 or status == 403:
        return Unauthorized(text)
    if status == 404:
        return NotFound(text)
    return Unavailable(text)
