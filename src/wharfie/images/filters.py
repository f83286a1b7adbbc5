"""Filters of `images` / `image prune` (dangling, label, reference, until) as predicates."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from typing import Any

from wharfie import times
from wharfie.errors import InvalidArgument

Check = Callable[[Any], bool]  # takes an ImageRecord


def bool_filter(values: list[str], key: str = "dangling") -> bool:
    """moby's Args.GetBoolOrDefault: "1"/"true" or "0"/"false" (exactly; both or neither:
    `invalid filter 'dangling=[maybe]'`, the values as Go prints a []string)."""
    is_false = "0" in values or "false" in values
    is_true = "1" in values or "true" in values
    if is_false == is_true:
        raise InvalidArgument(f"invalid filter '{key}=[{' '.join(values)}]'")
    return is_true


def _label_match(labels: dict[str, str], spec: str) -> bool:
    key, eq, value = spec.partition("=")
    return key in labels and (not eq or labels[key] == value)


def tag_matches(pattern: str, tag: str) -> bool:
    """moby's reference.FamiliarMatch for one tag: the pattern against "name:tag" or "name"."""
    name = tag.rpartition(":")[0] if ":" in tag.rpartition("/")[2] else tag
    return fnmatch.fnmatchcase(tag, pattern) or fnmatch.fnmatchcase(name, pattern)


def _ref_match(rec: Any, pattern: str) -> bool:
    return any(tag_matches(pattern, tag) for tag in rec.repo_tags)


def _until(value: str) -> float:
    try:
        return times.get_timestamp(value)
    except InvalidArgument as exc:
        raise InvalidArgument(f"invalid filter 'until={value}'") from exc


def _dangling_check(values: list[str]) -> Check:
    want = bool_filter(values)
    return lambda r: (not r.repo_tags) == want


def _label_check(values: list[str]) -> Check:
    return lambda r: all(_label_match(r.labels, x) for x in values)


def _not_label_check(values: list[str]) -> Check:
    """prune's `label!`: an image matching every one of them is kept (moby's matchLabels)."""
    return lambda r: not all(_label_match(r.labels, x) for x in values)


def _reference_check(values: list[str]) -> Check:
    return lambda r: any(_ref_match(r, x) for x in values)


def _until_check(values: list[str]) -> Check:
    limit = min(_until(v) for v in values)
    return lambda r: r.created < limit


def time_check(before: bool, pivot: float) -> Check:
    if before:
        return lambda r: r.created < pivot
    return lambda r: r.created > pivot


CHECKS: dict[str, Callable[[list[str]], Check]] = {
    "dangling": _dangling_check,
    "label": _label_check,
    "label!": _not_label_check,
    "reference": _reference_check,
    "until": _until_check,
}


def all_checks(rec: Any, checks: list[Check]) -> bool:
    return all(check(rec) for check in checks)
