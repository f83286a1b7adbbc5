"""The OCI runtimes a container may name: where each binary is, its state root, and what
it says about itself on this host (`features`)."""

from __future__ import annotations

import os
import shutil
import sys

from wharfie.errors import InvalidArgument
from wharfie.monitor.client import RuntimeRef

_FOUND: dict[str, str] = {}
_RUNTIME_WARNINGS: dict[str, list[str]] = {}


class Runtimes:
    def __init__(self, default: str, exec_root: str, configured: dict[str, str]) -> None:
        self.default = default
        self.exec_root = exec_root
        self.configured = configured  # name -> binary path (daemon.json "runtimes")

    def ref(self, name: str | None) -> RuntimeRef:
        name = name or self.default
        root = os.path.join(self.exec_root, "runtime", os.path.basename(name))
        if name == "wharfie-runtime":
            path = _which("wharfie-runtime") or "wharfie-runtime"
            return RuntimeRef(name=name, path=path, root=root, in_process=True)
        path = self.configured.get(name) or _which(name)
        if not path and name == "wharfie-vm":  # installed beside wharfied (docs/vm.md)
            beside = os.path.join(os.path.dirname(sys.executable), name)
            path = beside if os.access(beside, os.X_OK) else ""
        if not path:
            raise InvalidArgument(f"unknown or invalid runtime name: {name}")
        return RuntimeRef(name=name, path=path, root=root, in_process=False)

    def check(self, name: str) -> None:
        self.ref(name)

    def warnings(self, name: str) -> list[str]:
        """What a runtime says about itself on this host: the `org.wharfie.warning` annotation
        of its `features` (wharfie-vm without a usable KVM). Asked once per runtime."""
        if name not in _RUNTIME_WARNINGS:
            try:
                ref = self.ref(name)
            except InvalidArgument:
                return []
            _RUNTIME_WARNINGS[name] = [] if ref.in_process else _features_warning(ref.path)
        return _RUNTIME_WARNINGS[name]


def _features_warning(path: str) -> list[str]:
    import json
    import subprocess

    try:
        out = subprocess.run([path, "features"], capture_output=True, timeout=30, check=True)
        annotations = json.loads(out.stdout).get("annotations") or {}
    except (OSError, ValueError, AttributeError, subprocess.SubprocessError):
        return []
    warning = annotations.get("org.wharfie.warning") if isinstance(annotations, dict) else None
    return [str(warning)] if warning else []


def _which(name: str) -> str:
    """shutil.which, remembering hits (every create and start asks; a PATH walk is ~0.3 ms).
    Misses are not remembered, so a runtime installed later is found without a restart."""
    path = _FOUND.get(name)
    if path is None:
        path = shutil.which(name) or ""
        if path:
            _FOUND[name] = path
    return path
