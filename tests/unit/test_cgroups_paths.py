"""cgroup layout detection, cgroupsPath resolution and from_paths (pure, no root)."""

from __future__ import annotations

import pytest

from wharfie.cgroups import Hierarchy, for_container, from_paths
from wharfie.cgroups._mounts import Layout, parse_mountinfo, parse_proc_cgroup
from wharfie.cgroups._paths import inner_path
from wharfie.errors import InvalidArgument, Unavailable

# This host's /proc/self/mountinfo (Debian 12 VM, hybrid, no systemd).
HYBRID = """\
22 1 253:0 / / rw,relatime - ext4 /dev/vda rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""
HYBRID_SELF = """\
9:name=systemd:/
8:pids:/
7:blkio:/
6:freezer:/
5:devices:/
4:memory:/process_api/6c93a65c
3:cpuset:/
2:cpuacct:/
1:cpu:/
0::/
"""

# A systemd-era v1 host: combined mounts, named hierarchy with extra options.
V1_SYSTEMD = """\
25 18 0:22 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
26 25 0:23 / /sys/fs/cgroup/systemd rw,nosuid shared:10 - cgroup cgroup rw,xattr,release_agent=/lib/systemd/systemd-cgroups-agent,name=systemd
29 25 0:26 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:13 - cgroup cgroup rw,cpu,cpuacct
30 25 0:27 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid shared:14 - cgroup cgroup rw,net_cls,net_prio
31 25 0:28 / /sys/fs/cgroup/memory rw,nosuid shared:15 - cgroup cgroup rw,memory
32 25 0:29 / /sys/fs/cgroup/cpuset rw,nosuid shared:16 - cgroup cgroup rw,cpuset,clone_children
"""  # noqa: E501
V1_SELF = """\
11:memory:/user.slice
4:cpu,cpuacct:/user.slice
3:net_cls,net_prio:/
2:cpuset:/
1:name=systemd:/user.slice/user-0.slice/session-1.scope
"""

V2 = """\
24 18 0:21 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
"""  # noqa: E501
V2_SELF = "0::/user.slice/user-0.slice/session-1.scope\n"


# -- inner_path --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("/wharfie/abc", "/wharfie/abc"),
        ("/a//b/./c/", "/a/b/c"),
        ("/a/../b", "/b"),
        ("rel/x", "rel/x"),
        ("./rel/../y", "y"),
        ("system.slice:runc:abc", "system.slice:runc:abc"),  # cgroupfs: just a name
    ],
)
def test_inner_path_normalises(given: str, expected: str) -> None:
    assert inner_path(given, "id") == expected


@pytest.mark.parametrize("empty", [None, ""])
def test_empty_cgroups_path_is_the_id_relative_like_runc(empty: str | None) -> None:
    assert inner_path(empty, "abc123") == "abc123"


@pytest.mark.parametrize("bad", ["/..", "/a/../../b", "../x", "a/../../x", "/../../etc"])
def test_escaping_paths_are_refused_naming_the_field(bad: str) -> None:
    with pytest.raises(InvalidArgument, match=r"linux\.cgroupsPath: .* escapes the cgroup root"):
        inner_path(bad, "id")


@pytest.mark.parametrize("root", ["/", "//", "/.", "a/..", "."])
def test_the_root_itself_is_refused(root: str) -> None:
    with pytest.raises(InvalidArgument, match=r"linux\.cgroupsPath: .* root cgroup itself"):
        inner_path(root, "id")


def test_nul_and_newline_are_refused() -> None:
    with pytest.raises(InvalidArgument, match=r"linux\.cgroupsPath"):
        inner_path("/a\nb", "id")


@pytest.mark.parametrize("bad_id", ["", "a/b", ".", ".."])
def test_default_path_needs_a_usable_id(bad_id: str) -> None:
    with pytest.raises(InvalidArgument, match="container id"):
        inner_path(None, bad_id)


# -- mountinfo ---------------------------------------------------------------------------


def test_parse_mountinfo_keeps_cgroup_mounts_with_controllers() -> None:
    mounts = parse_mountinfo(V1_SYSTEMD)
    assert [(m.mountpoint, m.options) for m in mounts] == [
        ("/sys/fs/cgroup/systemd", "name=systemd"),
        ("/sys/fs/cgroup/cpu,cpuacct", "cpu,cpuacct"),
        ("/sys/fs/cgroup/net_cls,net_prio", "net_cls,net_prio"),
        ("/sys/fs/cgroup/memory", "memory"),
        ("/sys/fs/cgroup/cpuset", "cpuset"),
    ]


def test_parse_mountinfo_unescapes_and_reads_the_mount_root() -> None:
    text = "50 31 0:40 /docker/abc /tmp/my\\040dir rw - cgroup cgroup rw,memory\n"
    (m,) = parse_mountinfo(text)
    assert (m.mountpoint, m.root, m.fstype, m.controllers) == (
        "/tmp/my dir",
        "/docker/abc",
        "cgroup",
        ("memory",),
    )


def test_layout_kinds() -> None:
    assert Layout("/sys/fs/cgroup", parse_mountinfo(HYBRID)).kind == "hybrid"
    assert Layout("/sys/fs/cgroup", parse_mountinfo(V1_SYSTEMD)).kind == "v1"
    assert Layout("/sys/fs/cgroup", parse_mountinfo(V2)).kind == "v2"


def test_layout_ignores_cgroup_mounts_elsewhere() -> None:
    text = V1_SYSTEMD + "90 1 0:60 / /run/lxcfs/controllers/pids rw - cgroup cgroup rw,pids\n"
    layout = Layout("/sys/fs/cgroup", parse_mountinfo(text))
    assert "pids" not in [m.options for m in layout.v1]


def test_layout_without_cgroups_is_unavailable() -> None:
    with pytest.raises(Unavailable, match="no cgroup filesystem"):
        Layout("/sys/fs/cgroup", parse_mountinfo("22 1 253:0 / / rw - ext4 /dev/vda rw\n"))


def test_later_mounts_win_over_earlier_ones_at_the_same_place() -> None:
    text = HYBRID + "99 31 0:90 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids,hugetlb\n"
    layout = Layout("/sys/fs/cgroup", parse_mountinfo(text))
    assert layout.v1_mount("pids,hugetlb") is not None
    assert layout.v1_mount("pids") is None


def test_parse_proc_cgroup_splits_combined_controllers() -> None:
    own = parse_proc_cgroup(V1_SELF + "0::/\n")
    assert own["cpu"] == own["cpuacct"] == "/user.slice"
    assert own["name=systemd"] == "/user.slice/user-0.slice/session-1.scope"
    assert own[""] == "/"


# -- for_container: which directories ----------------------------------------------------


def hybrid(path: str | None, cid: str = "abc") -> dict[str, str]:
    return for_container(path, cid, mountinfo=HYBRID, self_cgroup=HYBRID_SELF).paths


def test_absolute_path_is_below_every_mount_point() -> None:
    paths = hybrid("/wharfie/abc")
    assert paths["memory"] == "/sys/fs/cgroup/memory/wharfie/abc"
    assert paths["name=systemd"] == "/sys/fs/cgroup/systemd/wharfie/abc"
    assert paths[""] == "/sys/fs/cgroup/unified/wharfie/abc"
    assert len(paths) == 10


def test_relative_path_is_below_our_own_cgroup_per_hierarchy() -> None:
    # runc 1.1.5, cgroupsPath "wharfie-rel/y", from a process in memory:/process_api/<x>:
    #   memory:/process_api/<x>/wharfie-rel/y, every other line /wharfie-rel/y, 0::/wharfie-rel/y
    paths = hybrid("wharfie-rel/y")
    assert paths["memory"] == "/sys/fs/cgroup/memory/process_api/6c93a65c/wharfie-rel/y"
    assert paths["pids"] == "/sys/fs/cgroup/pids/wharfie-rel/y"
    assert paths[""] == "/sys/fs/cgroup/unified/wharfie-rel/y"


def test_empty_path_is_the_id_below_our_own_cgroup() -> None:
    # runc 1.1.5 without cgroupsPath: memory:/process_api/<x>/<id>, others /<id>, 0::/<id>
    paths = hybrid(None, "wharfie-exp1")
    assert paths["memory"] == "/sys/fs/cgroup/memory/process_api/6c93a65c/wharfie-exp1"
    assert paths["cpu"] == "/sys/fs/cgroup/cpu/wharfie-exp1"
    assert paths[""] == "/sys/fs/cgroup/unified/wharfie-exp1"


def test_hybrid_hierarchies_list_unified_as_cgroup2() -> None:
    cg = for_container("/w/abc", "abc", mountinfo=HYBRID)
    assert cg.hierarchies()[-1] == Hierarchy(
        "unified", "cgroup2", "", "/sys/fs/cgroup/unified/w/abc", "/w/abc"
    )
    systemd = next(h for h in cg.hierarchies() if h.options == "name=systemd")
    assert (systemd.name, systemd.fstype, systemd.relpath) == ("systemd", "cgroup", "/w/abc")
    assert type(cg).__name__ == "HybridCgroup"


def test_v1_combined_mounts_are_one_hierarchy() -> None:
    cg = for_container("rel", "x", mountinfo=V1_SYSTEMD, self_cgroup=V1_SELF)
    assert type(cg).__name__ == "V1Cgroup"
    by_options = {h.options: h for h in cg.hierarchies()}
    cpu = by_options["cpu,cpuacct"]
    assert (cpu.name, cpu.path) == ("cpu,cpuacct", "/sys/fs/cgroup/cpu,cpuacct/user.slice/rel")
    assert by_options["net_cls,net_prio"].relpath == "/rel"
    assert by_options["name=systemd"].relpath == "/user.slice/user-0.slice/session-1.scope/rel"


def test_v2_relative_path_uses_the_parent_of_our_cgroup_like_runc() -> None:
    cg = for_container("rel", "x", mountinfo=V2, self_cgroup=V2_SELF)
    assert type(cg).__name__ == "V2Cgroup"
    assert cg.hierarchies() == [
        Hierarchy(
            "",
            "cgroup2",
            "",
            "/sys/fs/cgroup/user.slice/user-0.slice/rel",
            "/user.slice/user-0.slice/rel",
        )
    ]


def test_v2_absolute_path() -> None:
    cg = for_container("/wharfie/abc", "abc", mountinfo=V2)
    assert cg.paths == {"": "/sys/fs/cgroup/wharfie/abc"}


def test_relative_path_respects_a_mount_root() -> None:
    text = "40 31 0:40 /docker/outer /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
    own = "4:memory:/docker/outer/inner\n"
    cg = for_container("c1", "c1", mountinfo=text, self_cgroup=own)
    assert cg.paths == {"memory": "/sys/fs/cgroup/memory/inner/c1"}


def test_relative_path_outside_the_mount_root_is_unavailable() -> None:
    text = "40 31 0:40 /docker/outer /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
    with pytest.raises(Unavailable, match="outside the hierarchy"):
        for_container("c1", "c1", mountinfo=text, self_cgroup="4:memory:/elsewhere\n")


def test_relative_path_needs_our_own_cgroup_listed() -> None:
    with pytest.raises(Unavailable, match="needs our own blkio cgroup"):
        for_container("c1", "c1", mountinfo=HYBRID, self_cgroup="0::/\n")


def test_custom_root(tmp_path: object) -> None:
    text = "40 31 0:40 / /tmp/fake/memory rw - cgroup cgroup rw,memory\n"
    cg = for_container("/x", "x", root="/tmp/fake", mountinfo=text)
    assert cg.paths == {"memory": "/tmp/fake/memory/x"}


# -- from_paths --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "own", "path"),
    [(HYBRID, HYBRID_SELF, "rel/x"), (V1_SYSTEMD, V1_SELF, "/abs"), (V2, V2_SELF, "rel")],
)
def test_from_paths_round_trip(text: str, own: str, path: str) -> None:
    cg = for_container(path, "x", mountinfo=text, self_cgroup=own)
    again = from_paths(cg.paths, mountinfo=text)
    assert type(again) is type(cg)
    assert again.paths == cg.paths
    assert again.hierarchies() == cg.hierarchies()


def test_from_paths_survives_a_changed_layout() -> None:
    saved = {"memory": "/sys/fs/cgroup/memory/a", "gone": "/sys/fs/cgroup/gone/a"}
    cg = from_paths(saved, mountinfo=HYBRID)
    assert cg.paths == saved
    gone = next(h for h in cg.hierarchies() if h.options == "gone")
    assert (gone.name, gone.relpath) == ("gone", "/a")


@pytest.mark.parametrize(
    "bad",
    [
        {"memory": "/etc/passwd"},
        {"memory": "/sys/fs/cgroup/memory/../../../etc"},
        {"memory": 3},
        {"memory": "/sys/fs/cgroup"},
    ],
)
def test_from_paths_refuses_paths_outside_the_root(bad: dict[str, object]) -> None:
    with pytest.raises(InvalidArgument):
        from_paths(bad, mountinfo=HYBRID)  # type: ignore[arg-type]


def test_from_paths_of_nothing_is_an_empty_cgroup() -> None:
    cg = from_paths({}, mountinfo=HYBRID)
    assert cg.paths == {}
    assert cg.hierarchies() == []
    assert cg.pids() == []
    assert not cg.frozen()
    cg.destroy()


def test_hierarchy_is_immutable_and_hashable() -> None:
    h = Hierarchy("memory", "cgroup", "memory", "/sys/fs/cgroup/memory/a", "/a")
    with pytest.raises(AttributeError):
        h.name = "x"  # type: ignore[misc]
    assert {h, Hierarchy("memory", "cgroup", "memory", "/sys/fs/cgroup/memory/a", "/a")} == {h}
    assert h.mountpoint == "/sys/fs/cgroup/memory"
