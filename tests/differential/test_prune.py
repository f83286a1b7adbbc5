"""prune on every resource with dockerd's filters, on the same objects (issue 21)."""

from __future__ import annotations

import json
import time

from harness import Side
from test_containers import BB

# `until` compares creation times in whole seconds: a time in the past or future of every
# object keeps the scenario deterministic (one value for both daemons)
FUTURE = str(int(time.time()) + 86_400)


def _names(d: Side, path: str, key: str = "Names") -> list[str]:
    rows = d.json("GET", path)
    if isinstance(rows, dict):
        rows = rows.get("Volumes") or []
    return sorted((r[key][0] if isinstance(r[key], list) else r[key]).lstrip("/") for r in rows)


def test_container_prune_filters(differ) -> None:
    filters = [
        {"until": ["24h"]},
        {"until": [FUTURE]},
        {"until": ["abc"]},
        {"label!": ["keep=yes"]},
        {"label": ["keep=yes"]},
        {"label": ["keep"]},
        {"label!": ["keep"]},
        {"bogus": ["x"]},
        {"status": ["exited"]},
        {"dangling": ["true"]},
        {},
    ]

    def s(d: Side) -> None:
        for i, f in enumerate(filters):
            d.raw("POST", f"/containers/create?name=p{i}ran", {**BB, "Cmd": ["true"]})
            d.raw("POST", f"/containers/p{i}ran/start")
            d.raw("POST", f"/containers/p{i}ran/wait")
            for name, labels in (
                ("keep", {"keep": "yes"}),
                ("other", {"keep": "no"}),
                ("bare", {}),
            ):
                d.raw(
                    "POST",
                    f"/containers/create?name=p{i}{name}",
                    {**BB, "Cmd": ["true"], "Labels": labels},
                )
            obs = d.call(
                f"prune {json.dumps(f)}", "POST", f"/containers/prune?filters={json.dumps(f)}"
            )
            ok = obs["status"] == 200  # a refused prune notes None: the calls stay aligned
            d.note(f"left {json.dumps(f)}", _names(d, "/containers/json?all=1") if ok else None)
            d.raw("POST", "/containers/prune")

    differ(s)


def test_volume_prune_filters(differ) -> None:
    filters = [
        {"label": ["keep=yes"]},
        {"label!": ["keep=yes"]},
        {"label!": ["keep"]},
        {"all": ["true"]},
        {"all": ["maybe"]},
        {"until": ["24h"]},
        {"bogus": ["x"]},
        {},
    ]

    def s(d: Side) -> None:
        for i, f in enumerate(filters):
            for name, labels in (("keep", {"keep": "yes"}), ("other", {"keep": "no"})):
                d.raw("POST", "/volumes/create", {"Name": f"v{i}{name}", "Labels": labels})
            d.raw("POST", "/containers/create?name=vol-anon", {**BB, "Volumes": {"/anon": {}}})
            d.raw("DELETE", "/containers/vol-anon")
            obs = d.call(
                f"prune {json.dumps(f)}", "POST", f"/volumes/prune?filters={json.dumps(f)}"
            )
            left = [v for v in _names(d, "/volumes", "Name") if len(v) < 64]
            d.note(f"left {json.dumps(f)}", left if obs["status"] == 200 else None)
            for v in (d.json("GET", "/volumes") or {}).get("Volumes") or []:
                d.raw("DELETE", f"/volumes/{v['Name']}")

    differ(s)


def test_network_and_image_prune_filters(differ) -> None:
    net_filters = [
        {"until": ["24h"]},
        {"until": [FUTURE]},
        {"label": ["keep=yes"]},
        {"label!": ["keep=yes"]},
        {"bogus": ["x"]},
        {"dangling": ["true"]},
        {},
    ]
    img_filters = [  # (not dangling=false: dockerd 20.10 then untags even images in use)
        {"dangling": ["true"]},
        {"dangling": ["maybe"]},
        {"label": ["keep=yes"]},
        {"until": ["24h"]},
        {"bogus": ["x"]},
    ]

    def s(d: Side) -> None:
        for i, f in enumerate(net_filters):
            for name, labels in (("keep", {"keep": "yes"}), ("other", {"keep": "no"})):
                d.raw("POST", "/networks/create", {"Name": f"n{i}{name}", "Labels": labels})
            obs = d.call(
                f"network prune {json.dumps(f)}", "POST", f"/networks/prune?filters={json.dumps(f)}"
            )
            left = [
                n for n in _names(d, "/networks", "Name") if n not in ("bridge", "host", "none")
            ]
            d.note(f"networks left {json.dumps(f)}", left if obs["status"] == 200 else None)
            d.raw("POST", "/networks/prune")
        d.raw("POST", "/containers/create?name=holder", BB)  # busybox stays in use
        for i, f in enumerate(img_filters):
            d.raw("POST", f"/images/busybox/tag?repo=keep{i}&tag=1")
            d.raw("POST", "/containers/create?name=imgsrc", {**BB, "Labels": {"keep": "yes"}})
            d.raw("POST", "/commit?container=imgsrc", {"Labels": {"keep": "yes"}})
            d.raw("DELETE", "/containers/imgsrc")
            obs = d.call(
                f"image prune {json.dumps(f)}", "POST", f"/images/prune?filters={json.dumps(f)}"
            )
            rows = d.json("GET", "/images/json?all=1")
            left = sorted(t for r in rows for t in (r.get("RepoTags") or ["<none>"]))
            d.note(f"images left {json.dumps(f)}", left if obs["status"] == 200 else None)
            d.raw("DELETE", f"/images/keep{i}:1")

    differ(s)
