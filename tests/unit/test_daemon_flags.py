"""wharfied's listener rules: plain TCP only on loopback, mutual TLS otherwise."""

from __future__ import annotations

import ssl

import pytest

from wharfie.daemon import check_tcp, parse_args, tls_context
from wharfie.errors import InvalidArgument


def test_defaults() -> None:
    args = parse_args([])
    assert args.hosts == []
    assert args.data_root == "/var/lib/wharfie"
    assert args.exec_root == "/run/wharfie"
    assert args.default_runtime == "wharfie-runtime"


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost"])
def test_plain_tcp_on_loopback_is_allowed(host: str) -> None:
    check_tcp(host, 2375, None)


@pytest.mark.parametrize("host", ["0.0.0.0", "10.1.2.3", "", "example.org"])
def test_plain_tcp_elsewhere_is_refused(host: str) -> None:
    with pytest.raises(InvalidArgument, match="without mutual TLS"):
        check_tcp(host, 2375, None)


def test_server_only_tls_is_not_enough() -> None:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with pytest.raises(InvalidArgument):
        check_tcp("0.0.0.0", 2376, ctx)
    ctx.verify_mode = ssl.CERT_REQUIRED
    check_tcp("0.0.0.0", 2376, ctx)


def test_tlsverify_needs_a_ca() -> None:
    args = parse_args(["--tlsverify", "--tlscert", "c.pem", "--tlskey", "k.pem"])
    with pytest.raises(InvalidArgument, match="tlscacert"):
        tls_context(args)
    assert tls_context(parse_args([])) is None
