"""A task's container: its name, labels and the Engine API create body made from the service's
`ContainerSpec` (pure), as dockerd's swarm executor makes them."""

from __future__ import annotations

from typing import Any

from wharfie.cluster.services import Service, Task


def container_name(service_name: str, t: Task) -> str:
    """`web.3.<task id>` for a replicated task, `web.<node id>.<task id>` for a global one."""
    return f"{service_name}.{t.slot if t.slot else t.node_id}.{t.id}"


def labels(service: Service, t: Task) -> dict[str, str]:
    name = container_name(service.spec.name, t)
    container = (service.spec.doc.get("TaskTemplate") or {}).get("ContainerSpec") or {}
    out = {str(k): str(v) for k, v in (container.get("Labels") or {}).items()}
    out.update(
        {
            "com.docker.swarm.node.id": t.node_id,
            "com.docker.swarm.service.id": service.id,
            "com.docker.swarm.service.name": service.spec.name,
            "com.docker.swarm.task": "",
            "com.docker.swarm.task.id": t.id,
            "com.docker.swarm.task.name": name,
        }
    )
    return out


def _duration_s(ns: Any) -> int | None:
    return None if ns is None else max(0, int(ns) // 1_000_000_000)


def create_body(service: Service, t: Task) -> dict[str, Any]:
    """The `POST /containers/create` body for a task (swarmkit's container adapter)."""
    template = service.spec.doc.get("TaskTemplate") or {}
    c: dict[str, Any] = template.get("ContainerSpec") or {}
    resources = template.get("Resources") or {}
    limits = resources.get("Limits") or {}
    host: dict[str, Any] = {
        "NetworkMode": "default",
        "RestartPolicy": {"Name": "no"},
        "Init": c.get("Init"),
        "ReadonlyRootfs": bool(c.get("ReadOnly")),
        "CapAdd": c.get("CapabilityAdd"),
        "CapDrop": c.get("CapabilityDrop"),
        "Sysctls": c.get("Sysctls") or None,
        "GroupAdd": c.get("Groups"),
        "ExtraHosts": [_host_entry(h) for h in c.get("Hosts") or []] or None,
        "Mounts": [_mount(m) for m in c.get("Mounts") or []] or None,
        "NanoCpus": int(limits.get("NanoCPUs") or 0),
        "Memory": int(limits.get("MemoryBytes") or 0),
        "PidsLimit": int(limits.get("Pids") or 0) or None,
        "Ulimits": c.get("Ulimits"),
    }
    dns = c.get("DNSConfig") or {}
    if dns:
        host.update(
            Dns=dns.get("Nameservers"), DnsSearch=dns.get("Search"), DnsOptions=dns.get("Options")
        )
    body: dict[str, Any] = {
        "Image": service.spec.image,
        "Labels": labels(service, t),
        "Env": c.get("Env"),
        "WorkingDir": c.get("Dir") or "",
        "User": c.get("User") or "",
        "Tty": bool(c.get("TTY")),
        "OpenStdin": bool(c.get("OpenStdin")),
        "StopSignal": c.get("StopSignal") or None,
        "StopTimeout": _duration_s(c.get("StopGracePeriod")),
        "Hostname": c.get("Hostname") or "",
        "Healthcheck": c.get("Healthcheck"),
        "HostConfig": {k: v for k, v in host.items() if v is not None},
    }
    host_ports = [p for p in service.spec.ports if p.mode == "host"]
    if host_ports:  # host mode: published on the node that runs the task
        body["ExposedPorts"] = {f"{p.target}/{p.protocol}": {} for p in host_ports}
        body["HostConfig"]["PortBindings"] = {
            f"{p.target}/{p.protocol}": [{"HostIp": "", "HostPort": str(p.published or "")}]
            for p in host_ports
        }
    if t.addresses:  # its overlay endpoints, at the addresses the leader gave it
        aliases = {
            str(n.get("Target")): [str(a) for a in n.get("Aliases") or []]
            for n in (template.get("Networks") or service.spec.doc.get("Networks") or [])
        }
        body["NetworkingConfig"] = {
            "EndpointsConfig": {
                nid: {
                    "IPAMConfig": {"IPv4Address": addr.split("/")[0]},
                    **({"Aliases": aliases[nid]} if aliases.get(nid) else {}),
                }
                for nid, addr in t.addresses.items()
            }
        }
    if c.get("Command"):
        body["Entrypoint"] = list(c["Command"])
    if c.get("Args") is not None:
        body["Cmd"] = list(c["Args"])
    elif c.get("Command"):
        body["Cmd"] = []
    return {k: v for k, v in body.items() if v is not None}


def _host_entry(entry: str) -> str:
    """Swarm's `IP host...` hosts lines as the engine's `host:IP` extra hosts."""
    parts = entry.split()
    return f"{parts[1]}:{parts[0]}" if len(parts) >= 2 else entry


def _mount(m: dict[str, Any]) -> dict[str, Any]:
    out = {
        k: v for k, v in m.items() if k in ("Type", "Source", "Target", "ReadOnly", "Consistency")
    }
    for key in ("BindOptions", "VolumeOptions", "TmpfsOptions"):
        if m.get(key):
            out[key] = m[key]
    return out
