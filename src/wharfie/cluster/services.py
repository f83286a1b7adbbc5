"""Services and tasks: the typed records the orchestrator and the agents act on, their
parsing from the Engine API's `ServiceSpec`, and the documents the API shows of them.

A service keeps the spec document a client sent (canonical Go field names), because that is
what dockerd shows back, and the typed fields that scheduling acts on (mode, replicas, the
restart, update and rollback policies, placement). Each change of the spec bumps
`spec_version`; a task records the version it was made from, which is what the CLI's
`_up-to-date` task filter asks about.

Task states are swarmkit's, in order: new, pending, assigned (the orchestrator's), then
accepted, preparing, starting, running, and one of complete, shutdown, failed, rejected (the
node's, reported as observed status).
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from wharfie.errors import InvalidArgument, NotImplementedFeature
from wharfie.times import format_nano

SECOND_NS = 1_000_000_000
STATES = (
    "new",
    "pending",
    "assigned",
    "accepted",
    "preparing",
    "ready",
    "starting",
    "running",
    "complete",
    "shutdown",
    "failed",
    "rejected",
    "remove",
    "orphaned",
)
TERMINAL = frozenset({"complete", "shutdown", "failed", "rejected", "remove", "orphaned"})
MODES = ("replicated", "global", "replicated-job", "global-job")
_DNS_LABEL = re.compile(r"^[a-zA-Z0-9](?:[-_]*[A-Za-z0-9]+)*$")


def state_index(state: str) -> int:
    return STATES.index(state) if state in STATES else 0


@dataclass
class RestartPolicy:
    condition: str = "any"  # "none" | "on-failure" | "any"
    delay_ns: int = 5 * SECOND_NS
    max_attempts: int = 0  # 0: unlimited
    window_ns: int = 0


@dataclass
class UpdatePolicy:
    parallelism: int = 1
    delay_ns: int = 0
    failure_action: str = "pause"  # "pause" | "continue" | "rollback"
    monitor_ns: int = 5 * SECOND_NS
    max_failure_ratio: float = 0.0
    order: str = "stop-first"  # "stop-first" | "start-first"


@dataclass
class Placement:
    constraints: list[str] = field(default_factory=list)
    preferences: list[str] = field(default_factory=list)  # spread descriptors
    max_replicas: int = 0  # per node; 0: unlimited


@dataclass
class PublishedPort:
    protocol: str  # "tcp" | "udp" | "sctp"
    target: int
    published: int  # 0: the node picks one
    mode: str  # "host" (the ingress mesh is issue 17's)


@dataclass
class ServiceSpec:
    name: str
    labels: dict[str, str]
    doc: dict[str, Any]  # the API's ServiceSpec, as sent (canonical field names)
    mode: str = "replicated"
    replicas: int = 1
    max_concurrent: int = 0  # jobs
    total_completions: int = 0  # jobs
    image: str = ""
    restart: RestartPolicy = field(default_factory=RestartPolicy)
    update: UpdatePolicy = field(default_factory=UpdatePolicy)
    rollback: UpdatePolicy = field(default_factory=UpdatePolicy)
    placement: Placement = field(default_factory=Placement)
    stop_grace_ns: int = 10 * SECOND_NS
    ports: list[PublishedPort] = field(default_factory=list)


@dataclass
class Service:
    id: str
    created_ns: int
    updated_ns: int
    spec: ServiceSpec
    spec_version: int = 1
    previous: ServiceSpec | None = None
    update_state: str = ""  # "" | "updating" | "paused" | "completed" | "rollback_started" ...
    update_message: str = ""
    update_started_ns: int = 0
    update_completed_ns: int = 0
    vips: dict[str, str] = field(default_factory=dict)  # network id -> "ip/prefix" (networks.py)


@dataclass
class Task:
    id: str
    service_id: str
    slot: int  # 0 for a global service's tasks
    node_id: str  # "" until scheduled
    desired_state: str  # "running" | "shutdown" | "complete" (jobs)
    state: str  # the orchestrator's: "new" | "pending" | "assigned"
    spec_version: int
    created_ns: int
    updated_ns: int
    message: str = ""
    err: str = ""
    not_before_ns: int = 0  # a restart's delay: the agent starts it no earlier
    stop_grace_ns: int = 10 * SECOND_NS  # the service's, when the task was made
    addresses: dict[str, str] = field(default_factory=dict)  # network id -> "ip/prefix"


@dataclass
class TaskStatus:
    """What the node running a task observed last (written by that node only)."""

    state: str
    timestamp_ns: int
    message: str = ""
    err: str = ""
    container_id: str = ""
    pid: int = 0
    exit_code: int = 0


# ------------------------------------------------------------------ parsing


def _policy(doc: dict[str, Any] | None, base: UpdatePolicy) -> UpdatePolicy:
    if not doc:
        return base
    out = UpdatePolicy(**asdict(base))
    if doc.get("Parallelism") is not None:
        out.parallelism = int(doc["Parallelism"])
    if doc.get("Delay") is not None:
        out.delay_ns = int(doc["Delay"])
    if doc.get("FailureAction"):
        out.failure_action = str(doc["FailureAction"])
    if doc.get("Monitor"):
        out.monitor_ns = int(doc["Monitor"])
    if doc.get("MaxFailureRatio") is not None:
        out.max_failure_ratio = float(doc["MaxFailureRatio"])
    if doc.get("Order"):
        out.order = str(doc["Order"])
    if out.failure_action not in ("pause", "continue", "rollback"):
        raise InvalidArgument(
            f"rpc error: code = InvalidArgument desc = unrecognized FailureAction "
            f"{out.failure_action}"
        )
    if out.order not in ("stop-first", "start-first"):
        raise InvalidArgument(
            f"rpc error: code = InvalidArgument desc = unrecognized Order {out.order}"
        )
    return out


def parse_spec(doc: dict[str, Any]) -> ServiceSpec:
    """A ServiceSpec document (already type-checked) as a typed spec, with swarmkit's checks."""
    doc = copy.deepcopy(doc)
    name = str(doc.get("Name") or "")
    if name and (len(name) > 63 or not _DNS_LABEL.match(name)):
        raise InvalidArgument(
            "rpc error: code = InvalidArgument desc = name must be valid as a DNS name component"
        )
    template = doc.get("TaskTemplate") or {}
    container = template.get("ContainerSpec")
    if container is None:
        raise InvalidArgument("rpc error: code = InvalidArgument desc = TaskSpec: missing runtime")
    image = str(container.get("Image") or "")
    if not image:
        raise InvalidArgument(
            "rpc error: code = InvalidArgument desc = ContainerSpec: image reference must be "
            "provided"
        )
    spec = ServiceSpec(name=name, labels=dict(doc.get("Labels") or {}), doc=doc, image=image)
    mode = doc.get("Mode") or {}
    if "Global" in mode and mode["Global"] is not None:
        spec.mode = "global"
    elif mode.get("ReplicatedJob") is not None:
        spec.mode = "replicated-job"
        job = mode["ReplicatedJob"]
        spec.max_concurrent = int(job.get("MaxConcurrent") or 1)
        spec.total_completions = int(job.get("TotalCompletions") or spec.max_concurrent)
    elif mode.get("GlobalJob") is not None:
        spec.mode = "global-job"
    else:
        replicated = mode.get("Replicated") or {}
        replicas = replicated.get("Replicas")
        spec.replicas = 1 if replicas is None else int(replicas)
    restart = template.get("RestartPolicy") or {}
    if restart.get("Condition"):
        spec.restart.condition = str(restart["Condition"])
        if spec.restart.condition not in ("none", "on-failure", "any"):
            raise InvalidArgument(
                f"rpc error: code = InvalidArgument desc = invalid RestartCondition "
                f"{spec.restart.condition}"
            )
    if restart.get("Delay") is not None:
        spec.restart.delay_ns = int(restart["Delay"])
    if restart.get("MaxAttempts") is not None:
        spec.restart.max_attempts = int(restart["MaxAttempts"])
    if restart.get("Window") is not None:
        spec.restart.window_ns = int(restart["Window"])
    spec.update = _policy(doc.get("UpdateConfig"), UpdatePolicy())
    spec.rollback = _policy(doc.get("RollbackConfig"), UpdatePolicy())
    placement = template.get("Placement") or {}
    spec.placement = Placement(
        constraints=[str(c) for c in placement.get("Constraints") or []],
        preferences=[
            str((p.get("Spread") or {}).get("SpreadDescriptor") or "")
            for p in placement.get("Preferences") or []
        ],
        max_replicas=int(placement.get("MaxReplicas") or 0),
    )
    for c in spec.placement.constraints:
        parse_constraint(c)
    if container.get("StopGracePeriod") is not None:
        spec.stop_grace_ns = int(container["StopGracePeriod"])
    spec.ports = _ports((doc.get("EndpointSpec") or {}).get("Ports") or [])
    return spec


def _ports(docs: list[dict[str, Any]]) -> list[PublishedPort]:
    out = []
    seen = set()
    for p in docs:
        protocol = str(p.get("Protocol") or "tcp")
        if protocol not in ("tcp", "udp", "sctp"):
            raise InvalidArgument(
                f"rpc error: code = InvalidArgument desc = EndpointSpec: invalid protocol "
                f"{protocol!r}"
            )
        target = int(p.get("TargetPort") or 0)
        if not 0 < target < 65536:
            raise InvalidArgument(
                "rpc error: code = InvalidArgument desc = EndpointSpec: target port must be given"
            )
        mode = str(p.get("PublishMode") or "ingress")
        if mode == "ingress":
            raise NotImplementedFeature(
                "publishing through the ingress routing mesh is not available in this "
                "wharfied yet; publish with mode=host (--publish mode=host,target=...)"
            )
        if mode != "host":
            raise InvalidArgument(
                f"rpc error: code = InvalidArgument desc = EndpointSpec: invalid publish mode "
                f"{mode!r}"
            )
        published = int(p.get("PublishedPort") or 0)
        key = (protocol, published)
        if published and key in seen:
            raise InvalidArgument(
                "rpc error: code = InvalidArgument desc = EndpointSpec: duplicate published "
                f"ports provided: {published}/{protocol}"
            )
        seen.add(key)
        out.append(PublishedPort(protocol, target, published, mode))
    return out


def parse_constraint(text: str) -> tuple[str, str, str]:
    """`node.role==manager` -> ("node.role", "==", "manager"), swarmkit's error otherwise."""
    for op in ("==", "!="):
        if op in text:
            key, _, value = text.partition(op)
            if key.strip() and value.strip():
                return key.strip(), op, value.strip()
    raise InvalidArgument(f"rpc error: code = InvalidArgument desc = invalid constraint: {text}")


# ------------------------------------------------------------------ storing


def service_to_store(s: Service) -> bytes:
    return json.dumps(asdict(s), separators=(",", ":")).encode()


def _spec_from(d: dict[str, Any]) -> ServiceSpec:
    d = dict(d)
    d["restart"] = RestartPolicy(**d["restart"])
    d["update"] = UpdatePolicy(**d["update"])
    d["rollback"] = UpdatePolicy(**d["rollback"])
    d["placement"] = Placement(**d["placement"])
    d["ports"] = [PublishedPort(**p) for p in d.get("ports") or []]
    return ServiceSpec(**d)


def service_from_store(raw: bytes) -> Service:
    d = json.loads(raw)
    d["spec"] = _spec_from(d["spec"])
    d["previous"] = _spec_from(d["previous"]) if d.get("previous") else None
    return Service(**d)


def task_to_store(t: Task | TaskStatus) -> bytes:
    return json.dumps(asdict(t), sort_keys=True, separators=(",", ":")).encode()


def task_from_store(raw: bytes) -> Task:
    return Task(**json.loads(raw))


def status_from_store(raw: bytes) -> TaskStatus:
    return TaskStatus(**json.loads(raw))


# ------------------------------------------------------------------ rendering

_DEFAULT_POLICY = {
    "Parallelism": 1,
    "FailureAction": "pause",
    "Monitor": 5 * SECOND_NS,
    "MaxFailureRatio": 0,
    "Order": "stop-first",
}


def render_spec(spec: ServiceSpec, insert_defaults: bool) -> dict[str, Any]:
    """The spec as dockerd shows it: what the client sent, with swarmkit's normalisation
    (Labels, Runtime, Isolation, ForceUpdate) and, with insertDefaults, the defaults filled in."""
    doc = copy.deepcopy(spec.doc)
    doc.setdefault("Labels", {})
    template = doc.setdefault("TaskTemplate", {})
    container = template.setdefault("ContainerSpec", {})
    container.setdefault("Isolation", "default")
    template.setdefault("ForceUpdate", 0)
    template.setdefault("Runtime", "container")
    if spec.mode == "replicated":  # swarmkit stores the replica count it defaulted
        doc["Mode"] = {"Replicated": {"Replicas": spec.replicas}}
    if insert_defaults:
        container.setdefault("StopGracePeriod", 10 * SECOND_NS)
        template.setdefault(
            "RestartPolicy", {"Condition": "any", "Delay": 5 * SECOND_NS, "MaxAttempts": 0}
        )
        doc.setdefault("UpdateConfig", dict(_DEFAULT_POLICY))
        doc.setdefault("RollbackConfig", dict(_DEFAULT_POLICY))
        doc.setdefault("EndpointSpec", {"Mode": "vip"})
    return doc


def render_service(s: Service, version: int, insert_defaults: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "ID": s.id,
        "Version": {"Index": version},
        "CreatedAt": format_nano(s.created_ns),
        "UpdatedAt": format_nano(s.updated_ns),
        "Spec": render_spec(s.spec, insert_defaults),
    }
    if s.previous is not None:
        out["PreviousSpec"] = render_spec(s.previous, insert_defaults)
    # swarmkit copies the endpoint spec once it allocated something for it (ports, VIPs)
    allocated = bool(s.spec.ports or s.vips)
    endpoint: dict[str, Any] = {"Spec": (s.spec.doc.get("EndpointSpec") or {}) if allocated else {}}
    if s.spec.ports:
        endpoint["Ports"] = [_port_doc(p) for p in s.spec.ports]
    if s.vips:
        endpoint["VirtualIPs"] = [{"NetworkID": n, "Addr": a} for n, a in s.vips.items()]
    out["Endpoint"] = endpoint
    if s.update_state:
        status: dict[str, Any] = {"State": s.update_state}
        if s.update_started_ns:
            status["StartedAt"] = format_nano(s.update_started_ns)
        if s.update_completed_ns:
            status["CompletedAt"] = format_nano(s.update_completed_ns)
        status["Message"] = s.update_message
        out["UpdateStatus"] = status
    return out


def render_task(
    t: Task,
    version: int,
    status: TaskStatus | None,
    spec: ServiceSpec | None,
    attachments: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A task as `GET /tasks` shows it; `attachments`: its NetworksAttachments, rendered by
    wharfie.cluster.networks."""
    template = copy.deepcopy((spec.doc.get("TaskTemplate") if spec else None) or {})
    template.pop("Runtime", None)
    template.setdefault("ForceUpdate", 0)
    container = template.setdefault("ContainerSpec", {})
    container.setdefault("Isolation", "default")
    if status is not None:
        state_doc: dict[str, Any] = {
            "Timestamp": format_nano(status.timestamp_ns),
            "State": status.state,
            "Message": status.message,
        }
        if status.err:
            state_doc["Err"] = status.err
        state_doc["ContainerStatus"] = {
            "ContainerID": status.container_id,
            "PID": status.pid,
            "ExitCode": status.exit_code,
        }
        state_doc["PortStatus"] = (
            port_status(spec) if spec is not None and status.state == "running" else {}
        )
    else:
        state_doc = {"Timestamp": format_nano(t.updated_ns), "State": t.state, "Message": t.message}
        if t.err:
            state_doc["Err"] = t.err
        state_doc["PortStatus"] = {}
    doc: dict[str, Any] = {
        "ID": t.id,
        "Version": {"Index": version},
        "CreatedAt": format_nano(t.created_ns),
        "UpdatedAt": format_nano(max(t.updated_ns, status.timestamp_ns if status else 0)),
        "Labels": {},
        "Spec": template,
        "ServiceID": t.service_id,
    }
    if t.slot:
        doc["Slot"] = t.slot
    if t.node_id:
        doc["NodeID"] = t.node_id
    doc["Status"] = state_doc
    doc["DesiredState"] = t.desired_state
    if attachments:
        doc["NetworksAttachments"] = attachments
    return doc


def _port_doc(p: PublishedPort) -> dict[str, Any]:
    return {
        "Protocol": p.protocol,
        "TargetPort": p.target,
        "PublishedPort": p.published,
        "PublishMode": p.mode,
    }


def port_status(spec: ServiceSpec) -> dict[str, Any]:
    """A running task's PortStatus: its host-mode ports."""
    return {"Ports": [_port_doc(p) for p in spec.ports]} if spec.ports else {}
