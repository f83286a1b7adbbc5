"""Docker's JSON progress messages (pure)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

Progress = Callable[[dict[str, Any]], None]


def short_id(digest: str) -> str:
    return digest.removeprefix("sha256:")[:12]


def status(text: str, ident: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {"status": text}
    if ident:
        out["id"] = ident
    return out


def detail(text: str, ident: str) -> dict[str, Any]:
    return {"status": text, "progressDetail": {}, "id": ident}


def human(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.3g}{unit}" if unit != "B" else f"{int(n)}B"
        n /= 1000
    return f"{n}B"


def bar(current: int, total: int, width: int = 50) -> str:
    """Docker's "[=====>     ]  1.2MB/3.4MB"."""
    if total <= 0:
        return f"{human(current):>8}"
    filled = min(width, int(width * current / total))
    arrow = ">" if filled < width else ""
    body = "=" * max(0, filled - (1 if arrow else 0)) + arrow
    return f"[{body:<{width}}] {human(current):>8}/{human(total)}"


def moving(text: str, ident: str, current: int, total: int) -> dict[str, Any]:
    return {
        "status": text,
        "progressDetail": {"current": current, "total": total},
        "progress": bar(current, total),
        "id": ident,
    }


class Throttle:
    """Lets a progress update through at most every `interval` seconds (and the last)."""

    def __init__(self, interval: float = 0.1) -> None:
        self.interval = interval
        self.last = 0.0

    def ready(self, final: bool = False) -> bool:
        now = time.monotonic()
        if final or now - self.last >= self.interval:
            self.last = now
            return True
        return False
