"""wharfied's options and daemon.json (daemon/config.py): pure parts.

The wording of the errors is compared with a real dockerd's in
tests/daemon/test_daemon_config.py; here, the merge rules and the edge cases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wharfie.daemon.config import OPTIONS, ConfigError, load, parse_file, parser
from wharfie.network.ipam import pick_subnet


def write(tmp_path: Path, doc: object) -> str:
    path = tmp_path / "daemon.json"
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return str(path)


def test_defaults_without_a_file(tmp_path: Path) -> None:
    s = load(["--config-file", write(tmp_path, {})])
    assert s.data_root == "/var/lib/wharfie" and s.hosts == [] and s.ip_masq is True
    assert s.live_restore is True and s.log_driver == "json-file" and s.mtu == 0


def test_the_default_file_may_be_absent_an_explicit_one_may_not(tmp_path: Path) -> None:
    import wharfie.daemon.config as config

    missing = str(tmp_path / "nope.json")
    with pytest.raises(ConfigError, match=f"open {missing}: no such file or directory"):
        load(["--config-file", missing])
    old = config.DEFAULT_CONFIG_FILE
    config.DEFAULT_CONFIG_FILE = missing
    try:
        assert load([]).data_root == "/var/lib/wharfie"
    finally:
        config.DEFAULT_CONFIG_FILE = old


def test_file_values_and_flags_merge(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        {
            "hosts": ["unix:///tmp/a.sock"],
            "bip": "10.9.0.1/24",
            "ip-masq": False,
            "registry-mirrors": ["https://m.example"],
            "insecure-registries": ["r:5000"],
            "log-driver": "json-file",
            "log-opts": {"max-size": "1m", "max-file": "2"},
            "runtimes": {"crun": {"path": "/usr/bin/crun"}},
            "live-restore": False,
            "default-address-pools": [{"base": "10.50.0.0/16", "size": 24}],
            "dns": ["10.0.0.2"],
            "mtu": 1400,
            "debug": True,
        },
    )
    s = load(["--config-file", path, "--data-root", "/tmp/x"])
    assert s.hosts == ["unix:///tmp/a.sock"] and s.bip == "10.9.0.1/24"
    assert s.ip_masq is False and s.live_restore is False and s.mtu == 1400
    assert s.registry_mirrors == ["https://m.example"]
    assert s.insecure_registries == ["r:5000"]
    assert s.log_opts == {"max-size": "1m", "max-file": "2"}
    assert s.runtimes == {"crun": "/usr/bin/crun"}
    assert s.default_address_pools == [("10.50.0.0/16", 24)]
    assert s.dns == ["10.0.0.2"] and s.data_root == "/tmp/x" and s.log_level == "debug"


def test_flags_of_every_kind() -> None:
    s = load(
        [
            "--ip-masq=false",
            "--log-opt",
            "max-size=1m",
            "--add-runtime",
            "r=/bin/r",
            "--default-address-pool",
            "base=10.1.0.0/16,size=24",
            "-H",
            "unix:///a",
            "-H",
            "tcp://127.0.0.1:1",
            "--mtu",
            "9000",
            "--live-restore=0",
            "--tls",
        ]
    )
    assert s.ip_masq is False and s.log_opts == {"max-size": "1m"} and s.runtimes == {"r": "/bin/r"}
    assert s.default_address_pools == [("10.1.0.0/16", 24)] and s.mtu == 9000
    assert s.hosts == ["unix:///a", "tcp://127.0.0.1:1"] and s.live_restore is False and s.tls


def test_no_masquerade_is_ip_masq_false() -> None:
    assert load(["--no-masquerade"]).ip_masq is False


def test_empty_file_is_eof() -> None:
    with pytest.raises(ConfigError, match=r"^EOF$"):
        parse_file("", {})


def test_unknown_keys_are_sorted_and_nested_objects_flattened() -> None:
    with pytest.raises(ConfigError) as e:
        parse_file('{"zzz": 1, "aaa": {"x": 1}, "log-opts": {"anything": "y"}}', {})
    assert str(e.value) == ("the following directives don't match any configuration option: x, zzz")


def test_conflicts_in_flag_order_with_go_values() -> None:
    flags = {"data-root": "/a", "bip": "10.2.0.1/24", "debug": True, "insecure-registries": ["y"]}
    doc = {"data-root": 5, "debug": False, "bip": "10.1.0.1/24", "insecure-registries": ["x"]}
    with pytest.raises(ConfigError) as e:
        parse_file(json.dumps(doc), flags)
    assert str(e.value) == (
        "the following directives are specified both as a flag and in the configuration "
        "file: bip: (from flag: 10.2.0.1/24, from file: 10.1.0.1/24), data-root: (from flag: "
        "/a, from file: 5), debug: (from flag: true, from file: false), insecure-registries: "
        "(from flag: [y], from file: [x])"
    )


@pytest.mark.parametrize(
    "doc,message",
    [
        ({"mtu": "x"}, "json: cannot unmarshal string into Go struct field Config.mtu of type int"),
        (
            {"data-root": 5},
            "json: cannot unmarshal number into Go struct field Config.data-root of type string",
        ),
        (
            {"hosts": "unix:///a"},
            "json: cannot unmarshal string into Go struct field Config.hosts of type []string",
        ),
        (
            {"live-restore": "yes"},
            "json: cannot unmarshal string into Go struct field Config.live-restore of type bool",
        ),
        ([1], "json: cannot unmarshal array into Go value of type map[string]interface {}"),
    ],
)
def test_type_errors(doc: object, message: str) -> None:
    with pytest.raises(ConfigError) as e:
        parse_file(json.dumps(doc), {})
    assert str(e.value) == message


@pytest.mark.parametrize(
    "doc,message",
    [
        ({"log-level": "bogus"}, "unable to parse logging level: bogus"),
        ({"default-address-pools": [{"base": "10.5.0.0/16", "size": 8}]}, "invalid pools size: 8"),
        ({"mtu": 20}, "invalid MTU 20"),
        ({"log-driver": "syslog"}, "logger: no log driver named 'syslog' is registered"),
        ({"runtimes": {"r": {"path": "/x", "runtimeArgs": ["--debug"]}}}, "runtimeArgs"),
    ],
)
def test_bad_values(tmp_path: Path, doc: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
        load(["--config-file", write(tmp_path, doc)])


def test_bad_json_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "{bad")
    with pytest.raises(ConfigError, match=f"^unable to configure the daemon with file {path}: "):
        load(["--config-file", path])


def test_every_option_has_help_and_a_flag() -> None:
    help_text = parser().format_help()
    for o in OPTIONS:
        assert o.help and o.flag_name in help_text
    assert "--config-file" in help_text and "--validate" in help_text


def test_pools_from_the_config_are_cut_in_order() -> None:
    pools = [("10.50.0.0/23", 24), ("10.60.0.0/16", 24)]
    assert pick_subnet([], [], pools) == "10.50.0.0/24"
    assert pick_subnet(["10.50.0.0/24"], ["10.50.1.0/24"], pools) == "10.60.0.0/24"
    assert pick_subnet([], [], None) == "172.17.0.0/16"


def test_daemon_dns_is_the_default_of_containers_that_set_none() -> None:
    from wharfie.engine.net import etcfiles

    class C:
        def __init__(self, host: dict[str, object]) -> None:
            self.host_config = host

    text = etcfiles._resolv_for(C({}), "bridge", False, ["10.9.9.9"])  # type: ignore[arg-type]
    assert [ln for ln in text.splitlines() if ln.startswith("nameserver")] == [
        "nameserver 10.9.9.9"
    ]
    own = etcfiles._resolv_for(C({"Dns": ["10.1.1.1"]}), "bridge", False, ["10.9.9.9"])  # type: ignore[arg-type]
    assert "10.9.9.9" not in own and "nameserver 10.1.1.1" in own


def test_daemon_log_options_fill_the_gaps_of_the_same_driver() -> None:
    from wharfie.engine import validate

    default = ("json-file", {"max-size": "1m", "max-file": "2"})
    host = validate.container_create(
        {"Image": "x"}, defaults=validate.CreateDefaults(log=default)
    ).host_config
    assert host["LogConfig"] == {"Type": "json-file", "Config": {"max-size": "1m", "max-file": "2"}}
    own = validate.container_create(
        {
            "Image": "x",
            "HostConfig": {"LogConfig": {"Type": "json-file", "Config": {"max-size": "5m"}}},
        },
        defaults=validate.CreateDefaults(log=default),
    ).host_config
    assert own["LogConfig"]["Config"] == {"max-size": "5m", "max-file": "2"}
    other = validate.container_create(
        {"Image": "x", "HostConfig": {"LogConfig": {"Type": "none"}}},
        defaults=validate.CreateDefaults(log=default),
    ).host_config
    assert other["LogConfig"] == {"Type": "none", "Config": {}}
