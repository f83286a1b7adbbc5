"""The dashboard: a web UI served by wharfied on its own listener (see docs/dashboard.md).

`Dashboard(engine, api_router, state_path=..., address=..., tls=...)` owns the
listener; `register(api_router)` adds `POST /wharfie/dashboard` (start it, answer its
URL) to the Engine API; `start()` and `close()`.
"""

from __future__ import annotations

from wharfie.dashboard.server import Dashboard, check_address

__all__ = ["Dashboard", "check_address"]
