"""The CLI's progress rendering (plain and terminal), reference splitting, credentials."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import pytest

from wharfie.cli import auth
from wharfie.cli.transfer import Renderer, split_name
from wharfie.client.api import APIError


def test_plain_output_prints_status_changes_only() -> None:
    out = io.StringIO()
    r = Renderer(out, tty=False)
    for msg in [
        {"status": "Pulling from library/x", "id": "latest"},
        {"status": "Pulling fs layer", "progressDetail": {}, "id": "abc"},
        {
            "status": "Downloading",
            "progressDetail": {"current": 1, "total": 2},
            "progress": "[==>  ]",
            "id": "abc",
        },
        {"status": "Downloading", "progressDetail": {"current": 2, "total": 2}, "id": "abc"},
        {"status": "Pull complete", "progressDetail": {}, "id": "abc"},
        {"status": "Digest: sha256:x"},
    ]:
        r.feed(msg)
    assert out.getvalue() == (
        "latest: Pulling from library/x\nabc: Pulling fs layer\n"
        "abc: Pull complete\nDigest: sha256:x\n"
    )


def test_terminal_output_redraws_a_line_per_layer() -> None:
    out = io.StringIO()
    r = Renderer(out, tty=True)
    r.feed({"status": "Pulling fs layer", "id": "a"})
    r.feed({"status": "Pulling fs layer", "id": "b"})
    r.feed({"status": "Downloading", "progress": "[=>  ]", "id": "a"})
    text = out.getvalue()
    assert text.startswith("a: Pulling fs layer\nb: Pulling fs layer\n")
    assert "\x1b[2A\x1b[2K\ra: Downloading [=>  ]\x1b[2B\r" in text


def test_error_message_raises() -> None:
    with pytest.raises(APIError, match="boom"):
        Renderer(io.StringIO(), tty=False).feed(
            {"errorDetail": {"message": "boom"}, "error": "boom"}
        )


def test_split_name() -> None:
    assert split_name("busybox") == ("busybox", "")
    assert split_name("h:5000/a/b:v1") == ("h:5000/a/b", "v1")
    assert split_name("h:5000/a") == ("h:5000/a", "")
    assert split_name("a@sha256:abc") == ("a", "@sha256:abc")


def test_credentials_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    assert auth.registry_auth_header("127.0.0.1:5000/x") == auth.ANONYMOUS
    auth.write_config({"auths": {"127.0.0.1:5000": {"auth": base64.b64encode(b"u:p:w").decode()}}})
    assert (tmp_path / "config.json").stat().st_mode & 0o777 == 0o600
    hdr = auth.registry_auth_header("127.0.0.1:5000/x:1")
    obj = json.loads(base64.urlsafe_b64decode(hdr + "=" * (-len(hdr) % 4)))
    assert obj == {"username": "u", "password": "p:w", "serveraddress": "127.0.0.1:5000"}
    assert auth.registry_of("busybox") == "docker.io"
    assert auth.server_key("docker.io") == auth.INDEX_SERVER
    assert auth.server_key("https://h:1/v2/") == "h:1"
