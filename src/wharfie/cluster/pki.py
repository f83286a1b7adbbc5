"""The cluster's PKI: the root CA, node certificates and join tokens.

Swarm's shapes, so that what a user sees matches Docker's:
- the root CA is an ECDSA P-256 self-signed certificate, CN `swarm-ca`, valid 20 years;
- a node certificate has CN = the node id, OU = its role (`swarm-manager` or
  `swarm-worker`) and O = the cluster id; it is valid for `--cert-expiry` (90 days by default)
  and carries the node's addresses as subject alternative names, so the same certificate serves
  the node's etcd member (peer and client TLS) and its cluster API;
- a join token is `SWMTKN-1-<base36 sha256 of the CA certificate, 50 chars>-<base36 secret,
  25 chars>`: the first part lets a joining node check the CA it is shown, the second is the
  secret that admits it as a worker or as a manager.

A second CA, the store CA (`wharfie-store-ca`), signs only the managers' etcd certificates.
etcd trusts only the store CA, so a worker's node certificate, which the root CA signed, can
never open the store: workers reach the cluster through a manager's control endpoint.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import ipaddress
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

from wharfie.errors import InvalidArgument

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import ec

# `cryptography` is imported by the functions that use it: a daemon outside a swarm never
# loads it (its Rust extension is ~12 MiB of the idle daemon's memory).

ROOT_CA_NAME = "swarm-ca"
STORE_CA_NAME = "wharfie-store-ca"
MANAGER = "swarm-manager"
WORKER = "swarm-worker"
ROLES = (MANAGER, WORKER)
CA_EXPIRY = datetime.timedelta(days=20 * 365)
DEFAULT_NODE_EXPIRY = datetime.timedelta(days=90)
MIN_NODE_EXPIRY = datetime.timedelta(hours=1)  # swarmkit's ca.MinNodeCertExpiration
RENEW_FROM, RENEW_UNTIL = 0.5, 0.8  # of a certificate's life (swarmkit's rotation range)
_BACKDATE = datetime.timedelta(minutes=5)  # clock skew between nodes, as swarmkit allows
_DIGEST_LEN = 50  # base36 digits of a sha256
_SECRET_LEN = 25  # base36 digits of 16 random bytes
_SECRET_BYTES = 16


@dataclass(frozen=True)
class KeyPair:
    """A certificate and its private key, both PEM."""

    cert_pem: bytes
    key_pem: bytes


@dataclass(frozen=True)
class NodeIdentity:
    """Who a node certificate says its holder is."""

    node_id: str
    role: str
    cluster_id: str
    not_after: datetime.datetime


@dataclass(frozen=True)
class JoinToken:
    ca_digest: str  # hex sha256 of the CA certificate's PEM
    secret: str  # base36


def new_ca(now: datetime.datetime | None = None, common_name: str = ROOT_CA_NAME) -> KeyPair:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = now or _now()
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + CA_EXPIRY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return KeyPair(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


def issue(
    ca: KeyPair,
    node_id: str,
    role: str,
    cluster_id: str,
    addresses: list[str],
    expiry: datetime.timedelta = DEFAULT_NODE_EXPIRY,
    now: datetime.datetime | None = None,
) -> KeyPair:
    """A new key and a node certificate for it, signed by the CA (a node's own start)."""
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    cert = _sign(ca, key.public_key(), node_id, role, cluster_id, addresses, expiry, now)
    return KeyPair(cert, _key_pem(key))


def request_for(key_pem: bytes) -> bytes:
    """A CSR for a key the node already holds (a renewal keeps the node's key)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = serialization.load_pem_private_key(key_pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise InvalidArgument("the node key is not an ECDSA key")
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "renewing-node")]))
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM)


def renewal_time(cert_pem: bytes, draw: float) -> datetime.datetime:
    """When a node renews its certificate: at a random point (`draw` in [0, 1)) between 50 %
    and 80 % of its life, as swarmkit does. The life is counted from the issue time (the
    certificate's start plus the back-dating), so that a short expiry does not fall due at
    once."""
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(cert_pem)
    issued = cert.not_valid_before_utc + _BACKDATE
    life = cert.not_valid_after_utc - issued
    return issued + life * (RENEW_FROM + (RENEW_UNTIL - RENEW_FROM) * draw)


def new_request(addresses: list[str]) -> tuple[bytes, bytes]:
    """A joining node's (key PEM, CSR PEM): the key never leaves the node."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "joining-node")]))
        .sign(key, hashes.SHA256())
    )
    return _key_pem(key), csr.public_bytes(serialization.Encoding.PEM)


def sign_request(
    ca: KeyPair,
    csr_pem: bytes,
    node_id: str,
    role: str,
    cluster_id: str,
    addresses: list[str],
    expiry: datetime.timedelta = DEFAULT_NODE_EXPIRY,
) -> bytes:
    """A node certificate for the key in a CSR. The subject is the CA's choice (node id, role,
    cluster), never the requester's; the CSR only proves the requester holds the key."""
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        csr = x509.load_pem_x509_csr(csr_pem)
    except ValueError as exc:
        raise InvalidArgument(f"invalid certificate request: {exc}") from None
    if not csr.is_signature_valid:
        raise InvalidArgument("invalid certificate request: bad signature")
    public = csr.public_key()
    if not isinstance(public, ec.EllipticCurvePublicKey):
        raise InvalidArgument("invalid certificate request: the key must be ECDSA")
    return _sign(ca, public, node_id, role, cluster_id, addresses, expiry, None)


def _sign(
    ca: KeyPair,
    public: ec.EllipticCurvePublicKey,
    node_id: str,
    role: str,
    cluster_id: str,
    addresses: list[str],
    expiry: datetime.timedelta,
    now: datetime.datetime | None,
) -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    if role not in ROLES:
        raise InvalidArgument(f"invalid node role {role!r}")
    # the API refuses less than MIN_NODE_EXPIRY (swarmkit's check, on the cluster spec);
    # signing honours what the cluster holds
    if expiry <= datetime.timedelta(0):
        raise InvalidArgument("certificate expiry must be positive")
    now = now or _now()
    ca_cert = x509.load_pem_x509_certificate(ca.cert_pem)
    ca_key = serialization.load_pem_private_key(ca.key_pem, password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise InvalidArgument("the cluster CA key is not an ECDSA key")
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, cluster_id),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, role),
            x509.NameAttribute(NameOID.COMMON_NAME, node_id),
        ]
    )
    sans: list[x509.GeneralName] = [x509.DNSName(role), x509.DNSName(node_id)]
    for addr in addresses:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(addr)))
        except ValueError:
            sans.append(x509.DNSName(addr))
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + expiry)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def identity(
    ca_cert_pem: bytes, cert_pem: bytes, now: datetime.datetime | None = None
) -> NodeIdentity:
    """Who `cert_pem` names, after checking that the CA signed it and that it is valid now.
    Raises InvalidArgument otherwise."""
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.x509.oid import NameOID

    now = now or _now()
    try:
        ca_cert = x509.load_pem_x509_certificate(ca_cert_pem)
        cert = x509.load_pem_x509_certificate(cert_pem)
    except ValueError as exc:
        raise InvalidArgument(f"invalid certificate: {exc}") from None
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature):
        raise InvalidArgument("certificate not signed by the cluster CA") from None
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        raise InvalidArgument("certificate has expired or is not yet valid")

    def one(oid: x509.ObjectIdentifier) -> str:
        attrs = cert.subject.get_attributes_for_oid(oid)
        return str(attrs[0].value) if attrs else ""

    role = one(NameOID.ORGANIZATIONAL_UNIT_NAME)
    if role not in ROLES:
        raise InvalidArgument(f"certificate has no node role (OU {role!r})")
    return NodeIdentity(
        node_id=one(NameOID.COMMON_NAME),
        role=role,
        cluster_id=one(NameOID.ORGANIZATION_NAME),
        not_after=cert.not_valid_after_utc,
    )


def ca_digest(ca_cert_pem: bytes) -> str:
    return hashlib.sha256(ca_cert_pem).hexdigest()


def new_join_token(ca_cert_pem: bytes) -> str:
    secret = int.from_bytes(secrets.token_bytes(_SECRET_BYTES), "big")
    digest = int(ca_digest(ca_cert_pem), 16)
    digest_part = _base36(digest).rjust(_DIGEST_LEN, "0")
    return f"SWMTKN-1-{digest_part}-{_base36(secret).rjust(_SECRET_LEN, '0')}"


def parse_join_token(token: str) -> JoinToken:
    """The parts of a join token; swarmkit's error for anything else."""
    parts = token.split("-")
    if (
        len(parts) != 4
        or parts[0] != "SWMTKN"
        or parts[1] != "1"
        or len(parts[2]) != _DIGEST_LEN
        or len(parts[3]) != _SECRET_LEN
    ):
        raise InvalidArgument("invalid join token")
    try:
        digest = int(parts[2], 36)
        int(parts[3], 36)
    except ValueError:
        raise InvalidArgument("invalid join token") from None
    return JoinToken(ca_digest=f"{digest:064x}", secret=parts[3].lower())


def token_matches(expected: str, given: str) -> bool:
    """Whether `given` is the token `expected`, compared in constant time."""
    return hmac.compare_digest(expected.encode(), given.encode())


def _base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while n:
        n, r = divmod(n, 36)
        out = digits[r] + out
    return out or "0"


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)
