"""Repository names, tags and digests as the distribution spec defines them (pure).

A valid name can never escape the storage root: its components match
`[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*`, so `..`, `.`, empty components, a leading `/`
and anything starting with `_` (the layout's own directories) are refused.
"""

from __future__ import annotations

import re

from wharfie.registry.codes import RegistryError

_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
NAME_RE = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
TAG_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
DIGEST_RE = re.compile(r"[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+")
SHA256_HEX = re.compile(r"[a-f0-9]{64}")
# Docker's limit on a full reference is 255; the name alone may use all of it
MAX_NAME = 255


def check_name(name: str) -> str:
    """`name` if it is a valid repository name, else NAME_INVALID."""
    if len(name) > MAX_NAME:
        raise RegistryError(
            "NAME_INVALID", f"repository name longer than {MAX_NAME}", {"name": name[:64] + "..."}
        )
    if not NAME_RE.fullmatch(name):
        raise RegistryError("NAME_INVALID", "invalid repository name", {"name": name})
    return name


def is_tag(reference: str) -> bool:
    return TAG_RE.fullmatch(reference) is not None


def check_digest(digest: str) -> str:
    """The hex of a sha256 digest; DIGEST_INVALID for a malformed one, UNSUPPORTED algos."""
    if not DIGEST_RE.fullmatch(digest):
        raise RegistryError("DIGEST_INVALID", "invalid digest", {"digest": digest})
    algo, _, hexpart = digest.partition(":")
    if algo != "sha256":
        raise RegistryError(
            "DIGEST_INVALID", f"unsupported digest algorithm {algo}", {"digest": digest}
        )
    if not SHA256_HEX.fullmatch(hexpart):
        raise RegistryError("DIGEST_INVALID", "invalid sha256 digest", {"digest": digest})
    return hexpart


def check_reference(reference: str) -> tuple[str | None, str | None]:
    """(tag, None) or (None, digest-hex) for a manifest reference; errors otherwise."""
    if ":" in reference:
        return None, check_digest(reference)
    if is_tag(reference):
        return reference, None
    raise RegistryError("TAG_INVALID", "invalid tag", {"tag": reference[:140]})
