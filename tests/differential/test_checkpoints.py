"""Checkpoints on a daemon without --experimental: dockerd's 501 on the checkpoint routes, its
400 on `start?checkpoint=` (the dockerd here speaks 1.41: no HostConfig.Annotations to compare)."""

from __future__ import annotations

from harness import Side

BB = {"Image": "busybox"}


def test_checkpoints_without_experimental(differ) -> None:
    def s(d: Side) -> None:
        d.call("create", "POST", "/containers/create?name=dcp1", {**BB, "Cmd": ["true"]})
        d.call("list", "GET", "/containers/dcp1/checkpoints")
        d.call("list-unknown", "GET", "/containers/nosuch/checkpoints")
        d.call("create-cp", "POST", "/containers/dcp1/checkpoints", {"CheckpointID": "c1"})
        d.call("delete-cp", "DELETE", "/containers/dcp1/checkpoints/c1")
        d.call("start-cp", "POST", "/containers/dcp1/start?checkpoint=c1")
        d.call("start-cp-unknown", "POST", "/containers/nosuch/start?checkpoint=c1")

    differ(s)
