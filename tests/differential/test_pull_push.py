"""Pull and push against a real registry on loopback: where errors appear (status vs stream)
and what the progress stream says."""

from __future__ import annotations

import base64

from harness import Side

AUTH = {"X-Registry-Auth": base64.urlsafe_b64encode(b"{}").decode()}


def _statuses(obs: dict) -> list:
    """The stream's status lines without progress details and ids (layer ids differ)."""
    out = []
    for line in obs.get("body") or []:
        if "error" in line:
            out.append({"error": line["error"]})
        elif "status" in line and "id" not in line:
            out.append(line["status"])
    return out


def test_pull_and_push(differ, registry) -> None:
    repo = f"{registry.addr}/diff/bb"

    def s(d: Side) -> None:
        d.raw("POST", f"/images/busybox/tag?repo={repo}&tag=t1")
        r = d.raw("POST", f"/images/{repo}/push?tag=t1", headers=AUTH, timeout=120)
        d.note("push-status", r.status)
        d.call(
            "push-missing", "POST", f"/images/{repo}/push?tag=nosuch", headers=AUTH, kind="lines"
        )
        d.raw("DELETE", f"/images/{repo}:t1")
        obs = d.raw("POST", f"/images/create?fromImage={repo}&tag=t1", timeout=120)
        d.note("pull-status", obs.status)
        import json

        lines = [json.loads(x) for x in obs.body.splitlines() if x.strip()]
        d.note("pull-final", _statuses({"body": lines})[-1:])
        d.call(
            "pull-missing-tag",
            "POST",
            f"/images/create?fromImage={repo}&tag=nosuch",
            kind="lines",
            timeout=60,
        )
        d.call(
            "pull-missing-repo",
            "POST",
            f"/images/create?fromImage={registry.addr}/diff/nosuch&tag=1",
            kind="lines",
            timeout=60,
        )
        d.call("inspect-pulled", "GET", f"/images/{repo}:t1/json", kind="none")

    differ(s)
