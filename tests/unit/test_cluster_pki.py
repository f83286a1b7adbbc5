"""The cluster PKI and the pure parts of the etcd layer (no etcd, no root)."""

from __future__ import annotations

import datetime

import pytest

from wharfie.cluster import etcdmember, kv, pki
from wharfie.errors import InvalidArgument

NOW = datetime.datetime(2026, 12, 7, 12, 0, tzinfo=datetime.UTC)


@pytest.fixture(scope="module")
def ca() -> pki.KeyPair:
    return pki.new_ca(NOW)


def test_node_certificate_names_node_role_and_cluster(ca: pki.KeyPair) -> None:
    pair = pki.issue(ca, "node1", pki.WORKER, "cluster9", ["10.0.0.2", "n1.example"], now=NOW)
    who = pki.identity(ca.cert_pem, pair.cert_pem, now=NOW)
    assert (who.node_id, who.role, who.cluster_id) == ("node1", pki.WORKER, "cluster9")
    assert who.not_after == NOW + pki.DEFAULT_NODE_EXPIRY


def test_certificates_of_another_ca_or_out_of_time_are_refused(ca: pki.KeyPair) -> None:
    other = pki.new_ca(NOW)
    pair = pki.issue(other, "node1", pki.MANAGER, "c", [], now=NOW)
    with pytest.raises(InvalidArgument, match="not signed by the cluster CA"):
        pki.identity(ca.cert_pem, pair.cert_pem, now=NOW)
    short = pki.issue(
        ca, "node1", pki.MANAGER, "c", [], expiry=datetime.timedelta(hours=1), now=NOW
    )
    later = NOW + datetime.timedelta(hours=2)
    with pytest.raises(InvalidArgument, match="expired"):
        pki.identity(ca.cert_pem, short.cert_pem, now=later)
    with pytest.raises(InvalidArgument, match="invalid certificate"):
        pki.identity(ca.cert_pem, b"junk", now=NOW)


def test_bad_roles_and_short_expiry_are_refused(ca: pki.KeyPair) -> None:
    with pytest.raises(InvalidArgument, match="role"):
        pki.issue(ca, "n", "swarm-admin", "c", [], now=NOW)
    with pytest.raises(InvalidArgument, match="must be positive"):
        pki.issue(ca, "n", pki.WORKER, "c", [], expiry=datetime.timedelta(0), now=NOW)


def test_renewal_falls_between_half_and_four_fifths_of_the_life(ca: pki.KeyPair) -> None:
    life = datetime.timedelta(seconds=100)
    node = pki.issue(ca, "n", pki.WORKER, "c", [], expiry=life, now=NOW)
    assert pki.renewal_time(node.cert_pem, 0.0) == NOW + life * 0.5
    assert pki.renewal_time(node.cert_pem, 0.999) < NOW + life * 0.8
    assert pki.renewal_time(node.cert_pem, 0.5) == NOW + life * 0.65


def test_a_renewal_request_is_for_the_key_the_node_holds(ca: pki.KeyPair) -> None:
    node = pki.issue(ca, "n", pki.WORKER, "c", [], now=NOW)
    cert = pki.sign_request(ca, pki.request_for(node.key_pem), "n", pki.WORKER, "c", [])
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    def public(pem: bytes) -> bytes:
        return (
            x509.load_pem_x509_certificate(pem)
            .public_key()
            .public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )

    assert public(cert) == public(node.cert_pem)
    assert pki.identity(ca.cert_pem, cert).node_id == "n"


def test_join_token_shape_and_ca_digest(ca: pki.KeyPair) -> None:
    token = pki.new_join_token(ca.cert_pem)
    prefix, version, digest, secret = token.split("-")
    assert (prefix, version, len(digest), len(secret)) == ("SWMTKN", "1", 50, 25)
    assert pki.parse_join_token(token).ca_digest == pki.ca_digest(ca.cert_pem)
    assert pki.new_join_token(ca.cert_pem) != token  # a fresh secret each time
    other = token[:-1] + ("1" if token.endswith("0") else "0")
    assert pki.token_matches(token, token) and not pki.token_matches(token, other)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "SWMTKN-1-abc-def",
        "SWMTKN-2-" + "0" * 50 + "-" + "0" * 25,
        "X-1-" + "0" * 50 + "-" + "0" * 25,
        "SWMTKN-1-" + "!" * 50 + "-" + "0" * 25,
    ],
)
def test_malformed_join_tokens(token: str) -> None:
    with pytest.raises(InvalidArgument, match="invalid join token"):
        pki.parse_join_token(token)


def test_etcd_command_line_is_mutual_tls_on_the_given_urls() -> None:
    cfg = etcdmember.MemberConfig(
        name="n1",
        data_dir="/d",
        client_url="https://10.0.0.1:2379",
        peer_url="https://10.0.0.1:2380",
        tls=kv.TLSFiles("/ca", "/crt", "/key"),
        initial_cluster={"n2": "https://10.0.0.2:2380", "n1": "https://10.0.0.1:2380"},
        state="existing",
        cluster_token="cid",
    )
    argv = etcdmember.command(cfg)
    assert "--listen-client-urls=https://10.0.0.1:2379" in argv
    assert "--initial-cluster=n1=https://10.0.0.1:2380,n2=https://10.0.0.2:2380" in argv
    assert "--initial-cluster-state=existing" in argv
    assert {"--client-cert-auth", "--peer-client-cert-auth"} <= set(argv)
    assert not [a for a in argv if a.startswith("--listen") and "http://" in a]


def test_prefix_end_and_translations() -> None:
    assert kv._prefix_end(b"/a/") == b"/a0"
    assert kv._prefix_end(b"a\xff") == b"b"
    assert kv._prefix_end(b"") == b"\0"
    absent = kv._compare(kv.Compare.absent("/k"))
    assert absent == {"key": "L2s=", "result": "EQUAL", "target": "CREATE", "create_revision": "0"}
    put = kv._op(kv.Put("/k", b"v", lease=7))
    assert put == {"request_put": {"key": "L2s=", "value": "dg==", "lease": "7"}}
    assert kv._op(kv.Delete("/k", prefix=True)) == {
        "request_delete_range": {"key": "L2s=", "range_end": "L2w="}
    }
    assert kv._split_endpoint("https://[fd00::1]:2379") == ("fd00::1", 2379, "https")
