"""Containers: create (and its validation), lifecycle, timing of kill/stop, logs, top, rename,
update, wait, remove."""

from __future__ import annotations

import time

import harness
from harness import Side

BB = {"Image": "busybox"}


def sleeper(d: Side, name: str, **extra: object) -> None:
    body = {**BB, "Cmd": ["sleep", "300"], **extra}
    r = d.raw("POST", f"/containers/create?name={name}", body)
    assert r.status == 201, r.body
    r = d.raw("POST", f"/containers/{name}/start")
    assert r.status == 204, r.body


def test_create_and_inspect(differ) -> None:
    def s(d: Side) -> None:
        d.call("create", "POST", "/containers/create?name=dc1", {**BB, "Cmd": ["true"]})
        d.call("inspect", "GET", "/containers/dc1/json")
        d.call("conflict", "POST", "/containers/create?name=dc1", BB)
        d.call("conflict-slash", "POST", "/containers/create?name=/dc1", BB)
        d.call("list-all", "GET", "/containers/json?all=1")
        d.call("list-running", "GET", "/containers/json")
        d.call("list-size", "GET", "/containers/json?all=1&size=1")
        d.call("inspect-size", "GET", "/containers/dc1/json?size=1")
        d.call("inspect-missing", "GET", "/containers/nosuch/json")
        d.call("start", "POST", "/containers/dc1/start", kind="none")
        d.call("wait", "POST", "/containers/dc1/wait")
        d.call("inspect-exited", "GET", "/containers/dc1/json")
        d.call("start-again", "POST", "/containers/dc1/start", kind="none")
        d.call("wait-again", "POST", "/containers/dc1/wait")
        d.call("rm", "DELETE", "/containers/dc1", kind="none")
        d.call("rm-again", "DELETE", "/containers/dc1")

    differ(s)


def test_create_bad_input(differ) -> None:
    bodies = {
        "no-image": {},
        "missing-image": {"Image": "nosuch/image:9"},
        "bad-ref": {"Image": "UPPER:case"},
        "cmd-number": {**BB, "Cmd": 5},
        "env-object": {**BB, "Env": {"A": "B"}},
        "hostconfig-string": {**BB, "HostConfig": "x"},
        "memory-string": {**BB, "HostConfig": {"Memory": "lots"}},
        "memory-float": {**BB, "HostConfig": {"Memory": 1.5}},
        "labels-list": {**BB, "Labels": ["a"]},
        "ipc-bogus": {**BB, "HostConfig": {"IpcMode": "bogus"}},
        "uts-bogus": {**BB, "HostConfig": {"UTSMode": "bogus"}},
        "cgroupns-bogus": {**BB, "HostConfig": {"CgroupnsMode": "bogus"}},
        "pid-bogus": {**BB, "HostConfig": {"PidMode": "bogus"}},
        "cpuset-bad": {**BB, "HostConfig": {"CpusetCpus": "abc"}},
        "cpuset-range": {**BB, "HostConfig": {"CpusetCpus": "5-2"}},
        "cpuset-mems-bad": {**BB, "HostConfig": {"CpusetMems": "x"}},
        "port-bad": {**BB, "ExposedPorts": {"abc/tcp": {}}},
        "port-binding-bad": {**BB, "HostConfig": {"PortBindings": {"80/tcp": [{"HostPort": "x"}]}}},
        "port-binding-proto": {
            **BB,
            "HostConfig": {"PortBindings": {"80/xyz": [{"HostPort": "1"}]}},
        },
        "restart-bogus": {**BB, "HostConfig": {"RestartPolicy": {"Name": "sometimes"}}},
        "restart-rm": {
            **BB,
            "HostConfig": {"AutoRemove": True, "RestartPolicy": {"Name": "always"}},
        },
        "network-mode-missing": {**BB, "HostConfig": {"NetworkMode": "nosuchnet"}},
        "bind-relative": {**BB, "HostConfig": {"Binds": ["rel:/x"]}},
        "bind-no-target": {**BB, "HostConfig": {"Binds": ["/tmp"]}},
        "mount-bad-type": {**BB, "HostConfig": {"Mounts": [{"Type": "nope", "Target": "/x"}]}},
        "mount-no-target": {**BB, "HostConfig": {"Mounts": [{"Type": "volume"}]}},
        "log-driver-bogus": {**BB, "HostConfig": {"LogConfig": {"Type": "bogus"}}},
        "cap-bogus": {**BB, "HostConfig": {"CapAdd": ["NOT_A_CAP"]}},
        "device-missing": {
            **BB,
            "HostConfig": {"Devices": [{"PathOnHost": "/dev/nosuch", "PathInContainer": "/dev/x"}]},
        },
        "memory-tiny": {**BB, "HostConfig": {"Memory": 1024}},
        "swap-without-memory": {**BB, "HostConfig": {"MemorySwap": 100000000}},
        "cpu-shares-negative": {**BB, "HostConfig": {"CpuShares": -5}},
        "nanocpus-and-period": {**BB, "HostConfig": {"NanoCpus": 1000000000, "CpuPeriod": 100000}},
        "oom-score-bad": {**BB, "HostConfig": {"OomScoreAdj": 5000}},
        "healthcheck-interval": {**BB, "Healthcheck": {"Test": ["CMD", "true"], "Interval": 5}},
        "shm-negative": {**BB, "HostConfig": {"ShmSize": -1}},
        "sysctl-bogus": {**BB, "HostConfig": {"Sysctls": {"kernel.bogus": "1"}}},
        "stopsignal-bogus": {**BB, "StopSignal": "SIGBOGUS"},
        "tmpfs-relative": {**BB, "HostConfig": {"Tmpfs": {"rel": ""}}},
        "volume-relative": {**BB, "Volumes": {"rel": {}}},
        "user-ok-numeric": {**BB, "User": "1000:1000"},
        "lowercase-fields": {"image": "busybox", "cmd": ["true"], "hostconfig": {"memory": 0}},
        "mixedcase-fields": {"IMAGE": "busybox", "CMD": ["true"]},
    }

    def s(d: Side) -> None:
        for label, body in bodies.items():
            d.call(label, "POST", f"/containers/create?name=bad-{label}", body)
        for label, raw in {
            "json-garbage": b"{not json",
            "json-empty": b"",
            "json-array": b"[]",
            "json-string": b'"x"',
            "json-null": b"null",
            "huge-int": b'{"Image":"busybox","HostConfig":{"Memory":1e400}}',
            "nan": b'{"Image":"busybox","HostConfig":{"Memory":NaN}}',
            "float-exp": b'{"Image":"busybox","HostConfig":{"Memory":1e3}}',
            "overflow": b'{"Image":"busybox","HostConfig":{"CpuShares":99999999999999999999}}',
            "deep": b'{"Image":"busybox","Labels":' + b'{"a":' * 1000 + b"1" + b"}" * 1001,
            "trailing": b'{"Image":"busybox"} x',
        }.items():
            d.call(label, "POST", f"/containers/create?name=raw-{label}", raw)
        for label, name in {
            "name-newline": "abc%0A",
            "name-space": "a%20b",
            "name-dot-start": ".abc",
            "name-one-char": "a",
            "name-slashes": "a%2Fb",
            "name-nul": "a%00b",
            "name-long": "x" * 300,
            "name-unicode": "%C3%A9t%C3%A9",
        }.items():
            d.call(label, "POST", f"/containers/create?name={name}", BB)
        d.call("name-repeated-query", "POST", "/containers/create?name=first1&name=second2", BB)
        d.call("inspect-first", "GET", "/containers/first1/json", kind="none")
        d.call("inspect-second", "GET", "/containers/second2/json", kind="none")
        d.call("unknown-field", "POST", "/containers/create?name=unk", {**BB, "Bogus": 1})
        d.call("lowercase-inspect", "GET", "/containers/bad-lowercase-fields/json")

    differ(s)


def test_lifecycle_and_timing(differ) -> None:
    def s(d: Side) -> None:
        sleeper(d, "lc1")
        d.call("start-running", "POST", "/containers/lc1/start", kind="none")
        d.call("stop-t-abc", "POST", "/containers/lc1/stop?t=abc")
        d.call("kill-999", "POST", "/containers/lc1/kill?signal=999")
        d.call("kill-bogus", "POST", "/containers/lc1/kill?signal=BOGUS")
        d.call("kill-num", "POST", "/containers/lc1/kill?signal=0", kind="none")
        d.call("pause", "POST", "/containers/lc1/pause", kind="none")
        d.call("pause-again", "POST", "/containers/lc1/pause")
        d.call("inspect-paused", "GET", "/containers/lc1/json")
        d.call("rm-paused", "DELETE", "/containers/lc1")
        d.call("start-paused", "POST", "/containers/lc1/start")
        d.call("stop-paused", "POST", "/containers/lc1/stop?t=1", kind="none")
        d.call("unpause-stopped", "POST", "/containers/lc1/unpause")
        d.call("stop-stopped", "POST", "/containers/lc1/stop", kind="none")
        d.call("kill-stopped", "POST", "/containers/lc1/kill")
        d.call("pause-stopped", "POST", "/containers/lc1/pause")
        d.call("restart-t-abc", "POST", "/containers/lc1/restart?t=abc")
        d.call("restart", "POST", "/containers/lc1/restart?t=1", kind="none")
        d.call("inspect-restarted", "GET", "/containers/lc1/json")
        d.call("rm-running", "DELETE", "/containers/lc1")
        d.call("kill", "POST", "/containers/lc1/kill", kind="none")
        st = d.json("GET", "/containers/lc1/json")["State"]
        d.note("state-right-after-kill", {k: st[k] for k in ("Status", "Running", "ExitCode")})
        d.call("rm-right-after-kill", "DELETE", "/containers/lc1", kind="none")
        sleeper(d, "lc2")
        d.call("stop-t1", "POST", "/containers/lc2/stop?t=1", kind="none")
        st = d.json("GET", "/containers/lc2/json")["State"]
        d.note("state-right-after-stop", {k: st[k] for k in ("Status", "Running", "ExitCode")})
        body = {**BB, "Cmd": ["sh", "-c", "trap 'exit 3' TERM; while :; do sleep 0.1; done"]}
        d.raw("POST", "/containers/create?name=lc3", body)
        d.raw("POST", "/containers/lc3/start")
        time.sleep(0.3)  # until its shell has set the trap (a PID 1 ignores TERM without one)
        d.call("kill-term", "POST", "/containers/lc3/kill?signal=SIGTERM", kind="none")
        d.call("kill-term-wait", "POST", "/containers/lc3/wait")
        d.call("rm-force-missing", "DELETE", "/containers/nosuch?force=1")
        d.call("rm-force-exited", "DELETE", "/containers/lc3?force=1", kind="none")
        d.call("wait-bad-condition", "POST", "/containers/lc2/wait?condition=bogus")
        d.call("wait-not-running", "POST", "/containers/lc2/wait?condition=not-running")
        d.call("wait-next-exit-missing", "POST", "/containers/nosuch/wait")

    differ(s)


def test_rename_update_resize(differ) -> None:
    def s(d: Side) -> None:
        sleeper(d, "ru1")
        d.raw("POST", "/containers/create?name=ru2", BB)
        d.call("rename-taken", "POST", "/containers/ru1/rename?name=ru2")
        d.call("rename-empty", "POST", "/containers/ru1/rename?name=")
        d.call("rename-bad", "POST", "/containers/ru1/rename?name=a%20b")
        d.call("rename-same", "POST", "/containers/ru1/rename?name=ru1")
        d.call("rename", "POST", "/containers/ru1/rename?name=ru3", kind="none")
        d.call("rename-missing", "POST", "/containers/nosuch/rename?name=x1")
        d.call("update", "POST", "/containers/ru3/update", {"CpuShares": 512})
        d.call(
            "update-memory",
            "POST",
            "/containers/ru3/update",
            {"Memory": 64 << 20, "MemorySwap": -1},
        )
        d.call("update-bad-type", "POST", "/containers/ru3/update", {"CpuShares": "x"})
        d.call(
            "update-restart",
            "POST",
            "/containers/ru3/update",
            {"RestartPolicy": {"Name": "always"}},
        )
        d.call("update-array", "POST", "/containers/ru3/update", b"[]")
        d.call("update-missing", "POST", "/containers/nosuch/update", {"CpuShares": 512})
        d.call("inspect-updated", "GET", "/containers/ru3/json")
        d.call("resize", "POST", "/containers/ru3/resize?h=10&w=20", kind="none")
        d.call("resize-abc", "POST", "/containers/ru3/resize?h=abc&w=20")
        d.call("resize-created", "POST", "/containers/ru2/resize?h=10&w=20")
        for label, query in (("top", ""), ("top-args", "?ps_args=-o%20pid,comm")):
            top = d.json("GET", f"/containers/ru3/top{query}")  # pids differ: shape only
            d.note(
                label,
                {
                    "Titles": top["Titles"],
                    "rows": len(top["Processes"]),
                    "row-width": len(top["Processes"][0]),
                },
            )
        d.call("top-created", "GET", "/containers/ru2/top")
        for label, path in (
            ("stats-oneshot", "/containers/ru3/stats?stream=0&one-shot=1"),
            ("stats-created", "/containers/ru2/stats?stream=0"),
        ):  # counters differ from one moment to the next: the shape is compared
            d.call(label, "GET", path, kind="none")
            d.note(f"{label}-shape", harness.shape(d.json("GET", path)))
        d.call("changes-created", "GET", "/containers/ru2/changes")
        d.call("export", "GET", "/containers/ru2/export", kind="tar")
        d.call("export-missing", "GET", "/containers/nosuch/export")

    differ(s)


def test_logs(differ) -> None:
    def s(d: Side) -> None:
        body = {
            **BB,
            "Cmd": ["sh", "-c", "echo out1; sleep 0.1; echo err1 >&2; sleep 0.1; echo out2"],
        }
        d.raw("POST", "/containers/create?name=lg1", body)
        d.raw("POST", "/containers/create?name=lg2", {**body, "Tty": True})
        for n in ("lg1", "lg2"):
            d.raw("POST", f"/containers/{n}/start")
            d.raw("POST", f"/containers/{n}/wait")
        d.call("logs", "GET", "/containers/lg1/logs?stdout=1&stderr=1", kind="stream")
        d.call("logs-stdout", "GET", "/containers/lg1/logs?stdout=1", kind="stream")
        d.call("logs-tail1", "GET", "/containers/lg1/logs?stdout=1&stderr=1&tail=1", kind="stream")
        d.call("logs-tail0", "GET", "/containers/lg1/logs?stdout=1&tail=0", kind="stream")
        d.call("logs-tail-abc", "GET", "/containers/lg1/logs?stdout=1&tail=abc", kind="stream")
        d.call("logs-tail-neg", "GET", "/containers/lg1/logs?stdout=1&tail=-3", kind="stream")
        d.call("logs-none", "GET", "/containers/lg1/logs")
        d.call("logs-since-bad", "GET", "/containers/lg1/logs?stdout=1&since=abc")
        d.call(
            "logs-until-future",
            "GET",
            "/containers/lg1/logs?stdout=1&until=9999999999",
            kind="stream",
        )
        d.call("logs-tty", "GET", "/containers/lg2/logs?stdout=1&stderr=1", kind="stream")
        d.call("logs-missing", "GET", "/containers/nosuch/logs?stdout=1")
        d.call(
            "logs-repeated", "GET", "/containers/lg1/logs?stdout=1&tail=1&tail=all", kind="stream"
        )

    differ(s)


def test_list_filters(differ) -> None:
    def s(d: Side) -> None:
        d.raw("POST", "/containers/create?name=lf1", {**BB, "Labels": {"a": "1"}})
        d.raw("POST", "/containers/create?name=lf2", {**BB, "Labels": {"a": "2", "b": ""}})
        for f in (
            '{"label":["a=1"]}',
            '{"label":{"b":true}}',
            '{"name":["lf"]}',
            '{"status":["created"]}',
            '{"status":["bogus"]}',
            '{"bogus":["x"]}',
            '{"exited":["abc"]}',
            '{"ancestor":["busybox"]}',
            '{"id":["nosuch"]}',
            "notjson",
            '{"label":"a=1"}',
            '{"before":["nosuch"]}',
        ):
            rows = d.raw("GET", f"/containers/json?all=1&filters={f}")
            obs = d.call(f"filter {f}", "GET", f"/containers/json?all=1&filters={f}", kind="none")
            rows = (
                d.json("GET", f"/containers/json?all=1&filters={f}") if obs["status"] == 200 else []
            )
            names = sorted(r["Names"][0] for r in rows)
            d.note(f"names {f}", names)
        d.call("limit-abc", "GET", "/containers/json?limit=abc")

    differ(s)


def _until_restarting(d: Side, name: str, restarts: int) -> None:
    """Wait until the container is between two runs of its restart policy, after at least
    `restarts` restarts (the back-off is then long enough to act in)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        doc = d.json("GET", f"/containers/{name}/json")
        if doc["State"]["Status"] == "restarting" and doc["RestartCount"] >= restarts:
            return
        time.sleep(0.02)
    raise AssertionError(f"{d.name}: {name} never stayed restarting")


def test_a_restarting_container(differ) -> None:
    """What dockerd answers while a restart policy waits to start a container again."""

    def s(d: Side) -> None:
        body = {**BB, "Cmd": ["false"], "HostConfig": {"RestartPolicy": {"Name": "always"}}}
        assert d.raw("POST", "/containers/create?name=rs1", body).status == 201
        assert d.raw("POST", "/containers/rs1/start").status == 204
        _until_restarting(d, "rs1", 4)
        d.call("pause-restarting", "POST", "/containers/rs1/pause")
        _until_restarting(d, "rs1", 4)
        d.call("rm-restarting", "DELETE", "/containers/rs1")
        d.raw("DELETE", "/containers/rs1?force=1")

    differ(s)


def test_links_rename_and_remove(differ) -> None:
    """Legacy links as dockerd's link index keeps them: renames of either side show in
    HostConfig.Links at once; a removed child leaves a dangling link."""

    def links(d: Side, label: str, ref: str) -> None:
        d.note(label, d.json("GET", f"/containers/{ref}/json")["HostConfig"]["Links"])

    def s(d: Side) -> None:
        sleeper(d, "lk-db")
        sleeper(d, "lk-app", HostConfig={"Links": ["lk-db:dbalias"]})
        links(d, "links", "lk-app")
        d.call("rename-child", "POST", "/containers/lk-db/rename?name=lk-db2", kind="none")
        links(d, "links-child-renamed", "lk-app")
        d.call("rename-parent", "POST", "/containers/lk-app/rename?name=lk-app2", kind="none")
        links(d, "links-parent-renamed", "lk-app2")
        d.call("rm-child", "DELETE", "/containers/lk-db2?force=1", kind="none")
        links(d, "links-dangling", "lk-app2")
        d.call("stop-parent", "POST", "/containers/lk-app2/stop?t=0", kind="none")
        d.call("start-dangling", "POST", "/containers/lk-app2/start")
        d.call("rm-link-dangling", "DELETE", "/containers/lk-app2/dbalias?link=1")
        links(d, "links-after-rm-link", "lk-app2")

    differ(s)
