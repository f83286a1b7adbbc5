"""Counters for `/metrics`, in the Prometheus text exposition format (version 0.0.4)."""

from __future__ import annotations

import threading


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, str, int], int] = {}
        self.duration: dict[tuple[str, str], tuple[float, int]] = {}
        self.bytes_in = 0
        self.bytes_out = 0
        self.in_flight = 0
        self.events: dict[str, int] = {}

    def begin(self) -> None:
        with self._lock:
            self.in_flight += 1

    def end(
        self, method: str, route: str, status: int, seconds: float, bytes_in: int, bytes_out: int
    ) -> None:
        with self._lock:
            self.in_flight -= 1
            key = (method, route, status)
            self.requests[key] = self.requests.get(key, 0) + 1
            total, count = self.duration.get((method, route), (0.0, 0))
            self.duration[(method, route)] = (total + seconds, count + 1)
            self.bytes_in += bytes_in
            self.bytes_out += bytes_out

    def count(self, event: str) -> None:
        with self._lock:
            self.events[event] = self.events.get(event, 0) + 1

    def render(self) -> str:
        with self._lock:
            return "".join(self._lines())

    def _lines(self) -> list[str]:
        p = "wharfie_registry"
        out = [
            f"# HELP {p}_http_requests_total HTTP requests by method, route and status.\n",
            f"# TYPE {p}_http_requests_total counter\n",
        ]
        for (m, r, s), n in sorted(self.requests.items()):
            out.append(f'{p}_http_requests_total{{method="{m}",route="{r}",code="{s}"}} {n}\n')
        out += [
            f"# HELP {p}_http_request_duration_seconds Time spent serving requests.\n",
            f"# TYPE {p}_http_request_duration_seconds summary\n",
        ]
        for (m, r), (total, count) in sorted(self.duration.items()):
            labels = f'method="{m}",route="{r}"'
            out.append(f"{p}_http_request_duration_seconds_sum{{{labels}}} {total:.6f}\n")
            out.append(f"{p}_http_request_duration_seconds_count{{{labels}}} {count}\n")
        for name, value, help_text in (
            ("received_bytes_total", self.bytes_in, "Request body bytes received."),
            ("sent_bytes_total", self.bytes_out, "Response body bytes sent."),
        ):
            out += [
                f"# HELP {p}_{name} {help_text}\n",
                f"# TYPE {p}_{name} counter\n",
                f"{p}_{name} {value}\n",
            ]
        out += [
            f"# HELP {p}_http_requests_in_flight Requests being served.\n",
            f"# TYPE {p}_http_requests_in_flight gauge\n",
            f"{p}_http_requests_in_flight {self.in_flight}\n",
            f"# HELP {p}_events_total Storage events (blob pushes, mounts, deletes).\n",
            f"# TYPE {p}_events_total counter\n",
        ]
        for event, n in sorted(self.events.items()):
            out.append(f'{p}_events_total{{event="{event}"}} {n}\n')
        return out
