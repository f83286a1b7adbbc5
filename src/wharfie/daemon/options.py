"""wharfied's options, one table: each option's flags, help, default and daemon.json key
(dockerd's wherever dockerd has the option). `config` parses flags and the file with it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

DEFAULT_HOST = "unix:///run/wharfie/wharfie.sock"


@dataclass(frozen=True)
class Option:
    key: str  # daemon.json key (dockerd's)
    flags: tuple[str, ...]  # command-line flags; the first long one names the flag
    kind: str  # str | bool | int | float | list | map | pools | runtimes
    default: Any
    help: str
    choices: tuple[str, ...] = ()
    metavar: str | None = None

    @property
    def dest(self) -> str:
        return self.key.replace("-", "_")

    @property
    def flag_name(self) -> str:
        """The long flag's name, the order dockerd lists conflicts in."""
        return next(f for f in self.flags if f.startswith("--"))[2:]


LOG_LEVELS = ("debug", "info", "warn", "error", "fatal")

OPTIONS: tuple[Option, ...] = (
    Option(
        "hosts",
        ("-H", "--host"),
        "list",
        [],
        f"daemon socket(s) to listen on (unix:///path or tcp://host:port; default {DEFAULT_HOST})",
        metavar="ADDR",
    ),
    Option(
        "data-root",
        ("--data-root",),
        "str",
        "/var/lib/wharfie",
        "root directory of persistent state (images, containers, volumes)",
    ),
    Option(
        "exec-root",
        ("--exec-root",),
        "str",
        "/run/wharfie",
        "root directory of runtime state (bundles, network namespaces, monitor socket)",
    ),
    Option("pidfile", ("-p", "--pidfile"), "str", "", "path of the daemon's PID file"),
    Option(
        "group",
        ("-G", "--group"),
        "str",
        "wharfie",
        "group owning the unix socket(s); created if missing",
    ),
    Option(
        "log-level",
        ("-l", "--log-level"),
        "str",
        "info",
        "logging level of the daemon",
        choices=LOG_LEVELS,
    ),
    Option("debug", ("-D", "--debug"), "bool", False, "debug logging (--log-level debug)"),
    Option("tls", ("--tls",), "bool", False, "serve TCP over TLS (implied by --tlsverify)"),
    Option(
        "tlsverify",
        ("--tlsverify",),
        "bool",
        False,
        "serve TLS and require client certificates signed by --tlscacert",
    ),
    Option("tlscacert", ("--tlscacert",), "str", "", "CA that client certificates must chain to"),
    Option("tlscert", ("--tlscert",), "str", "", "TLS certificate of the daemon"),
    Option("tlskey", ("--tlskey",), "str", "", "TLS key of the daemon"),
    Option(
        "default-runtime",
        ("--default-runtime",),
        "str",
        "wharfie-runtime",
        "OCI runtime of containers that name none",
    ),
    Option(
        "runtimes",
        ("--add-runtime",),
        "runtimes",
        {},
        'an extra OCI runtime, NAME=PATH (file: {"NAME": {"path": PATH}})',
        metavar="NAME=PATH",
    ),
    Option(
        "bip",
        ("--bip",),
        "str",
        "172.29.0.0/16",
        "subnet of the default bridge; with host bits set (10.1.0.1/24), also its address",
    ),
    Option("bridge", ("-b", "--bridge"), "str", "wharfie0", "name of the default bridge device"),
    Option(
        "ip-masq",
        ("--ip-masq",),
        "bool",
        True,
        "masquerade traffic leaving the default bridge (--ip-masq=false: no NAT rule)",
    ),
    Option(
        "ipv6",
        ("--ipv6",),
        "bool",
        False,
        "IPv6 on the default bridge (needs --fixed-cidr-v6)",
    ),
    Option(
        "fixed-cidr-v6",
        ("--fixed-cidr-v6",),
        "str",
        "",
        "IPv6 subnet of the default bridge, e.g. fd00:1::/64 (containers get the subnet "
        "with their MAC as host part, as dockerd)",
    ),
    Option(
        "mtu",
        ("--mtu",),
        "int",
        0,
        "MTU of the default bridge and its veths (0: the kernel's, 1500)",
    ),
    Option(
        "default-address-pools",
        ("--default-address-pool",),
        "pools",
        [],
        "pools of subnets for networks created without --subnet, "
        "base=CIDR,size=PREFIX (repeatable; default: Docker's pools)",
        metavar="POOL",
    ),
    Option(
        "dns",
        ("--dns",),
        "list",
        [],
        "DNS server of containers that set none (repeatable)",
        metavar="IP",
    ),
    Option(
        "dns-opts",
        ("--dns-opt",),
        "list",
        [],
        "DNS option (resolv.conf `options`) of containers that set none (repeatable)",
        metavar="OPT",
    ),
    Option(
        "dns-search",
        ("--dns-search",),
        "list",
        [],
        "DNS search domain of containers that set none (repeatable)",
        metavar="DOMAIN",
    ),
    Option(
        "labels",
        ("--label",),
        "list",
        [],
        "a KEY=VALUE label of the daemon, shown by `docker info` (repeatable)",
        metavar="KEY=VALUE",
    ),
    Option(
        "default-ulimits",
        ("--default-ulimit",),
        "ulimits",
        {},
        "ulimit of containers that do not set it, NAME=SOFT[:HARD] (repeatable; file: "
        '{"NAME": {"Name": NAME, "Soft": N, "Hard": N}})',
        metavar="NAME=SOFT[:HARD]",
    ),
    Option(
        "default-shm-size",
        ("--default-shm-size",),
        "size",
        64 * 1024 * 1024,
        "size of /dev/shm of containers that set none (64M: 64 MiB)",
        metavar="SIZE",
    ),
    Option(
        "init",
        ("--init",),
        "bool",
        False,
        "run an init (tini) as PID 1 of containers whose HostConfig.Init is null",
    ),
    Option(
        "default-ipc-mode",
        ("--default-ipc-mode",),
        "str",
        "private",
        'IPC mode of containers that set none: "private" or "shareable"',
    ),
    Option(
        "default-cgroupns-mode",
        ("--default-cgroupns-mode",),
        "str",
        "",
        'cgroup namespace mode of containers that set none: "private" or "host" '
        "(default: private on cgroup v2, host on v1 and hybrid hosts)",
    ),
    Option(
        "ip",
        ("--ip",),
        "str",
        "0.0.0.0",
        "host address of published ports that name none (0.0.0.0: every address, and ::)",
        metavar="IP",
    ),
    Option(
        "registry-mirrors",
        ("--registry-mirror",),
        "list",
        [],
        "mirror of docker.io, or HOST=URL for a mirror of HOST (repeatable)",
        metavar="URL",
    ),
    Option(
        "insecure-registries",
        ("--insecure-registry",),
        "list",
        [],
        "registry host[:port] or CIDR reachable over HTTP / unverified TLS (repeatable)",
        metavar="REGISTRY",
    ),
    Option(
        "blocked-registries",
        ("--blocked-registry",),
        "list",
        [],
        "registry host never contacted: pulls and pushes naming it fail (repeatable)",
        metavar="REGISTRY",
    ),
    Option(
        "log-driver",
        ("--log-driver",),
        "str",
        "json-file",
        "log driver of containers that name none",
        choices=("json-file", "none"),
    ),
    Option(
        "log-opts",
        ("--log-opt",),
        "map",
        {},
        "option of the default log driver, KEY=VALUE (max-size, max-file; repeatable)",
        metavar="KEY=VALUE",
    ),
    Option(
        "cgroup-parent",
        ("--cgroup-parent",),
        "str",
        "/wharfie",
        "parent cgroup of containers that set none",
    ),
    Option(
        "cpu-rt-period",
        ("--cpu-rt-period",),
        "int",
        0,
        "real-time period (microseconds) given to the containers' parent cgroup (cgroup v1)",
    ),
    Option(
        "cpu-rt-runtime",
        ("--cpu-rt-runtime",),
        "int",
        0,
        "real-time runtime (microseconds) given to the containers' parent cgroup (cgroup v1)",
    ),
    Option(
        "experimental",
        ("--experimental",),
        "bool",
        False,
        "enable experimental features (docker checkpoint: wharfie-vm containers)",
    ),
    Option(
        "live-restore",
        ("--live-restore",),
        "bool",
        True,
        "keep containers running while the daemon is down (--live-restore=false: "
        "stop them when it stops)",
    ),
    Option(
        "cluster-store",
        ("--cluster-store",),
        "str",
        "",
        "an external etcd for swarm mode's state (etcd://host:port,...) instead of the "
        "member every manager runs",
        metavar="URL",
    ),
    Option(
        "cluster-store-opts",
        ("--cluster-store-opt",),
        "map",
        {},
        "the external etcd's TLS: kv.cacertfile, kv.certfile, kv.keyfile (KEY=VALUE; repeatable)",
        metavar="KEY=VALUE",
    ),
    Option(
        "dashboard-addr",
        ("--dashboard-addr",),
        "str",
        "",
        "serve the dashboard at HOST:PORT from start-up (off loopback: TLS only)",
        metavar="HOST:PORT",
    ),
    Option(
        "api-max-connections",
        ("--api-max-connections",),
        "int",
        2048,
        "open API connections; past it the longest idle one is closed",
    ),
    Option(
        "api-header-timeout",
        ("--api-header-timeout",),
        "float",
        30.0,
        "seconds for a request head to arrive once it began",
    ),
    Option(
        "api-idle-timeout",
        ("--api-idle-timeout",),
        "float",
        300.0,
        "seconds a connection may wait for its next request",
    ),
)
