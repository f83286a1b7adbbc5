"""System routes: ping, version, info, df, events, unknown routes, version negotiation."""

from __future__ import annotations

from harness import Side


def test_ping_and_negotiation(differ) -> None:
    def s(d: Side) -> None:
        d.call("ping", "GET", "!/_ping", kind="text")
        d.call("ping-head", "HEAD", "!/_ping", kind="none")
        d.call("ping-versioned", "GET", "/_ping", kind="text")
        d.call("too-old", "GET", "!/v1.11/version")
        d.call("no-route", "GET", "/nosuch")
        d.call("wrong-method", "DELETE", "/containers/json")

    differ(s)


def test_system_and_swarm(differ) -> None:
    def s(d: Side) -> None:
        info = d.json("GET", "/info")
        d.note("info-keys", sorted(info))
        ver = d.json("GET", "/version")
        d.note("version-keys", sorted(ver))
        df = d.json("GET", "/system/df")
        d.note("df-keys", sorted(df))
        for path in (
            "/swarm",
            "/nodes",
            "/services",
            "/tasks",
            "/secrets",
            "/configs",
            "/swarm/unlockkey",
            "/nodes/x",
            "/services/x",
            "/tasks/x",
            "/secrets/x",
            "/configs/x",
        ):
            d.call(f"GET {path}", "GET", path)
        for path in (
            "/swarm/leave",
            "/services/create",
            "/secrets/create",
            "/configs/create",
            "/swarm/update?version=1",
            "/swarm/unlock",
        ):
            d.call(f"POST {path}", "POST", path, {})
        d.call("plugins", "GET", "/plugins")
        d.call("distribution-missing", "GET", "/distribution/127.0.0.1:9/x:1/json", timeout=60)
        d.call("events-bad-filter", "GET", '/events?filters={"bogus":["x"]}&until=1')
        d.call("events-bad-since", "GET", "/events?since=abc&until=1")
        d.call("events-since-after-until", "GET", "/events?since=20&until=10")

    differ(s)


def test_events(differ) -> None:
    def s(d: Side) -> None:
        import time

        start = int(time.time())
        d.raw("POST", "/containers/create?name=ev1", {"Image": "busybox", "Cmd": ["true"]})
        d.raw("POST", "/containers/ev1/start")
        d.raw("POST", "/containers/ev1/wait")
        d.raw("DELETE", "/containers/ev1")
        d.raw("POST", "/volumes/create", {"Name": "evv"})
        d.raw("DELETE", "/volumes/evv")
        time.sleep(0.2)
        end = int(time.time()) + 1
        r = d.raw("GET", f"/events?since={start}&until={end}", timeout=10)
        import json

        ours = ("ev1", "evv")
        events = [json.loads(x) for x in r.body.splitlines() if x.strip()]
        events = [
            e
            for e in events
            if e["Actor"]["Attributes"].get("name") in ours or e["Actor"]["ID"] in ours
        ]
        d.note(
            "events",
            [(e["Type"], e["Action"]) for e in events if e["Type"] in ("container", "volume")],
        )
        d.note("event-keys", sorted({k for e in events for k in e}))
        d.note(
            "event-actor-attrs",
            sorted(
                {k for e in events if e["Type"] == "container" for k in e["Actor"]["Attributes"]}
            ),
        )
        r = d.raw("GET", f'/events?since={start}&until={end}&filters={{"type":["volume"]}}')
        events = [json.loads(x) for x in r.body.splitlines() if x.strip()]
        events = [e for e in events if e["Actor"]["ID"] in ours]
        d.note("events-volume-only", [(e["Type"], e["Action"]) for e in events])

    differ(s)
