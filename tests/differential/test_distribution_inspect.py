"""`GET /distribution/{name}/json` on a machine without a registry: what `docker service
create` (and docker-py's `inspect_distribution`) meet for a local image, here, offline."""

from __future__ import annotations

from harness import Side


def test_distribution_of_a_local_image_offline(differ) -> None:
    def s(d: Side) -> None:
        d.call("local-image", "GET", "/distribution/busybox:latest/json")
        d.call("local-image-no-tag", "GET", "/distribution/busybox/json")
        d.call("bad-reference", "GET", "/distribution/UPPER/json")
        d.call("missing-private", "GET", "/distribution/localhost:1/nosuch:1/json")

    differ(s)
