"""system df counts shared layers once and reports each image's shared part; prune frees
what nothing uses (layers, tar-split indexes and blobs)."""

from __future__ import annotations

import docker
from test_distribution import ok, unique_image

from support.daemon import Daemon, docker_cli


def test_df_shared_and_unique_sizes_and_prune(daemon: Daemon, name: str) -> None:
    unique_image(daemon, f"{name}:base")
    ok(
        docker_cli(
            daemon,
            "run",
            "--name",
            name,
            "--network",
            "none",
            f"{name}:base",
            "/bin/busybox",
            "sh",
            "-c",
            "/bin/busybox dd if=/dev/zero of=/blob bs=1k count=64 2>/dev/null",
        )
    )
    ok(docker_cli(daemon, "commit", name, f"{name}:child"))
    ok(docker_cli(daemon, "rm", name))
    api = docker.APIClient(base_url=daemon.host)
    df = api.df()
    rows = {i["RepoTags"][0]: i for i in df["Images"] if i["RepoTags"]}
    base, child = rows[f"{name}:base"], rows[f"{name}:child"]
    assert base["SharedSize"] == base["Size"]
    assert child["SharedSize"] == base["Size"] and child["Size"] > base["Size"]
    total_sizes = sum(i["Size"] for i in df["Images"])
    assert df["LayersSize"] < total_sizes  # the shared base is counted once
    out = ok(docker_cli(daemon, "system", "df"))
    assert "Images" in out
    ok(docker_cli(daemon, "rmi", f"{name}:child", f"{name}:base"))
    df2 = api.df()
    assert df2["LayersSize"] <= df["LayersSize"] - child["Size"]
