"""The `filters` query parameter (moby api/types/filters) and container list matching (pure).

`parse(raw)` accepts the map form {"label": {"a=b": true}} and the legacy list form
{"label": ["a=b"]}; `validate(f, allowed)` rejects unknown keys; `match_container` applies
moby's `docker ps` filters to one container. Values that need the engine's state (the
image an `ancestor` names, the container a `before`/`since` names) are resolved by the
engine and passed in.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable
from typing import NamedTuple

from wharfie.errors import InvalidArgument

__all__ = [
    "CONTAINER_FILTERS",
    "STATES",
    "ContainerView",
    "match_container",
    "match_labels",
    "parse",
    "validate",
]

STATES = ("created", "restarting", "running", "removing", "paused", "exited", "dead")
HEALTH = ("starting", "healthy", "unhealthy", "none")
CONTAINER_FILTERS = frozenset({
    "ancestor", "before", "expose", "exited", "health", "id", "isolation", "is-task", "label",
    "name", "network", "publish", "since", "status", "volume",
})  # fmt: skip


class ContainerView(NamedTuple):
    id: str
    names: list[str]  # without the leading "/"
    image: str  # as given at create
    image_id: str
    labels: dict[str, str]
    state: str  # one of STATES
    exit_code: int
    created: float
    ancestor_ids: frozenset[str] | set[str] = frozenset()  # the image and its parents
    health: str = "none"
    networks: dict[str, str] | None = None  # network name -> network id


def _invalid(name: str = "", value: str | None = None) -> InvalidArgument:
    """moby's invalidFilter: `invalid filter`, `invalid filter 'name'`, `... 'name=value'`."""
    msg = "invalid filter"
    if name:
        msg += f" '{name}" + (f"={value}" if value is not None else "") + "'"
    return InvalidArgument(msg)


def parse(raw: str | None) -> dict[str, list[str]]:
    """The filters parameter -> {name: [values]} (values in sorted order)."""
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError as e:
        raise InvalidArgument(f"invalid filter: {e}") from e
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise _invalid()
    out: dict[str, list[str]] = {}
    for name, values in data.items():
        if isinstance(values, dict):
            out[name] = sorted(str(v) for v in values)
        elif isinstance(values, list) and all(isinstance(v, str) for v in values):
            out[name] = sorted(values)
        elif values is None:
            out[name] = []
        else:
            raise _invalid()
    return out


def validate(filters: dict[str, list[str]], allowed: Iterable[str]) -> None:
    """InvalidArgument("invalid filter 'foo'") for a key not in `allowed`."""
    accepted = set(allowed)
    for name in sorted(filters):
        if name not in accepted:
            raise _invalid(name)


def match_labels(wanted: list[str], labels: dict[str, str]) -> bool:
    """moby's MatchKVList: every "k" must exist, every "k=v" must be equal (AND)."""
    labels = labels or {}
    for item in wanted:
        key, has_value, value = item.partition("=")
        if key not in labels:
            return False
        if has_value and labels[key] != value:
            return False
    return True


def _regex_match(patterns: list[str], source: str) -> bool:
    """moby's Args.Match: exact, else an unanchored regular expression search."""
    for pattern in patterns:
        if pattern == source:
            return True
        try:
            if re.search(pattern, source):
                return True
        except re.error:
            continue
    return False


def check_container_values(filters: dict[str, list[str]]) -> None:
    """Reject values moby rejects: unknown status/health, non-numeric exited."""
    for value in filters.get("status", ()):
        if value not in STATES:
            raise _invalid("status", value)
    for value in filters.get("health", ()):
        if value not in HEALTH:
            raise InvalidArgument(f"Unrecognised filter value for health: {value}")
    for value in filters.get("exited", ()):
        try:
            int(value)
        except ValueError as e:
            raise _invalid("exited", value) from e


def match_container(
    f: dict[str, list[str]],
    view: ContainerView,
    *,
    resolve_image: Callable[[str], str | None] | None = None,
    before: float | None = None,
    since: float | None = None,
) -> bool:
    """Whether `view` passes every filter (values of one filter are ORed, except label).

    resolve_image(name) -> image id (or None) serves `ancestor`; `before`/`since` are the
    creation times of the containers those filters name (resolved by the engine).
    """
    if f.get("id") and not _regex_match(f["id"], view.id):
        return False
    if f.get("name"):
        names = [n for name in view.names for n in ("/" + name.lstrip("/"), name.lstrip("/"))]
        if not any(_regex_match(f["name"], n) for n in names):
            return False
    if f.get("label") and not match_labels(f["label"], view.labels):
        return False
    if f.get("status") and view.state not in f["status"]:
        return False
    codes = {int(v) for v in f.get("exited", ())}
    if codes and (view.state != "exited" or view.exit_code not in codes):
        return False
    if f.get("health") and view.health not in f["health"]:
        return False
    if f.get("ancestor") and not _match_ancestor(f["ancestor"], view, resolve_image):
        return False
    if f.get("network") and not _match_network(f["network"], view.networks or {}):
        return False
    if before is not None and view.created >= before:
        return False
    return not (since is not None and view.created <= since)


def _match_network(wanted: list[str], networks: dict[str, str]) -> bool:
    """moby: a network's exact name, or a prefix of its id."""
    return any(
        value in networks or any(nid.startswith(value) for nid in networks.values())
        for value in wanted
    )


def _match_ancestor(
    wanted: list[str], view: ContainerView, resolve: Callable[[str], str | None] | None
) -> bool:
    ids = set(view.ancestor_ids) | {view.image_id}
    for name in wanted:
        if name == view.image or _bare(name) == _bare(view.image):
            return True
        image_id = resolve(name) if resolve else None
        if image_id and image_id in ids:
            return True
        short = name.removeprefix("sha256:")
        if len(short) >= 12 and any(i.removeprefix("sha256:").startswith(short) for i in ids):
            return True
    return False


def _bare(ref: str) -> str:
    """busybox, busybox:latest, docker.io/library/busybox:latest -> one spelling."""
    for prefix in ("docker.io/library/", "index.docker.io/library/", "docker.io/"):
        if ref.startswith(prefix):
            ref = ref[len(prefix) :]
    last = ref.rsplit("/", 1)[-1]
    if ":" not in last and "@" not in last:
        ref += ":latest"
    return ref


# -- prune (moby's daemon/prune.go: the same rules for every resource) ----------------------

PRUNE_CONTAINER_FILTERS = frozenset({"label", "label!", "until"})
PRUNE_NETWORK_FILTERS = frozenset({"label", "label!", "until"})
PRUNE_IMAGE_FILTERS = frozenset({"dangling", "label", "label!", "until"})
NETWORK_LIST_FILTERS = frozenset({"dangling", "driver", "id", "label", "name", "scope", "type"})


def prune_until(f: dict[str, list[str]], now: float | None = None) -> float | None:
    """The `until` filter as seconds since the epoch (None without one), as moby's
    getUntilFromPruneFilters reads it."""
    from wharfie.engine.present import parse_duration, parse_time

    values = f.get("until")
    if not values:
        return None
    if len(values) > 1:
        raise InvalidArgument("more than one until filter specified")
    try:
        parse_duration(values[0])
    except (InvalidArgument, ValueError):
        pass
    else:  # moby's GetTimestamp gives whole seconds for a duration ("10m", "0s")
        return float(math.floor(parse_time(values[0], now)))
    try:
        return parse_time(values[0], now)
    except (InvalidArgument, ValueError):
        raise InvalidArgument(
            f"failed to parse value as time or duration: {json.dumps(values[0])}"
        ) from None


def prune_match(
    f: dict[str, list[str]], labels: dict[str, str] | None, created: float, until: float | None
) -> bool:
    """moby's matchLabels plus the until check: every `label` matches, not every `label!`
    matches, and the object was created before `until`."""
    labels = labels or {}
    if "label" in f and not match_labels(f["label"], labels):
        return False
    if f.get("label!") and match_labels(f["label!"], labels):
        return False
    return until is None or created < until


# -- images (the api layer reaches wharfie.images through the engine) -----------------------


def image_dangling(values: list[str]) -> bool:
    """The `dangling` filter's value: `invalid filter 'dangling=[maybe]'` unless a boolean."""
    from wharfie.images.filters import bool_filter

    return bool_filter(values)


def image_tag_matches(pattern: str, tag: str) -> bool:
    from wharfie.images.filters import tag_matches

    return tag_matches(pattern, tag)


def check_image_reference(name: str) -> None:
    """InvalidArgument (moby's 400) when `name` is neither an id prefix nor a well-formed
    reference; for a lookup that found nothing, to tell "malformed" from "absent"."""
    from wharfie.images import reference

    if not reference.is_id_prefix(name):
        reference.parse(name)
