"""A build context folder → an uncompressed tar, honouring .dockerignore.

.dockerignore lines are glob patterns relative to the context (`**` matches any
number of folders, a leading `!` re-includes); the Dockerfile and .dockerignore
are always sent, as docker does.
"""

from __future__ import annotations

import io
import os
import tarfile
from fnmatch import fnmatchcase


def _patterns(context: str) -> list[tuple[bool, str]]:
    path = os.path.join(context, ".dockerignore")
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return []
    out = []
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = os.path.normpath(line.lstrip("!").strip()).lstrip("/")
        out.append((negate, pattern))
    return out


def _matches(rel: str, pattern: str) -> bool:
    if fnmatchcase(rel, pattern) or fnmatchcase(rel, pattern.replace("**/", "")):
        return True
    # a pattern naming a folder excludes what is inside it
    return rel.startswith(pattern.rstrip("/") + "/") and "*" not in pattern


def ignored(rel: str, patterns: list[tuple[bool, str]]) -> bool:
    out = False
    for negate, pattern in patterns:
        if _matches(rel, pattern):
            out = not negate
    return out


def context_tar(context: str, dockerfile: str = "Dockerfile") -> bytes:
    patterns = _patterns(context)
    keep = {dockerfile, ".dockerignore"}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for root, dirs, files in os.walk(context):
            dirs.sort()
            rel_root = os.path.relpath(root, context)
            for name in sorted(files) + [d for d in dirs if os.path.islink(os.path.join(root, d))]:
                rel = name if rel_root == "." else f"{rel_root}/{name}"
                if rel in keep or not ignored(rel, patterns):
                    tar.add(os.path.join(root, name), arcname=rel, recursive=False)
            for d in list(dirs):
                rel = d if rel_root == "." else f"{rel_root}/{d}"
                if ignored(rel, patterns):
                    # walked into only if a `!pattern` may re-include something below
                    if not any(neg and p.startswith(rel + "/") for neg, p in patterns):
                        dirs.remove(d)
                elif not os.path.islink(os.path.join(root, d)):
                    tar.add(os.path.join(root, d), arcname=rel, recursive=False)
    return buf.getvalue()
