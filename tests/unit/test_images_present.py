"""Docker shapes of images, Go FileMode bits and Go time formatting."""

from __future__ import annotations

import stat

from wharfie.images import archive, present
from wharfie.images.layers import chain_ids
from wharfie.images.store import ImageRecord

ID = "sha256:" + "ab" * 32


def _rec() -> ImageRecord:
    config = {
        "architecture": "amd64",
        "os": "linux",
        "created": "2024-01-02T03:04:05.5Z",
        "config": {"Cmd": ["sh"], "Labels": {"a": "b"}},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "1" * 64, "sha256:" + "2" * 64]},
        "history": [
            {"created": "2024-01-01T00:00:00Z", "created_by": "", "comment": "Imported from -"},
            {"created": "2024-01-02T03:04:05.5Z", "created_by": "sh", "comment": "msg"},
            {"created": "2024-01-02T03:04:06Z", "created_by": "env", "empty_layer": True},
        ],
    }
    return ImageRecord(ID, config, ["x:1"], [], 42, 1704164645.5, "sha256:" + "cd" * 32)


def test_go_file_mode() -> None:
    assert archive.go_file_mode(stat.S_IFDIR | 0o755) == (1 << 31) | 0o755
    assert archive.go_file_mode(stat.S_IFLNK | 0o777) == (1 << 27) | 0o777
    assert archive.go_file_mode(stat.S_IFREG | 0o4755) == (1 << 23) | 0o755
    assert archive.go_file_mode(stat.S_IFREG | 0o2755) == (1 << 22) | 0o755
    assert archive.go_file_mode(stat.S_IFDIR | 0o1777) == (1 << 31) | (1 << 20) | 0o777
    assert archive.go_file_mode(stat.S_IFCHR | 0o666) == (1 << 26) | (1 << 21) | 0o666
    assert archive.go_file_mode(stat.S_IFBLK | 0o660) == (1 << 26) | 0o660
    assert archive.go_file_mode(stat.S_IFIFO | 0o644) == (1 << 25) | 0o644
    assert archive.go_file_mode(stat.S_IFSOCK | 0o755) == (1 << 24) | 0o755


def test_rfc3339() -> None:
    assert present.rfc3339(0) == "1970-01-01T00:00:00Z"
    assert present.rfc3339(1.5) == "1970-01-01T00:00:01.5Z"
    assert archive.go_time(1_000_000_123) == "1970-01-01T00:00:01.000000123Z"
    assert present.parse_rfc3339("2024-01-02T03:04:05.5Z") == 1704164645.5
    assert present.parse_rfc3339("2024-01-02T04:04:05+01:00") == 1704164645.0


def test_summary_shape() -> None:
    s = present.summary(_rec(), 3)
    assert s == {
        "Id": ID,
        "ParentId": "sha256:" + "cd" * 32,
        "RepoTags": ["x:1"],
        "RepoDigests": [],
        "Created": 1704164645,
        "Size": 42,
        "SharedSize": -1,
        "Labels": {"a": "b"},
        "Containers": 3,
    }
    assert "VirtualSize" not in s


def test_inspect_shape() -> None:
    i = present.inspect(_rec(), {"LowerDir": "/l", "UpperDir": "/u"}, "")
    assert i["Id"] == ID and i["Parent"] == "sha256:" + "cd" * 32
    assert i["Config"]["Cmd"] == ["sh"] and i["Config"]["Entrypoint"] is None
    assert i["Config"]["Image"] == "" and i["Config"]["Env"] is None
    assert i["RootFS"] == {"Type": "layers", "Layers": _rec().diff_ids}
    assert i["GraphDriver"]["Name"] == "overlay2"
    assert i["Created"] == "2024-01-02T03:04:05.5Z"
    assert i["Comment"] == ""  # the last history entry has none
    assert i["Metadata"] == {"LastTagTime": "0001-01-01T00:00:00Z"}
    assert {"Architecture", "Os", "Size", "Author", "DockerVersion", "Container"} <= set(i)


def test_history_rows() -> None:
    rows = present.history_rows(_rec().config, [10, 20])
    assert [r["CreatedBy"] for r in rows] == ["env", "sh", ""]
    assert [r["Size"] for r in rows] == [0, 20, 10]
    assert all(r["Id"] == "<missing>" for r in rows)
    assert rows[1]["Created"] == 1704164645 and rows[1]["Comment"] == "msg"


def test_chain_ids() -> None:
    a, b = "sha256:" + "1" * 64, "sha256:" + "2" * 64
    import hashlib

    want = "sha256:" + hashlib.sha256(f"{a} {b}".encode()).hexdigest()
    assert chain_ids([a, b]) == [a, want]
    assert chain_ids([]) == []
