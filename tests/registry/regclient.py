"""A plain HTTP client for the conformance tests (http.client, no registry logic)."""

from __future__ import annotations

import hashlib
import http.client
import json
from dataclasses import dataclass
from typing import Any


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def codes(self) -> list[str]:
        return [e["code"] for e in self.json()["errors"]]


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Client:
    def __init__(self, addr: str) -> None:
        self.host, port = addr.rsplit(":", 1)
        self.port = int(port)

    def call(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            data = resp.read()
            return Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)
        finally:
            conn.close()

    def push_blob(self, repo: str, data: bytes) -> str:
        digest = sha(data)
        r = self.call(
            "POST",
            f"/v2/{repo}/blobs/uploads/?digest={digest}",
            data,
            {"Content-Type": "application/octet-stream"},
        )
        assert r.status == 201, (r.status, r.body)
        return digest

    def push_manifest(
        self,
        repo: str,
        ref: str,
        doc: dict[str, Any] | bytes,
        media: str = "application/vnd.oci.image.manifest.v1+json",
    ) -> Reply:
        body = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
        return self.call("PUT", f"/v2/{repo}/manifests/{ref}", body, {"Content-Type": media})

    def push_image(
        self, repo: str, tag: str, layer: bytes = b"layer", extra: dict[str, Any] | None = None
    ) -> tuple[str, bytes]:
        """Config + one layer + an OCI manifest (with `extra` fields); (digest, bytes)."""
        config = json.dumps({"architecture": "amd64", "os": "linux", "tag": tag}).encode()
        cfg = self.push_blob(repo, config)
        lay = self.push_blob(repo, layer)
        doc: dict[str, Any] = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": cfg,
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": lay,
                    "size": len(layer),
                }
            ],
        }
        doc.update(extra or {})
        body = json.dumps(doc, indent=1).encode()
        r = self.push_manifest(repo, tag, body)
        assert r.status == 201, (r.status, r.body)
        return sha(body), body
