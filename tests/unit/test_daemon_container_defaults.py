"""daemon/containerdefaults.py and network/resolvconf.py (pure): the daemon's container
defaults as dockerd parses and applies them."""

from __future__ import annotations

import pytest

from wharfie.daemon import config, containerdefaults
from wharfie.engine import validate
from wharfie.network import resolvconf


def test_ulimit_flags_and_file_entries() -> None:
    assert containerdefaults.ulimit_flag("nofile=1024:2048") == (
        "nofile",
        {"Name": "nofile", "Hard": 2048, "Soft": 1024},
    )
    assert containerdefaults.ulimit_flag("nproc=7")[1] == {"Name": "nproc", "Hard": 7, "Soft": 7}
    for bad, msg in (
        ("nofile", "invalid ulimit argument: nofile"),
        ("bogus=1", "invalid ulimit type: bogus"),
        ("nofile=3:2", "soft limit must be less than or equal to hard limit: 3 > 2"),
        ("nofile=x", 'parsing "x": invalid syntax'),
    ):
        with pytest.raises(ValueError, match=msg):
            containerdefaults.ulimit_flag(bad)
    entry = {"nofile": {"Name": "nofile", "Hard": 9, "Soft": 8}}
    assert containerdefaults.ulimits_file(entry) == entry
    with pytest.raises(ValueError, match=r"Ulimit\.default-ulimits\.Hard of type int64"):
        containerdefaults.ulimits_file({"nofile": {"Name": "nofile", "Hard": "9"}})


def test_labels_dns_search_and_shm_size() -> None:
    assert containerdefaults.conflict_free_labels(["a=1", "b=2", "a=1"]) == ["a=1", "b=2"]
    with pytest.raises(ValueError, match="conflict labels for a=2 and a=1"):
        containerdefaults.conflict_free_labels(["a=1", "a=2"])
    with pytest.raises(ValueError, match="bad attribute format: x"):
        containerdefaults.validate_label("x")
    assert containerdefaults.validate_dns_search("example.test") == "example.test"
    assert containerdefaults.validate_dns_search(".") == "."
    with pytest.raises(ValueError, match="-x- is not a valid domain"):
        containerdefaults.validate_dns_search("-x-")
    assert containerdefaults.shm_size("32M") == 32 << 20
    with pytest.raises(ValueError, match="invalid size: 'abc'"):
        containerdefaults.shm_size("abc")


def test_flags_and_file_keys() -> None:
    s = config.load(
        [
            "--label",
            "a=1",
            "--dns-search",
            "x.test",
            "--dns-opt",
            "ndots:2",
            "--default-ulimit",
            "nofile=10:20",
            "--default-shm-size",
            "8M",
        ]
    )
    assert s.labels == ["a=1"] and s.dns_search == ["x.test"] and s.dns_opts == ["ndots:2"]
    assert s.default_ulimits == {"nofile": {"Name": "nofile", "Hard": 20, "Soft": 10}}
    assert s.default_shm_size == 8 << 20
    with pytest.raises(config.ConfigError, match='invalid argument "x" for "--label" flag'):
        config.load(["--label", "x"])
    with pytest.raises(config.ConfigError, match="configuration validation from file failed"):
        config.parse_file('{"dns-search": ["-x-"]}', {})
    with pytest.raises(config.ConfigError, match="specified both as a flag"):
        config.parse_file('{"labels": ["a=1"]}', {"labels": ["b=2"]})


def test_default_ulimits_and_shm_at_create() -> None:
    defaults = [{"Name": "nofile", "Hard": 20, "Soft": 10}]
    host = validate.container_create(
        {"Image": "x"}, defaults=validate.CreateDefaults(shm_size=8 << 20, ulimits=(*defaults,))
    ).host_config
    assert host["Ulimits"] == defaults and host["ShmSize"] == 8 << 20
    own = [{"Name": "nofile", "Hard": 5, "Soft": 5}, {"Name": "nproc", "Hard": 3, "Soft": 3}]
    host = validate.container_create(
        {"Image": "x", "HostConfig": {"Ulimits": own, "ShmSize": 1 << 20}},
        defaults=validate.CreateDefaults(
            ulimits=(*defaults, {"Name": "core", "Hard": 0, "Soft": 0})
        ),
    ).host_config
    assert host["Ulimits"] == [*own, {"Name": "core", "Hard": 0, "Soft": 0}]
    assert host["ShmSize"] == 1 << 20
    assert validate.container_create({"Image": "x"}).host_config["Ulimits"] is None


HOST = "# comment\nsearch corp\nnameserver 127.0.0.53\noptions edns0\n"


def test_resolv_conf_as_dockerd_writes_it() -> None:
    assert resolvconf.render(HOST, "host", False, ["1.1.1.1"], [], []) == HOST
    plain = resolvconf.render(HOST, "bridge", False, [], [], [])
    assert "127.0.0.53" not in plain and "nameserver 8.8.8.8\nnameserver 8.8.4.4" in plain
    assert plain.startswith("# comment\nsearch corp\n")
    custom = resolvconf.render(HOST, "bridge", False, ["10.9.9.9"], ["a.test"], ["ndots:3"])
    assert custom == "search a.test\nnameserver 10.9.9.9\noptions ndots:3\n"
    only_dns = resolvconf.render(HOST, "bridge", False, ["10.9.9.9"], [], [])
    assert only_dns == "search corp\nnameserver 10.9.9.9\noptions edns0\n"
    user = resolvconf.render(HOST, "bridge", True, [], [], [])
    assert user == "nameserver 127.0.0.11\nsearch corp\noptions edns0 ndots:0\n"
    own_ndots = resolvconf.render(HOST, "bridge", True, [], ["x.test"], ["ndots:2"])
    assert own_ndots == "nameserver 127.0.0.11\nsearch x.test\noptions ndots:2\n"
    dot = resolvconf.render("nameserver 1.1.1.1\n", "bridge", True, [], ["."], [])
    assert dot == "nameserver 127.0.0.11\noptions ndots:0\n"
