"""The engine as the swarm agent sees it (wharfie.cluster.agent.TaskEngine): task containers
are ordinary containers, found by their `com.docker.swarm.task.id` label."""

from __future__ import annotations

from typing import TYPE_CHECKING

from wharfie.cluster.agent import LocalContainer
from wharfie.errors import NotFound

if TYPE_CHECKING:
    from wharfie.engine.core import Engine

TASK_LABEL = "com.docker.swarm.task.id"


class EngineTasks:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def task_containers(self) -> dict[str, LocalContainer]:
        out = {}
        for c in list(self._engine.containers.values()):
            task_id = (c.config.get("Labels") or {}).get(TASK_LABEL)
            if task_id and not c.removing:
                out[str(task_id)] = LocalContainer(
                    id=c.id,
                    running=bool(c.state["Running"]) or bool(c.state["Restarting"]),
                    exit_code=int(c.state["ExitCode"]),
                    pid=int(c.state["Pid"]),
                )
        return out

    def image_present(self, ref: str) -> bool:
        try:
            self._engine.images.resolve(ref)
        except NotFound:
            return False
        return True

    async def run(self, name: str, body: dict[str, object]) -> LocalContainer:
        created = await self._engine.ctr.create(body, name, (1, 44))
        cid = str(created["Id"])
        await self._engine.ctr.start(cid)
        c = self._engine.find(cid)
        return LocalContainer(cid, True, 0, int(c.state["Pid"]))

    async def remove(self, container_id: str, grace_s: int) -> None:
        try:
            await self._engine.ctr.stop(container_id, grace_s, None)
            await self._engine.ctr.remove(container_id, force=True, volumes=False)
        except NotFound:
            return
