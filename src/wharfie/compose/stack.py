"""A compose project -> the swarm objects of `stack deploy` (pure but for reading the
secret and config files), as the docker CLI's cli/compose/convert does:

- every object is named `<stack>_<key>` (unless the file gives `name:`) and labelled
  `com.docker.stack.namespace=<stack>`; services also carry `com.docker.stack.image`;
- networks are overlay networks (`<stack>_default` for services that name none);
- `deploy:` gives the mode, replicas, placement, resources, restart, update and rollback
  policies, endpoint mode and service labels; the rest maps onto the ContainerSpec.

The compose file is read with the compose loader (`load_stack`), so interpolation, merging,
`extends` and validation are the same as `wharfie compose`'s.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

from wharfie.compose import syntax
from wharfie.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

NAMESPACE = "com.docker.stack.namespace"
IMAGE = "com.docker.stack.image"


@dataclass
class StackObjects:
    """What `stack deploy` creates, in its order: networks, secrets, configs, services."""

    name: str
    networks: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> create body
    external_networks: list[str] = field(default_factory=list)
    secrets: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> SecretSpec
    configs: dict[str, dict[str, Any]] = field(default_factory=dict)
    services: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> ServiceSpec


def load_stack(files: list[str], stack: str, environ: Mapping[str, str]) -> tuple[Any, Any]:
    """(merged raw document, normalized model) of the compose files for stack `stack`.
    External secrets and configs (which plain compose refuses) are kept aside in the raw
    document and left out of the normalized model."""
    import os

    from wharfie.compose import loader, merge
    from wharfie.compose.normalize import normalize_project

    opts = loader.Options(files=files, project_name=stack, environ=environ)
    paths = loader.find_files(opts)
    first = paths[0] if paths[0] != "-" else os.path.join(opts.cwd, "-")
    working_dir = os.path.abspath(os.path.dirname(first))
    env = loader.load_environment(opts, working_dir)
    warnings: list[str] = []
    docs = [loader.read_file(path, env, warnings) for path in paths]
    doc = docs[0]
    for other in docs[1:]:
        doc = merge.merge_files(doc, other)
    doc = loader.resolve_extends(doc, paths[0], env, warnings)
    internal = dict(doc)
    for kind in ("secrets", "configs"):
        internal[kind] = {
            k: v for k, v in (doc.get(kind) or {}).items() if not (v or {}).get("external")
        }
    model = normalize_project(internal, stack, working_dir, env)
    return doc, model


def _labels(stack: str, labels: Mapping[str, Any] | None) -> dict[str, str]:
    out = {k: "" if v is None else str(v) for k, v in (labels or {}).items()}
    out[NAMESPACE] = stack
    return out


def _scoped(stack: str, key: str, spec: Mapping[str, Any] | None) -> str:
    spec = spec or {}
    if spec.get("name"):
        return str(spec["name"])
    ext = spec.get("external")
    if isinstance(ext, dict) and ext.get("name"):
        return str(ext["name"])
    if ext:
        return key
    return f"{stack}_{key}"


def convert(stack: str, doc: Mapping[str, Any], model: Mapping[str, Any]) -> StackObjects:
    """The objects of the stack (pure but for reading secret/config files)."""
    out = StackObjects(stack)
    raw_services = doc.get("services") or {}
    used_networks: set[str] = set()
    for svc in model["services"].values():
        used_networks.update(svc.get("networks") or {"default": {}})
    raw_nets = dict(doc.get("networks") or {})
    for key in sorted(used_networks):
        spec = raw_nets.get(key) or {}
        name = _scoped(stack, key, spec)
        if spec.get("external"):
            out.external_networks.append(name)
            continue
        out.networks[name] = network_body(stack, name, spec)
    for kind, target in (("secrets", out.secrets), ("configs", out.configs)):
        for key, spec in sorted((doc.get(kind) or {}).items()):
            spec = spec or {}
            if spec.get("external"):
                continue
            name = _scoped(stack, key, spec)
            normalized = model[kind][key]
            target[name] = blob_spec(stack, name, spec, normalized)
    for key, svc in model["services"].items():  # the file's order, as docker deploys them
        raw = raw_services.get(key) or {}
        name = f"{stack}_{key}"
        deploy = raw.get("deploy") or {}
        svc = {**svc, "restart": raw.get("restart") or ""}  # the model's default is "no"
        out.services[name] = service_spec(stack, key, svc, deploy, doc, raw.get("scale"))
    return out


def network_body(stack: str, name: str, spec: Mapping[str, Any]) -> dict[str, Any]:
    """The POST /networks/create body of a stack network (docker's convert.Networks)."""
    body: dict[str, Any] = {
        "Driver": spec.get("driver") or "overlay",
        "Scope": "",
        "IPAM": None,
        "Internal": bool(spec.get("internal")),
        "Attachable": bool(spec.get("attachable")),
        "Ingress": False,
        "ConfigOnly": False,
        "ConfigFrom": None,
        "Options": dict(spec.get("driver_opts") or {}) or None,
        "Labels": _labels(stack, syntax.kv_list(spec.get("labels"))),
        "Name": name,
    }
    ipam = spec.get("ipam")
    if ipam:
        body["IPAM"] = {
            "Driver": ipam.get("driver") or "default",
            "Config": [{"Subnet": c.get("subnet", "")} for c in ipam.get("config") or []],
        }
    return body


def blob_spec(
    stack: str, name: str, spec: Mapping[str, Any], normalized: Mapping[str, Any]
) -> dict[str, Any]:
    """A SecretSpec or ConfigSpec: the file's (or environment's, or inline) data."""
    if normalized.get("missing"):
        raise InvalidArgument(str(normalized["missing"]))
    if normalized.get("file"):
        path = str(normalized["file"])
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as exc:
            reason = exc.strerror.lower() if exc.strerror else str(exc)
            raise InvalidArgument(f"open {path}: {reason}") from exc
    else:
        data = str(normalized.get("content") or "").encode()
    out: dict[str, Any] = {
        "Name": name,
        "Labels": _labels(stack, syntax.kv_list(spec.get("labels"))),
        "Data": base64.b64encode(data).decode(),
    }
    if spec.get("template_driver"):
        out["Templating"] = {"Name": spec["template_driver"]}
    return out


def _restart_policy(deploy: Mapping[str, Any], restart: str) -> dict[str, Any] | None:
    policy = deploy.get("restart_policy")
    if policy is None:
        conditions = {"no": "none", "always": "any", "unless-stopped": "any"}
        if restart in conditions:
            return {"Condition": conditions[restart], "MaxAttempts": 0}
        if restart.startswith("on-failure"):
            _, _, n = restart.partition(":")
            return {"Condition": "on-failure", "MaxAttempts": int(n or 0)}
        return None
    out: dict[str, Any] = {"Condition": policy.get("condition") or "any"}
    if policy.get("delay") is not None:
        out["Delay"] = syntax.duration_ns(policy["delay"])
    if policy.get("max_attempts") is not None:
        out["MaxAttempts"] = int(policy["max_attempts"])
    if policy.get("window") is not None:
        out["Window"] = syntax.duration_ns(policy["window"])
    return out


def _update_config(conf: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if conf is None:
        return None
    out: dict[str, Any] = {"Parallelism": int(conf.get("parallelism", 1))}
    if conf.get("delay") is not None:
        out["Delay"] = syntax.duration_ns(conf["delay"])
    out["FailureAction"] = conf.get("failure_action") or ""
    if conf.get("monitor") is not None:
        out["Monitor"] = syntax.duration_ns(conf["monitor"])
    out["MaxFailureRatio"] = float(conf.get("max_failure_ratio") or 0)
    out["Order"] = conf.get("order") or ""
    return out


def _resources(deploy: Mapping[str, Any]) -> dict[str, Any]:
    res = deploy.get("resources") or {}
    out: dict[str, Any] = {}
    for key, name in (("limits", "Limits"), ("reservations", "Reservations")):
        part = res.get(key)
        if not part:
            continue
        entry: dict[str, Any] = {}
        if part.get("cpus") is not None:
            entry["NanoCPUs"] = round(float(part["cpus"]) * 1e9)
        if part.get("memory") is not None:
            entry["MemoryBytes"] = syntax.byte_size(part["memory"])
        if key == "limits" and part.get("pids") is not None:
            entry["Pids"] = int(part["pids"])
        out[name] = entry
    return out


def _mode(deploy: Mapping[str, Any], replicas: int | None) -> dict[str, Any]:
    """docker leaves Replicas out when the file gives none (the daemon's default is 1)."""
    mode = deploy.get("mode") or "replicated"
    count = {} if replicas is None else {"Replicas": replicas}
    if mode == "global":
        return {"Global": {}}
    if mode == "replicated":
        return {"Replicated": count}
    if mode == "replicated-job":
        n = 1 if replicas is None else replicas
        return {"ReplicatedJob": {"MaxConcurrent": n, "TotalCompletions": n}}
    if mode == "global-job":
        return {"GlobalJob": {}}
    raise InvalidArgument(f"Unknown mode: {mode}")


def _mounts(stack: str, svc: Mapping[str, Any], doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    out = []
    volumes = doc.get("volumes") or {}
    for m in svc.get("volumes") or []:
        mount: dict[str, Any] = {"Type": m["type"], "Target": m["target"]}
        source = m.get("source") or ""
        if m["type"] == "volume" and source:
            spec = volumes.get(source) or {}
            source = _scoped(stack, source, spec)
            labels = syntax.kv_list(spec.get("labels"))
            mount["VolumeOptions"] = {"Labels": _labels(stack, labels)}
            if spec.get("driver") or spec.get("driver_opts"):
                mount["VolumeOptions"]["DriverConfig"] = {
                    "Name": spec.get("driver") or "",
                    "Options": spec.get("driver_opts") or {},
                }
        if source:
            mount["Source"] = source
        if m.get("read_only"):
            mount["ReadOnly"] = True
        out.append(mount)
    return out


def _file_refs(
    stack: str, kind: str, refs: list[dict[str, Any]], doc: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """Secret/config references; the ids are filled in by the deployer (`SecretID`)."""
    title = "Secret" if kind == "secrets" else "Config"
    defined = doc.get(kind) or {}
    out = []
    for ref in refs:
        key = ref["source"]
        name = _scoped(stack, key, defined.get(key))
        target = ref["target"]
        if kind == "secrets":
            target = target.removeprefix("/run/secrets/")
        mode = ref.get("mode")
        file = {
            "Name": target,
            "UID": str(ref.get("uid", "0")),
            "GID": str(ref.get("gid", "0")),
            "Mode": int(str(mode), 8) if isinstance(mode, str) else int(mode or 0o444),
        }
        out.append({"File": file, f"{title}ID": "", f"{title}Name": name})
    return out


def service_spec(
    stack: str,
    key: str,
    svc: Mapping[str, Any],
    deploy: Mapping[str, Any],
    doc: Mapping[str, Any],
    raw_scale: int | None = None,
) -> dict[str, Any]:
    """One service's ServiceSpec (docker's convert.Service)."""
    env = sorted(f"{k}={v}" if v is not None else k for k, v in svc["environment"].items())
    cs: dict[str, Any] = {
        "Image": svc["image"],
        "Labels": _labels(stack, svc.get("labels")),
        "Privileges": {"CredentialSpec": None, "SELinuxContext": None, "NoNewPrivileges": False},
    }
    if svc.get("entrypoint"):
        cs["Command"] = svc["entrypoint"]
    if svc.get("command"):
        cs["Args"] = svc["command"]
    if svc.get("hostname"):
        cs["Hostname"] = svc["hostname"]
    if env:
        cs["Env"] = env
    for src, dst in (("working_dir", "Dir"), ("user", "User"), ("stop_signal", "StopSignal")):
        if svc.get(src):
            cs[dst] = svc[src]
    for src, dst in (("tty", "TTY"), ("stdin_open", "OpenStdin"), ("read_only", "ReadOnly")):
        if svc.get(src):
            cs[dst] = True
    if svc.get("init") is not None:
        cs["Init"] = bool(svc["init"])
    mounts = _mounts(stack, svc, doc)
    if mounts:
        cs["Mounts"] = mounts
    if svc.get("stop_grace_period") is not None:
        cs["StopGracePeriod"] = syntax.duration_ns(svc["stop_grace_period"])
    hc = svc.get("healthcheck")
    if hc:
        if hc.get("disable"):
            cs["Healthcheck"] = {"Test": ["NONE"]}
        else:
            health: dict[str, Any] = {"Test": hc.get("test")}
            for src, dst in (
                ("interval", "Interval"),
                ("timeout", "Timeout"),
                ("start_period", "StartPeriod"),
            ):
                if hc.get(src) is not None:
                    health[dst] = syntax.duration_ns(hc[src])
            if hc.get("retries") is not None:
                health["Retries"] = int(hc["retries"])
            cs["Healthcheck"] = health
    dns: dict[str, Any] = {}
    if svc.get("dns"):
        dns["Nameservers"] = svc["dns"]
    if svc.get("dns_search"):
        dns["Search"] = svc["dns_search"]
    if svc.get("dns_opt"):
        dns["Options"] = svc["dns_opt"]
    if dns:
        cs["DNSConfig"] = dns
    if svc.get("extra_hosts"):
        cs["Hosts"] = [f"{h.split(':', 1)[1]} {h.split(':', 1)[0]}" for h in svc["extra_hosts"]]
    for kind, title in (("secrets", "Secrets"), ("configs", "Configs")):
        if svc.get(kind):
            cs[title] = _file_refs(stack, kind, svc[kind], doc)
    if svc.get("sysctls"):
        cs["Sysctls"] = svc["sysctls"]
    if svc.get("cap_add"):
        cs["CapabilityAdd"] = svc["cap_add"]
    if svc.get("cap_drop"):
        cs["CapabilityDrop"] = svc["cap_drop"]
    if svc.get("ulimits"):
        cs["Ulimits"] = [
            {"Name": k, "Soft": int(v["soft"]), "Hard": int(v["hard"])}
            for k, v in sorted(svc["ulimits"].items())
        ]

    placement = deploy.get("placement") or {}
    task: dict[str, Any] = {
        "ContainerSpec": cs,
        "Resources": _resources(deploy),
        "Placement": {},
    }
    restart = _restart_policy(deploy, str(svc.get("restart") or ""))
    if restart is not None:
        task["RestartPolicy"] = restart
    if placement.get("constraints"):
        task["Placement"]["Constraints"] = list(placement["constraints"])
    if placement.get("preferences"):
        task["Placement"]["Preferences"] = [
            {"Spread": {"SpreadDescriptor": p["spread"]}} for p in placement["preferences"]
        ]
    if placement.get("max_replicas_per_node"):
        task["Placement"]["MaxReplicas"] = int(placement["max_replicas_per_node"])
    logging = svc.get("logging")
    if logging:
        task["LogDriver"] = {"Name": logging.get("driver") or "", "Options": logging.get("options")}
    raw_nets = doc.get("networks") or {}
    nets = []
    for net, conf in sorted((svc.get("networks") or {}).items()):
        aliases = [key, *((conf or {}).get("aliases") or [])]
        nets.append({"Target": _scoped(stack, net, raw_nets.get(net)), "Aliases": aliases})
    if nets:
        task["Networks"] = nets

    replicas = deploy.get("replicas", raw_scale)
    spec: dict[str, Any] = {
        "Name": f"{stack}_{key}",
        "Labels": {**_labels(stack, syntax.kv_list(deploy.get("labels"))), IMAGE: svc["image"]},
        "TaskTemplate": task,
        "Mode": _mode(deploy, replicas),
    }
    for src, dst in (("update_config", "UpdateConfig"), ("rollback_config", "RollbackConfig")):
        conf = _update_config(deploy.get(src))
        if conf is not None:
            spec[dst] = conf
    endpoint: dict[str, Any] = {}
    if deploy.get("endpoint_mode"):
        endpoint["Mode"] = deploy["endpoint_mode"]
    ports = []
    for p in svc.get("ports") or []:
        port: dict[str, Any] = {
            "Protocol": p.get("protocol") or "tcp",
            "TargetPort": int(p["target"]),
            "PublishMode": p.get("mode") or "ingress",
        }
        if p.get("published"):
            port["PublishedPort"] = int(str(p["published"]).split("-")[0])
        ports.append(port)
    if ports:
        endpoint["Ports"] = ports
    spec["EndpointSpec"] = endpoint
    return spec
