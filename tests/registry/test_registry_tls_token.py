"""TLS serving and the token endpoint's HTTP surface (GET and the OAuth2 password POST)."""

from __future__ import annotations

import base64
import json
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from ourregistry import OurRegistry
from regimages import busybox_layout

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from support.peers import _htpasswd_line


def _cert(tmp: Path) -> tuple[str, str]:
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    out = subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        capture_output=True,
    )
    if out.returncode != 0:
        pytest.skip(f"openssl could not make a test certificate: {out.stderr.decode()[-300:]}")
    return str(cert), str(key)


def test_tls_serving(tmp_path: Path) -> None:
    cert, key = _cert(tmp_path)
    reg = OurRegistry(tmp_path / "reg", tls=(cert, key))
    reg.start()
    try:
        ctx = ssl.create_default_context(cafile=cert)
        with urllib.request.urlopen(f"{reg.url}/v2/", context=ctx) as r:
            assert r.status == 200
        layout = tmp_path / "layout"
        busybox_layout(layout)
        dest = f"docker://{reg.addr}/tls/busybox:1"
        for args in (["--dest-cert-dir", str(tmp_path / "certs")], ["--dest-tls-verify=false"]):
            (tmp_path / "certs").mkdir(exist_ok=True)
            (tmp_path / "certs" / "ca.crt").write_text(Path(cert).read_text())
            out = subprocess.run(
                ["skopeo", "copy", *args, f"oci:{layout}:latest", dest],
                capture_output=True,
                timeout=120,
            )
            assert out.returncode == 0, out.stderr.decode()
        with pytest.raises(OSError):  # plain HTTP is not spoken on a TLS port
            urllib.request.urlopen(f"http://{reg.addr}/v2/", timeout=5)
    finally:
        reg.stop()


def _get(
    url: str, headers: dict[str, str] | None = None, data: bytes | None = None
) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def test_token_endpoint(tmp_path: Path) -> None:
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text(_htpasswd_line("carol", "pw") + "\n")
    reg = OurRegistry(
        tmp_path / "reg",
        config=(
            f"auth:\n  token:\n    htpasswd: {htpasswd}\n    service: test-svc\n"
            "    anonymous: [pull]\n"
        ),
    )
    reg.start()
    try:
        status, headers, body = _get(f"{reg.url}/v2/")
        assert status == 401 and json.loads(body)["errors"][0]["code"] == "UNAUTHORIZED"
        assert headers["WWW-Authenticate"] == (f'Bearer realm="{reg.url}/token",service="test-svc"')
        status, headers, _ = _get(f"{reg.url}/v2/a/b/tags/list")
        assert 'scope="repository:a/b:pull"' in headers["WWW-Authenticate"]
        basic = "Basic " + base64.b64encode(b"carol:pw").decode()
        status, _, body = _get(
            f"{reg.url}/token?service=test-svc&scope=repository:a/b:pull,push",
            {"Authorization": basic},
        )
        assert status == 200
        token = json.loads(body)
        assert token["token"] == token["access_token"] and token["expires_in"] == 300
        status, _, _ = _get(f"{reg.url}/v2/", {"Authorization": f"Bearer {token['token']}"})
        assert status == 200
        status, _, body = _get(
            f"{reg.url}/token?service=test-svc",
            {"Authorization": "Basic " + base64.b64encode(b"carol:x").decode()},
        )
        assert status == 401
        # OAuth2 password grant (what docker uses with a refresh-token flow)
        form = (
            b"grant_type=password&username=carol&password=pw&service=test-svc"
            b"&scope=repository%3Aa%2Fb%3Apull&client_id=test"
        )
        status, _, body = _get(
            f"{reg.url}/token", {"Content-Type": "application/x-www-form-urlencoded"}, form
        )
        assert status == 200 and "access_token" in json.loads(body)
        # refresh tokens: handed out for offline use, traded for access tokens by POST
        status, _, body = _get(
            f"{reg.url}/token?service=test-svc&offline_token=true&client_id=docker",
            {"Authorization": basic},
        )
        refresh = json.loads(body)["refresh_token"]
        status, _, _ = _get(f"{reg.url}/v2/", {"Authorization": f"Bearer {refresh}"})
        assert status == 401  # a refresh token opens nothing by itself
        form = (
            "grant_type=refresh_token&service=test-svc&client_id=docker&refresh_token="
            f"{refresh}&scope=repository%3Aa%2Fb%3Apush"
        ).encode()
        status, _, body = _get(f"{reg.url}/token", {}, form)
        assert status == 200 and "refresh_token" not in json.loads(body)
        access = json.loads(body)["access_token"]
        payload = json.loads(base64.urlsafe_b64decode(access.split(".")[1] + "=="))
        assert payload["sub"] == "carol"
        assert payload["access"] == [{"type": "repository", "name": "a/b", "actions": ["push"]}]
        status, _, _ = _get(
            f"{reg.url}/token", {}, b"grant_type=refresh_token&refresh_token=" + access.encode()
        )
        assert status == 401  # an access token is no refresh token
        htpasswd.write_text(_htpasswd_line("other", "pw") + "\n")  # carol removed
        status, _, _ = _get(f"{reg.url}/token", {}, form)
        assert status == 401
        htpasswd.write_text(_htpasswd_line("carol", "pw") + "\n")
        # anonymous: a token that may pull, never push
        status, _, body = _get(f"{reg.url}/token?service=test-svc&scope=repository:a/b:pull,push")
        anon = json.loads(body)["token"]
        payload = json.loads(base64.urlsafe_b64decode(anon.split(".")[1] + "=="))
        assert payload["access"] == [{"type": "repository", "name": "a/b", "actions": ["pull"]}]
        status, _, body = _get(
            f"{reg.url}/v2/a/b/blobs/uploads/", {"Authorization": f"Bearer {anon}"}, b""
        )
        assert status == 401 and json.loads(body)["errors"][0]["code"] == "UNAUTHORIZED"
        status, _, _ = _get(f"{reg.url}/v2/a/b/tags/list", {"Authorization": "Bearer x.y.z"})
        assert status == 401
    finally:
        reg.stop()
