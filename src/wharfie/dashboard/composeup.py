"""`Up` for a compose project from the page: `wharfie compose up -d` with the project's
compose files, as recorded in its containers' labels.

Compose is a client of the Engine API (it plans on the client side), so the dashboard
runs the CLI against the daemon's own socket, in the project's working directory, rather
than reimplementing compose in the daemon. Down, stop and restart need no compose file:
the page does them through the API.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass

from wharfie.api.http import HTTPError
from wharfie.errors import FailedPrecondition, NotFound

PROJECT = "com.docker.compose.project"
CONFIG_FILES = PROJECT + ".config_files"
WORKING_DIR = PROJECT + ".working_dir"
TIMEOUT = 600.0


@dataclass(frozen=True)
class ProjectFiles:
    project: str
    files: tuple[str, ...]
    working_dir: str


def project_files(project: str, labels: Iterable[dict[str, str]]) -> ProjectFiles:
    """The compose files and folder of `project` from its containers' labels (pure)."""
    found = [lab for lab in labels if lab.get(PROJECT) == project]
    if not found:
        raise NotFound(f"no container of compose project {project!r}")
    for lab in found:
        files = tuple(f for f in lab.get(CONFIG_FILES, "").split(",") if f)
        if files:
            return ProjectFiles(
                project, files, lab.get(WORKING_DIR, "") or os.path.dirname(files[0])
            )
    raise FailedPrecondition(
        f"the compose file of project {project!r} is not known (its containers carry no "
        f"{CONFIG_FILES} label): run `wharfie compose up -d` in its folder"
    )


def command(api_host: str, p: ProjectFiles) -> list[str]:
    args = [sys.executable, "-m", "wharfie.cli", "-H", api_host, "compose", "-p", p.project]
    for f in p.files:
        args += ["-f", f]
    return [*args, "up", "-d"]


async def up(api_host: str, p: ProjectFiles) -> str:
    """Run it; the output on success, HTTPError(400, the CLI's message) on failure."""
    for f in p.files:
        if not os.path.isfile(f):
            raise NotFound(f"compose file {f} of project {p.project!r} not found")
    proc = await asyncio.create_subprocess_exec(
        *command(api_host, p),
        cwd=p.working_dir if os.path.isdir(p.working_dir) else None,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), TIMEOUT)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise HTTPError(504, f"compose up of {p.project!r} took more than {TIMEOUT:.0f}s") from None
    text = out.decode(errors="replace").strip()
    if proc.returncode:
        raise HTTPError(400, text or f"compose up of {p.project!r} failed ({proc.returncode})")
    return text
