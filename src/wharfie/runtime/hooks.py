"""OCI lifecycle hooks: run each with the container state JSON on its stdin.

Failures of prestart, createRuntime, createContainer and startContainer hooks
fail the operation; poststart and poststop failures are warnings (the spec's
rule), returned to the caller to log.
"""

from __future__ import annotations

import subprocess

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

FATAL = ("prestart", "createRuntime", "createContainer", "startContainer")


class HookError(Exception):
    pass


def run_one(kind: str, index: int, hook: dict[str, Any], state_json: str) -> None:
    args = hook.get("args") or [hook["path"]]
    env = dict(e.split("=", 1) for e in hook.get("env") or [])
    try:
        res = subprocess.run(
            args,
            executable=hook["path"],
            input=state_json.encode(),
            env=env,
            capture_output=True,
            timeout=hook.get("timeout"),
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise HookError(
            f"{kind} hook #{index} ({hook['path']}): timed out after {exc.timeout}s"
        ) from exc
    except OSError as exc:
        raise HookError(f"{kind} hook #{index} ({hook['path']}): {exc.strerror}") from exc
    if res.returncode != 0:
        detail = (res.stderr or res.stdout).decode(errors="replace").strip()
        raise HookError(
            f"{kind} hook #{index} ({hook['path']}): exit status {res.returncode}"
            + (f", output: {detail}" if detail else "")
        )


def run_all(kind: str, hooks: list[dict[str, Any]], state_json: str) -> list[str]:
    """Run `hooks` in order; raise on the first failure of a fatal kind, else collect warnings."""
    warnings = []
    for i, hook in enumerate(hooks):
        try:
            run_one(kind, i, hook, state_json)
        except HookError as exc:
            if kind in FATAL:
                raise
            warnings.append(str(exc))
    return warnings
