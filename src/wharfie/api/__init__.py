"""The Docker Engine API (1.44) over HTTP: server, routes, error mapping."""

from __future__ import annotations

from typing import TYPE_CHECKING

from wharfie.api.http import Router
from wharfie.api.serve import Server

if TYPE_CHECKING:
    from wharfie.api.routes_control import ControlBackend
    from wharfie.api.routes_swarm import SwarmBackend
    from wharfie.engine.core import Engine


def build(engine: Engine, swarm: SwarmBackend) -> Server:
    from wharfie.api import http
    from wharfie.api.routes_build import BuildRoutes
    from wharfie.api.routes_checkpoints import CheckpointRoutes
    from wharfie.api.routes_containers import ContainerRoutes
    from wharfie.api.routes_images import ImageRoutes
    from wharfie.api.routes_networks import NetworkRoutes
    from wharfie.api.routes_swarm import SwarmRoutes
    from wharfie.api.routes_system import SystemRoutes
    from wharfie.api.routes_volumes import VolumeRoutes
    from wharfie.api.swarmnetworks import SwarmNetworks

    http.EXPERIMENTAL = engine.config.experimental
    router = Router()
    CheckpointRoutes(engine.checkpoints).register(router)  # before /containers/{a}/{b}
    SystemRoutes(engine.system, swarm).register(router)
    ContainerRoutes(engine.container_api, engine.exec_api, engine.checkpoints).register(router)
    ImageRoutes(engine.image_service).register(router)
    VolumeRoutes(engine.volumes).register(router)
    BuildRoutes(engine.builds).register(router)
    NetworkRoutes(SwarmNetworks(engine.network_api, swarm)).register(router)
    SwarmRoutes(swarm).register(router)
    return Server(router)


def build_control(backend: ControlBackend) -> Server:
    """The server of a manager's control endpoint (the cluster protocol, not the Docker API)."""
    from wharfie.api.routes_control import ControlRoutes

    router = Router()
    ControlRoutes(backend).register(router)
    return Server(router)
