from __future__ import annotations

import pytest

from wharfie.cluster.extstore import ExternalStore, parse
from wharfie.cluster.kv import TLSFiles
from wharfie.errors import InvalidArgument

TLS = {"kv.cacertfile": "/c/ca.pem", "kv.certfile": "/c/cert.pem", "kv.keyfile": "/c/key.pem"}


def test_no_store_is_the_embedded_member() -> None:
    assert parse("", {}) is None


def test_endpoints_with_tls() -> None:
    assert parse("etcd://10.0.0.1:2379,[fd00::1]:2379", TLS) == ExternalStore(
        ["https://10.0.0.1:2379", "https://[fd00::1]:2379"],
        TLSFiles("/c/ca.pem", "/c/cert.pem", "/c/key.pem"),
    )


def test_plain_http_on_loopback_only() -> None:
    assert parse("etcd://127.0.0.1:2379", {}) == ExternalStore(["http://127.0.0.1:2379"], None)
    with pytest.raises(InvalidArgument, match="off loopback the store is reached with TLS"):
        parse("etcd://10.0.0.1:2379", {})


@pytest.mark.parametrize(
    ("url", "opts", "match"),
    [
        ("http://127.0.0.1:2379", {}, "want etcd://"),
        ("etcd://127.0.0.1", {}, "want host:port"),
        ("etcd://127.0.0.1:99999", {}, "want host:port"),
        ("etcd://127.0.0.1:2379", {"kv.certfile": "/x"}, "needs kv.cacertfile"),
        ("etcd://127.0.0.1:2379", {"kv.path": "/x"}, "unknown cluster store option"),
        ("", {"kv.certfile": "/x"}, "without --cluster-store"),
    ],
)
def test_bad_settings(url: str, opts: dict[str, str], match: str) -> None:
    with pytest.raises(InvalidArgument, match=match):
        parse(url, opts)
