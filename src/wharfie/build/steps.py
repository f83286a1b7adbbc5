"""COPY, ADD and WORKDIR as layers: what to copy (after substitution), the history text,
the content hash for the cache key, and filling the layer directory.
"""

from __future__ import annotations

import os
import posixpath
import re
import shutil
from dataclasses import dataclass, field

from wharfie.build import copier, shell
from wharfie.build.context import extract_archive
from wharfie.build.dispatch import StageState
from wharfie.build.parser import Instruction
from wharfie.errors import InvalidArgument, NotFound, Unavailable

_HEREDOC_WORD = re.compile(r"^<<-?(['\"]?)([a-zA-Z_][a-zA-Z0-9_]*)\1$")


@dataclass
class CopyStep:
    cmd: str  # "copy" or "add"
    root: str  # where sources are read from
    patterns: list[str]
    dest: str  # absolute, in the image
    chown: str
    chmod: int | None
    keep_owner: bool
    scratch: str  # a private dir for heredocs and downloads
    urls: list[str] = field(default_factory=list)
    history: str = ""
    flags_text: str = ""
    passwd_root: str | None = None
    _srcs: list[copier.Source] | None = None

    @classmethod
    def prepare(
        cls, st: StageState, ins: Instruction, root: str, scratch: str, from_image: bool
    ) -> CopyStep:
        what = ins.cmd.upper()
        words = list(ins.json) if ins.json is not None else _words(ins.rest)
        if len(words) < 2:
            raise InvalidArgument(f"{what} requires at least two arguments")
        words = [st.word(w) for w in words]
        heredoc_names = {h.name: h for h in ins.heredocs}
        patterns, urls = [], []
        for w in words[:-1]:
            m = _HEREDOC_WORD.match(w) if ins.heredocs else None
            if m and m.group(2) in heredoc_names:
                doc = heredoc_names[m.group(2)]
                text = (
                    shell.heredoc(doc.content, st.env(), st.escape) if doc.expand else (doc.content)
                )
                patterns.append(_heredoc_file(scratch, doc.name, text))
            elif ins.cmd == "add" and copier.is_url(w):
                urls.append(w)
            else:
                patterns.append(w)
        dest = copier.destination(words[-1], str(st.config.get("WorkingDir") or "/"))
        if words[-1].endswith("/") and not dest.endswith("/"):
            dest += "/"
        step = cls(
            ins.cmd,
            root,
            patterns,
            dest,
            st.word(ins.flag("chown") or ""),
            copier.parse_chmod(ins.flag("chmod")),
            from_image,
            scratch,
            urls,
        )
        step.flags_text = " ".join(f for f in ins.flags if not f.startswith("--from="))
        return step

    def describe(self, source_hash: str) -> str:
        """The history text, as Docker's: `COPY file:<content hash> in /dest ` (dir:,
        multi: for a directory or several sources); what --cache-from matches on."""
        srcs = self.sources()
        kind = (
            "multi"
            if len(srcs) > 1
            else (
                "dir"
                if os.path.isdir(srcs[0].path) and not os.path.islink(srcs[0].path)
                else "file"
            )
        )
        flags = self.flags_text + " " if self.flags_text else ""
        self.history = (
            f"/bin/sh -c #(nop) {self.cmd.upper()} {flags}{kind}:"
            f"{source_hash.removeprefix('sha256:')} in {self.dest} "
        )
        return self.history

    def sources(self) -> list[copier.Source]:
        if self._srcs is None:
            srcs: list[copier.Source] = []
            heredocs = [p for p in self.patterns if p.startswith(self.scratch + "/")]
            plain = [p for p in self.patterns if p not in heredocs]
            if plain:
                srcs += copier.sources(self.root, plain, self.cmd.upper())
            srcs += [copier.Source(p, os.path.basename(p), False) for p in heredocs]
            srcs += [_download(u, self.scratch) for u in self.urls]
            self._srcs = srcs
        return self._srcs

    def source_hash(self) -> str:
        return copier.content_hash(self.sources())


def _words(rest: str) -> list[str]:
    from wharfie.build.parser import split_words

    return split_words(rest)


def _heredoc_file(scratch: str, name: str, content: str) -> str:
    d = os.path.join(scratch, "heredoc-" + name)
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, name)
    with open(path, "w") as f:
        f.write(content)
    os.chmod(path, 0o644)
    return path


def _download(url: str, scratch: str) -> copier.Source:
    import email.utils
    import urllib.parse
    import urllib.request

    name = posixpath.basename(urllib.parse.urlparse(url).path) or "index.html"
    d = os.path.join(scratch, "url-" + str(abs(hash(url))))
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, name)
    try:
        with urllib.request.urlopen(url, timeout=60) as resp, open(path, "wb") as f:
            shutil.copyfileobj(resp, f, 1 << 20)
            modified = resp.headers.get("Last-Modified")
    except OSError as exc:
        raise Unavailable(f"failed to fetch {url}: {exc}") from exc
    os.chmod(path, 0o600)
    if modified:
        ts = email.utils.parsedate_to_datetime(modified).timestamp()
        os.utime(path, (ts, ts))
    return copier.Source(path, name, False)


def copy_layer(step: CopyStep, layer: str, image_root: str | None) -> None:
    """Fill `layer` (an empty dir) with what the step copies."""
    srcs = step.sources()
    uid, gid = _owner(step.chown, image_root)
    opts = copier.CopyOptions(uid, gid, step.chmod, keep_owner=step.keep_owner)
    as_dir = copier.dest_is_dir(step.dest, srcs, image_root) or (
        len(srcs) == 1 and os.path.isdir(srcs[0].path) and not os.path.islink(srcs[0].path)
    )
    dest = step.dest.rstrip("/") or "/"
    dest_dir = _in_image(image_root, dest if as_dir else posixpath.dirname(dest))
    dest = dest_dir if as_dir else posixpath.join(dest_dir, posixpath.basename(dest))
    copier.parent_dirs(layer, image_root, dest_dir, opts)
    base = layer + (dest_dir if dest_dir != "/" else "")
    for src in srcs:
        is_dir = os.path.isdir(src.path) and not os.path.islink(src.path)
        if (
            step.cmd == "add"
            and not src.path.startswith(step.scratch)
            and copier.is_archive(src.path)
        ):
            extract_archive(src.path, base)
        elif is_dir:  # a directory's contents (a wildcard's match too, as docker)
            copier.copy_source(src, base, opts)
        else:
            name = os.path.basename(src.rel)
            copier.copy_source(src, os.path.join(base, name) if as_dir else layer + dest, opts)


def _in_image(image_root: str | None, path: str) -> str:
    """`path` with the image's symlinks resolved (COPY to /var/run/x writes /run/x when
    /var/run links to /run, instead of hiding the link with a directory)."""
    if image_root is None:
        return path
    rel = os.path.relpath(copier.inside(image_root, path, follow_last=True), image_root)
    return "/" if rel == "." else "/" + rel


def workdir_layer(layer: str, image_root: str | None, path: str) -> bool:
    """Create WORKDIR's directory in `layer` if the image lacks it; False if it exists."""
    if image_root is not None and os.path.isdir(copier.inside(image_root, path)):
        return False
    copier.parent_dirs(layer, image_root, path, copier.CopyOptions())
    return True


def _owner(chown: str, image_root: str | None) -> tuple[int | None, int | None]:
    if not chown:
        return None, None
    user, _, group = chown.partition(":")
    uid = _lookup(user, image_root, "etc/passwd", "user")
    gid = _lookup(group, image_root, "etc/group", "group") if group else None
    if gid is None:
        gid = uid if user.isdigit() else _primary_gid(user, image_root)
    return uid, gid


def _lookup(name: str, image_root: str | None, rel: str, kind: str) -> int:
    if name.isdigit():
        return int(name)
    for fields in _entries(image_root, rel):
        if fields[0] == name and len(fields) > 2 and fields[2].isdigit():
            return int(fields[2])
    raise NotFound(
        f"unable to convert uid/gid chown string to host mapping: can't find "
        f"{kind} {name}: no such {kind}: {name}"
    )


def _primary_gid(user: str, image_root: str | None) -> int:
    for fields in _entries(image_root, "etc/passwd"):
        if fields[0] == user and len(fields) > 3 and fields[3].isdigit():
            return int(fields[3])
    return 0


def _entries(image_root: str | None, rel: str) -> list[list[str]]:
    if image_root is None:
        return []
    path = copier.inside(image_root, rel)
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return [line.rstrip("\n").split(":") for line in f if not line.startswith("#")]
    except OSError:
        return []
