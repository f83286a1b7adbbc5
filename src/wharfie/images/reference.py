"""Image references parsed and normalised like Docker's distribution/reference (pure).

`normalize("busybox") == "docker.io/library/busybox:latest"`,
`short("docker.io/library/busybox:latest") == "busybox:latest"`. Errors carry Docker's
wording ("invalid reference format", "... must be lowercase").
"""

from __future__ import annotations

import re
from typing import NamedTuple

from wharfie.errors import InvalidArgument

DEFAULT_DOMAIN = "docker.io"
DEFAULT_TAG = "latest"
_LEGACY_DOMAIN = "index.docker.io"

_ALNUM = r"[a-z0-9]+"
_SEP = r"(?:[._]|__|[-]+)"
_COMPONENT = rf"{_ALNUM}(?:{_SEP}{_ALNUM})*"
_PATH = rf"{_COMPONENT}(?:/{_COMPONENT})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_FULL = re.compile(rf"^((?:{_DOMAIN}/)?{_PATH})(?::({_TAG}))?(?:@({_DIGEST}))?$")
_TAG_RE = re.compile(rf"^{_TAG}$")
_ID = re.compile(r"^[a-f0-9]{64}$")
_SHORT_ID = re.compile(r"^[a-f0-9]{1,64}$")
NAME_MAX = 255


class Reference(NamedTuple):
    domain: str
    path: str  # "library/busybox"
    tag: str  # "" if none
    digest: str  # "" if none

    @property
    def repository(self) -> str:
        return f"{self.domain}/{self.path}"

    def full(self) -> str:
        """Canonical string: "docker.io/library/busybox:latest" (tag/digest as present)."""
        out = self.repository
        if self.tag:
            out += ":" + self.tag
        if self.digest:
            out += "@" + self.digest
        return out

    def familiar_name(self) -> str:
        if self.domain != DEFAULT_DOMAIN:
            return self.repository
        if self.path.startswith("library/") and self.path.count("/") == 1:
            return self.path[len("library/") :]
        return self.path

    def familiar(self) -> str:
        out = self.familiar_name()
        if self.tag:
            out += ":" + self.tag
        if self.digest:
            out += "@" + self.digest
        return out

    def with_default_tag(self) -> Reference:
        return self if self.tag or self.digest else self._replace(tag=DEFAULT_TAG)


def _split_domain(name: str) -> tuple[str, str]:
    first, slash, rest = name.partition("/")
    if not slash or (
        not any(c in first for c in ".:") and first != "localhost" and first.lower() == first
    ):
        domain, remainder = DEFAULT_DOMAIN, name
    else:
        domain, remainder = first, rest
    if domain == _LEGACY_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in remainder:
        remainder = "library/" + remainder
    return domain, remainder


def parse(ref: str) -> Reference:
    """Parse and normalise (ParseNormalizedNamed); no default tag added."""
    if _ID.match(ref):
        raise InvalidArgument(
            f"invalid repository name ({ref}), cannot specify 64-byte hexadecimal strings"
        )
    at = ref.find("@")
    name_part = ref if at < 0 else ref[:at]
    colon = name_part.rfind(":")
    bare = name_part if colon < 0 or "/" in name_part[colon:] else name_part[:colon]
    domain, remainder = _split_domain(bare)
    if remainder.lower() != remainder:
        raise InvalidArgument(
            f"invalid reference format: repository name ({remainder}) must be lowercase"
        )
    full = f"{domain}/{remainder}{ref[len(bare) :]}"
    m = _FULL.match(full)
    if not m:
        raise InvalidArgument("invalid reference format")
    if len(m.group(1)) > NAME_MAX:
        raise InvalidArgument(
            "invalid reference format: repository name must not be more than 255 characters"
        )
    return Reference(domain, remainder, m.group(2) or "", m.group(3) or "")


def normalize(ref: str) -> str:
    """ "busybox" -> "docker.io/library/busybox:latest"."""
    return parse(ref).with_default_tag().full()


def short(ref: str) -> str:
    """ "docker.io/library/busybox:latest" -> "busybox:latest" (no tag added)."""
    return parse(ref).familiar()


def split(ref: str) -> tuple[str, str, str]:
    """(repository, tag, digest) of a normalised ref, "latest" when neither is given."""
    r = parse(ref).with_default_tag()
    return r.repository, r.tag, r.digest


def with_tag(repo: str, tag: str) -> Reference:
    """Docker's tag request: `repo` (which may carry ":tag" if `tag` is empty) plus `tag`."""
    r = parse(repo)
    if r.digest:
        raise InvalidArgument("refusing to create a tag with a digest reference")
    if tag:
        if r.tag:
            raise InvalidArgument("invalid reference format")
        if not _TAG_RE.match(tag):
            raise InvalidArgument("invalid tag format")
        r = r._replace(tag=tag)
    return r.with_default_tag()


def is_id_prefix(ref: str) -> bool:
    return bool(_SHORT_ID.match(ref))
