"""A lean client of the Docker Engine API (wharfied, or any dockerd).

HTTP/1.1 over a raw socket: no http.client, urllib or email (their imports
cost more than a whole `wharfie ps`). Used by the `wharfie` CLI, the test
suite and compose.
"""

from __future__ import annotations

from wharfie.client.api import (
    DEFAULT_HOST,
    MAX_API_VERSION,
    APIError,
    Client,
    FrameSplitter,
    HijackedSocket,
    Response,
    TLSConfig,
    default_host,
    demux,
)

__all__ = [
    "DEFAULT_HOST",
    "MAX_API_VERSION",
    "APIError",
    "Client",
    "FrameSplitter",
    "HijackedSocket",
    "Response",
    "TLSConfig",
    "default_host",
    "demux",
]
