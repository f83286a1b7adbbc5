"""The Docker Engine API (1.44) over HTTP: server, routes, error mapping."""

from __future__ import annotations

from typing import TYPE_CHECKING

from wharfie.api.http import Router
from wharfie.api.serve import Server

if TYPE_CHECKING:
    from wharfie.engine.core import Engine


def build(engine: Engine) -> Server:
    from wharfie.api import routes_swarm
    from wharfie.api.routes_build import BuildRoutes
    from wharfie.api.routes_containers import ContainerRoutes
    from wharfie.api.routes_images import ImageRoutes
    from wharfie.api.routes_networks import NetworkRoutes
    from wharfie.api.routes_system import SystemRoutes
    from wharfie.api.routes_volumes import VolumeRoutes

    router = Router()
    for routes in (SystemRoutes(engine), ContainerRoutes(engine)):
        routes.register(router)
    ImageRoutes(engine.image_service).register(router)
    VolumeRoutes(engine.volumes).register(router)
    BuildRoutes(engine.builds).register(router)
    NetworkRoutes(engine.network_api).register(router)
    routes_swarm.register(router)
    return Server(router)
