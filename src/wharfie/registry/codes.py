"""The distribution spec's error codes, and the error that carries one to the client.

Every failure a client can see is a `RegistryError`: an HTTP status plus the spec's
JSON body `{"errors": [{"code", "message", "detail"}]}`.
"""

from __future__ import annotations

import json
from typing import Any

from wharfie.errors import WharfieError

# code -> (HTTP status, default message), as in the OCI distribution spec's table
CODES: dict[str, tuple[int, str]] = {
    "BLOB_UNKNOWN": (404, "blob unknown to registry"),
    "BLOB_UPLOAD_INVALID": (400, "blob upload invalid"),
    "BLOB_UPLOAD_UNKNOWN": (404, "blob upload unknown to registry"),
    "DIGEST_INVALID": (400, "provided digest did not match uploaded content"),
    "MANIFEST_BLOB_UNKNOWN": (400, "manifest references a manifest or blob unknown to registry"),
    "MANIFEST_INVALID": (400, "manifest invalid"),
    "MANIFEST_UNKNOWN": (404, "manifest unknown to registry"),
    "NAME_INVALID": (400, "invalid repository name"),
    "NAME_UNKNOWN": (404, "repository name not known to registry"),
    "SIZE_INVALID": (400, "provided length did not match content length"),
    "UNAUTHORIZED": (401, "authentication required"),
    "DENIED": (403, "requested access to the resource is denied"),
    "UNSUPPORTED": (405, "the operation is unsupported"),
    "TOOMANYREQUESTS": (429, "too many requests"),
    "RANGE_INVALID": (416, "invalid content range"),
    "TAG_INVALID": (400, "manifest tag did not match URI"),
    "PAGINATION_NUMBER_INVALID": (400, "invalid number of results requested"),
    "MANIFEST_TOO_BIG": (413, "manifest too big"),
    "UNKNOWN": (500, "unknown error"),
}


class RegistryError(WharfieError):
    """A spec error: `code` from CODES, a message, optional detail, its HTTP status."""

    def __init__(
        self, code: str, message: str = "", detail: Any = None, status: int | None = None
    ) -> None:
        default_status, default_message = CODES[code]
        super().__init__(message or default_message)
        self.code = code
        self.message = message or default_message
        self.detail = detail
        self.status = status or default_status

    def body(self) -> bytes:
        entry: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.detail is not None:
            entry["detail"] = self.detail
        return json.dumps({"errors": [entry]}).encode()
