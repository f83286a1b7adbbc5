"""Carrying out a plan through the Docker API: `up` and `down`.

Levels of the plan run one after the other; inside a level the services run in
parallel threads (each with its own client connection). Before a service starts,
its dependencies' conditions are awaited: service_started (already done by the
level order), service_healthy (health status polled; unhealthy or exited is an
error naming the service), service_completed_successfully (waited for, a
non-zero exit is an error). Progress goes to a callback as (kind, name, status),
the way compose prints " ✔ Container proj-web-1  Started".
"""

from __future__ import annotations

import threading
import time

from wharfie.client.api import APIError
from wharfie.compose import convert, plan, resources
from wharfie.errors import FailedPrecondition, NotFound

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from wharfie.client.api import Client
    from wharfie.compose.loader import Project

    Progress = Callable[[str, str, str], None]


class DependencyFailed(FailedPrecondition):
    """A service's dependency did not become healthy or did not complete."""


class Runner:
    def __init__(
        self,
        new_client: Callable[[], Client],
        project: Project,
        progress: Progress,
        client: Client | None = None,
    ) -> None:
        self.new_client = new_client
        self.project = project
        self.progress = progress
        self._local = threading.local()
        self.client = client or new_client()
        self._nets: bool | None = None
        # called as (container id, container name, service) just before each start:
        # attached `up` attaches there, so no output is missed
        self.before_start: Callable[[str, str, str], None] | None = None
        self.after_start: Callable[[str, str, str], None] | None = None
        self.renew_anon_volumes = False  # up -V: recreated containers get fresh ones

    # -- helpers -----------------------------------------------------------
    def thread_client(self) -> Client:
        c: Client | None = getattr(self._local, "client", None)
        if c is None:
            c = self.new_client()
            c.version = self.client.api_version()
            self._local.client = c
        return c

    def parallel(self, jobs: list[Callable[[], None]]) -> None:
        """Run jobs in threads; the first error is raised once all are done."""
        if len(jobs) == 1:
            jobs[0]()
            return
        errors: list[BaseException] = []

        def run(job: Callable[[], None]) -> None:
            try:
                job()
            except BaseException as exc:  # handed to the caller below
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(j,), daemon=True) for j in jobs]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]

    def containers(self, oneoff: bool | None = False, all: bool = True) -> list[dict[str, Any]]:
        return resources.project_containers(self.client, self.project.name, oneoff, all)

    def context(self) -> convert.Context:
        if self._nets is None:
            self._nets = resources.networks_supported(self.client)
        ids = {}
        for c in self.containers():
            svc = (c.get("Labels") or {}).get(plan.SERVICE)
            if svc and svc not in ids:
                ids[svc] = c["Id"]
        return convert.Context(
            self.project.model, self.project.working_dir, self.project.config_files, self._nets, ids
        )

    # -- images ------------------------------------------------------------
    def ensure_images(
        self, names: set[str], build: bool, no_build: bool, log: Callable[[str], None]
    ) -> dict[str, str]:
        """Build or pull what the services need; returns {service: image id}."""
        ids: dict[str, str] = {}
        cache: dict[str, str | None] = {}
        for name in sorted(names):
            svc = self.project.services[name]
            policy = svc.get("pull_policy", "missing")
            if svc["image"] not in cache:
                cache[svc["image"]] = resources.image_id(self.client, svc["image"])
            have = cache[svc["image"]]
            if "build" in svc and not no_build and (build or policy == "build" or have is None):
                self.progress("Service", name, "Building")
                have = resources.build(self.client, name, svc, log)
                cache[svc["image"]] = have
                self.progress("Service", name, "Built")
            elif policy == "always" or (have is None and policy != "never"):
                self.progress("Image", svc["image"], "Pulling")
                resources.pull(self.client, svc["image"], log)
                have = cache[svc["image"]] = resources.image_id(self.client, svc["image"])
                self.progress("Image", svc["image"], "Pulled")
            if have is None:
                raise NotFound(
                    f"service {name}: image {svc['image']} not found"
                    + (" (pull_policy: never)" if policy == "never" else "")
                )
            ids[name] = have
        return ids

    # -- networks and volumes ---------------------------------------------
    def ensure_networks(self, ctx: convert.Context, names: set[str]) -> None:
        used = {
            n
            for s in names
            for n in self.project.services[s].get("networks", {})
            if not self.project.services[s].get("network_mode")
        }
        if not used:
            return
        if not ctx.networks_supported:
            self.progress(
                "Network",
                ", ".join(sorted(used)),
                "Skipped: the daemon has no /networks API; using the default bridge",
            )
            return
        for key in sorted(used):
            net = self.project.model["networks"][key]
            if resources.ensure_network(self.client, ctx, key, net):
                self.progress("Network", net["name"], "Created")

    def ensure_volumes(self, ctx: convert.Context, names: set[str]) -> None:
        used = {
            v["source"]
            for s in names
            for v in self.project.services[s].get("volumes", [])
            if v["type"] == "volume" and v.get("source")
        }
        for key in sorted(used):
            vol = self.project.model["volumes"][key]
            if resources.ensure_volume(self.client, ctx, key, vol):
                self.progress("Volume", vol["name"], "Created")

    # -- up ----------------------------------------------------------------
    def up(
        self,
        opts: plan.UpOptions,
        build: bool = False,
        no_build: bool = False,
        log: Callable[[str], None] | None = None,
    ) -> plan.Plan:
        services = self.project.services
        targets = set(opts.services) if opts.services else set(services)
        if not opts.no_deps:
            targets = plan.with_dependencies(services, sorted(targets))
        opts.image_ids = self.ensure_images(targets, build, no_build, log or (lambda _m: None))
        opts.known = set(self.project.disabled)
        ctx = self.context()
        self.ensure_networks(ctx, targets)
        self.ensure_volumes(ctx, targets)
        p = plan.plan_up(self.project.name, services, self.containers(), opts)
        if p.found_orphans and not opts.remove_orphans:
            self.progress(
                "Warning",
                self.project.name,
                "found orphan containers (" + ", ".join(p.found_orphans) + ") for "
                "this project; run with --remove-orphans to clean them up",
            )
        for action in p.orphans:
            self._remove(action.container or "", action.name, force=True)
        for level in p.levels:
            skip = set(services) - targets if opts.no_deps else set()
            jobs = [
                self._service_job(ctx, name, p.actions.get(name, []), opts.no_start, skip)
                for name in level
            ]
            self.parallel(jobs)
        return p

    def _service_job(
        self,
        ctx: convert.Context,
        name: str,
        actions: list[plan.Action],
        no_start: bool,
        skip: set[str],
    ) -> Callable[[], None]:
        def job() -> None:
            if not no_start:
                self.wait_dependencies(name, skip=skip)
            for a in actions:
                self._apply(ctx, name, a, no_start)

        return job

    def _apply(self, ctx: convert.Context, name: str, a: plan.Action, no_start: bool) -> None:
        client = self.thread_client()
        svc = self.project.services[name]
        if a.kind == "remove":
            self._remove(a.container or "", a.name, force=True, stop=True)
            return
        if a.kind == "keep":
            self.progress("Container", a.name, "Running")
            return
        if a.kind == "start":
            self._start(client, a.container or "", a.name, name)
            return
        body = None
        if a.kind == "recreate":
            self.progress("Container", a.name, "Recreate")
            old = client.get_json(f"/containers/{a.container}/json")
            body = convert.create_body(ctx, name, svc, a.number, a.name)
            if not self.renew_anon_volumes:
                convert.reuse_anonymous_volumes(body, old.get("Mounts") or [])
            self._remove(a.container or "", a.name, force=False, stop=True, quiet=True)
            self.progress("Container", a.name, "Recreated")
        cid = self.create(ctx, name, svc, a.number, a.name, body=body)
        if a.kind == "create":
            self.progress("Container", a.name, "Created")
        if not no_start:
            self._start(client, cid, a.name, name)

    def create(
        self,
        ctx: convert.Context,
        name: str,
        svc: dict[str, Any],
        number: int,
        cname: str,
        oneoff: bool = False,
        body: dict[str, Any] | None = None,
    ) -> str:
        client = self.thread_client()
        if body is None:
            body = convert.create_body(ctx, name, svc, number, cname, oneoff)
        doc = client.post_json("/containers/create", body, {"name": cname})
        cid = str(doc["Id"])
        files = convert.inline_files(ctx, svc)
        if files is not None:
            client.request(
                "PUT",
                f"/containers/{cid}/archive",
                query={"path": "/"},
                body=files,
                headers={"Content-Type": "application/x-tar"},
            )
        if ctx.networks_supported:
            for key in convert.secondary_networks(svc):
                net = ctx.project["networks"][key]["name"]
                resources.connect(client, net, cid, convert.endpoint(name, svc, key))
        return cid

    def _start(self, client: Client, cid: str, cname: str, service: str) -> None:
        if self.before_start is not None:
            self.before_start(cid, cname, service)
        self.progress("Container", cname, "Starting")
        client.request("POST", f"/containers/{cid}/start")
        if self.after_start is not None:
            self.after_start(cid, cname, service)
        self.progress("Container", cname, "Started")

    def _remove(
        self,
        cid: str,
        cname: str,
        force: bool,
        stop: bool = False,
        quiet: bool = False,
        timeout: int | None = None,
        volumes: bool = False,
    ) -> None:
        client = self.thread_client()
        if stop:
            if not quiet:
                self.progress("Container", cname, "Stopping")
            _ignore_gone(
                lambda: client.request("POST", f"/containers/{cid}/stop", query={"t": timeout})
            )
        if not quiet:
            self.progress("Container", cname, "Removing")
        _ignore_gone(
            lambda: client.request(
                "DELETE", f"/containers/{cid}", query={"force": force or None, "v": volumes or None}
            )
        )
        if not quiet:
            self.progress("Container", cname, "Removed")

    # -- dependency conditions --------------------------------------------
    def wait_dependencies(
        self, name: str, timeout: float = 300.0, skip: set[str] | None = None
    ) -> None:
        deps = self.project.services[name].get("depends_on", {})
        for dep, cfg in deps.items():
            cond = cfg.get("condition", "service_started")
            if cond == "service_started" or dep not in self.project.services:
                continue
            if skip and dep in skip:
                continue
            containers = [
                c for c in self.containers() if (c.get("Labels") or {}).get(plan.SERVICE) == dep
            ]
            if not containers and not cfg.get("required", True):
                continue
            if not containers:
                raise DependencyFailed(f"service {name} depends on {dep}, which has no container")
            for c in containers:
                if cond == "service_healthy":
                    self.wait_healthy(dep, c["Id"], timeout)
                else:
                    self.wait_completed(dep, c["Id"])

    def wait_healthy(self, service: str, cid: str, timeout: float) -> None:
        client = self.thread_client()
        deadline = time.monotonic() + timeout
        cname = cid[:12]
        said = False
        while True:
            info = client.get_json(f"/containers/{cid}/json")
            cname = str(info.get("Name", "")).lstrip("/") or cname
            state = info.get("State") or {}
            health = (state.get("Health") or {}).get("Status")
            if health is None:
                raise DependencyFailed(
                    f"dependency failed to start: container {cname} (service {service}) "
                    "has no healthcheck configured"
                )
            if health == "healthy":
                self.progress("Container", cname, "Healthy")
                return
            if health == "unhealthy":
                raise DependencyFailed(
                    f"dependency failed to start: container {cname} (service {service}) "
                    "is unhealthy"
                )
            if not state.get("Running") and not state.get("Restarting"):
                raise DependencyFailed(
                    f"dependency failed to start: container {cname} (service {service}) "
                    f"exited ({state.get('ExitCode')})"
                )
            if time.monotonic() > deadline:
                raise DependencyFailed(f"service {service}: not healthy after {timeout:.0f}s")
            if not said:
                self.progress("Container", cname, "Waiting")
                said = True
            time.sleep(0.1)

    def wait_completed(self, service: str, cid: str) -> None:
        client = self.thread_client()
        doc = client.post_json(f"/containers/{cid}/wait", None, {"condition": "not-running"})
        code = int((doc or {}).get("StatusCode", 0))
        if code != 0:
            raise DependencyFailed(
                f'service "{service}" didn\'t complete successfully: exit {code}'
            )
        self.progress("Container", cid[:12], "Exited")

    def wait_running(self, names: set[str], timeout: float = 300.0) -> None:
        """`up --wait`: every container running, and healthy where it has a healthcheck."""
        for c in self.containers():
            svc = (c.get("Labels") or {}).get(plan.SERVICE, "")
            if svc not in names:
                continue
            info = self.client.get_json(f"/containers/{c['Id']}/json")
            state = info.get("State") or {}
            if state.get("Health"):
                self.wait_healthy(svc, c["Id"], timeout)
            elif not state.get("Running"):
                cname = str(info.get("Name", "")).lstrip("/")
                raise DependencyFailed(f"container {cname} exited ({state.get('ExitCode')})")

    # -- down --------------------------------------------------------------
    def down(
        self,
        volumes: bool = False,
        remove_orphans: bool = False,
        rmi: str | None = None,
        timeout: int | None = None,
    ) -> None:
        containers = self.containers(oneoff=None)
        if not remove_orphans:
            known = set(self.project.services) | set(self.project.disabled)
            orphans = [
                c for c in containers if (c.get("Labels") or {}).get(plan.SERVICE) not in known
            ]
            if orphans:
                names = ", ".join(sorted(_name(c) for c in orphans))
                self.progress(
                    "Warning",
                    self.project.name,
                    f"found orphan containers ({names}); use --remove-orphans",
                )
            containers = [c for c in containers if c not in orphans]
        anonymous = {
            m["Name"]
            for c in containers
            for m in c.get("Mounts") or []
            if m.get("Type") == "volume" and len(m.get("Name") or "") == 64
        }
        for group in plan.down_order(self.project.services, containers):
            self.parallel([self._stop_remove_job(c, timeout, volumes) for c in group])
        self._down_networks()
        if volumes:
            for name in sorted(anonymous):  # also those re-attached by a recreate
                try:
                    resources.remove_volume(self.client, name)
                except APIError as exc:
                    if exc.status != 409:  # still used by a container outside the project
                        raise
            for _key, vol in sorted(self.project.model["volumes"].items()):
                if not vol.get("external") and resources.remove_volume(self.client, vol["name"]):
                    self.progress("Volume", vol["name"], "Removed")
        if rmi:
            self._down_images(rmi)

    def _stop_remove_job(
        self, c: dict[str, Any], timeout: int | None, volumes: bool
    ) -> Callable[[], None]:
        def job() -> None:
            self._remove(
                c["Id"],
                _name(c),
                force=True,
                stop=c.get("State") == "running",
                timeout=timeout,
                volumes=volumes,
            )

        return job

    def _down_networks(self) -> None:
        if self._nets is None:
            self._nets = resources.networks_supported(self.client)
        if not self._nets:
            return
        for _key, net in sorted(self.project.model["networks"].items()):
            if net.get("external"):
                continue
            try:
                removed = resources.remove_network(self.client, net["name"])
            except APIError as exc:
                self.progress("Network", net["name"], f"Error: {exc.message}")
                continue
            if removed:
                self.progress("Network", net["name"], "Removed")

    def _down_images(self, rmi: str) -> None:
        seen = set()
        for name, svc in sorted(self.project.services.items()):
            image = svc["image"]
            local = image == f"{self.project.name}-{name}"  # no image: given, built here
            if image in seen or (rmi == "local" and not local):
                continue
            seen.add(image)
            try:
                self.client.delete(f"/images/{image}")
                self.progress("Image", image, "Removed")
            except APIError as exc:
                if exc.status != 404:
                    raise


def _name(c: dict[str, Any]) -> str:
    return str((c.get("Names") or [""])[0]).lstrip("/")


def _ignore_gone(call: Callable[[], object]) -> None:
    try:
        call()
    except APIError as exc:
        if exc.status not in (304, 404):
            raise
