"""The Docker Engine API (1.44) over HTTP: server, routes, error mapping."""

from __future__ import annotations

from typing import TYPE_CHECKING

from wharfie.api.http import Router
from wharfie.api.serve import Server

if TYPE_CHECKING:
    from wharfie.engine.core import Engine


def build(engine: Engine) -> Server:
    from wharfie.api import http, routes_swarm
    from wharfie.api.routes_build import BuildRoutes
    from wharfie.api.routes_checkpoints import CheckpointRoutes
    from wharfie.api.routes_containers import ContainerRoutes
    from wharfie.api.routes_images import ImageRoutes
    from wharfie.api.routes_networks import NetworkRoutes
    from wharfie.api.routes_system import SystemRoutes
    from wharfie.api.routes_volumes import VolumeRoutes

    http.EXPERIMENTAL = engine.config.experimental
    router = Router()
    CheckpointRoutes(engine).register(router)  # before /containers/{a}/{b} (DELETE ?link)
    for routes in (SystemRoutes(engine), ContainerRoutes(engine), ImageRoutes(engine)):
        routes.register(router)
    VolumeRoutes(engine).register(router)
    BuildRoutes(engine).register(router)
    NetworkRoutes(engine).register(router)
    routes_swarm.register(router)
    return Server(router)
