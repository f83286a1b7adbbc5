"""Rows and pretty views of swarm objects (nodes, services, tasks, secrets, configs), with
docker CLI 28's columns, headers and wording; shared by the swarm, node, service, secret,
config and stack commands. Everything here is pure: data in, text out."""

from __future__ import annotations

import time

from wharfie.cli.units import bytes_size, human_duration

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def pretty(s: str) -> str:
    """docker's formatter.PrettyPrint: first letter upper, the rest lower."""
    return s[:1].upper() + s[1:].lower() if s else ""


def go_duration(ns: int) -> str:
    """Go's time.Duration.String(): 5s, 1m30s, 1h0m0s, 500ms, 0s."""
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    if ns < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if ns >= size:
                return sign + _trim(ns / size) + unit
    secs, frac = divmod(ns, 1_000_000_000)
    h, rest = divmod(secs, 3600)
    m, s = divmod(rest, 60)
    sec = _trim(s + frac / 1e9) + "s"
    if h:
        return f"{sign}{h}h{m}m{sec}"
    if m:
        return f"{sign}{m}m{sec}"
    return sign + sec


def _trim(x: float) -> str:
    text = f"{x:.9f}".rstrip("0").rstrip(".")
    return text or "0"


def since(timestamp: str, now: float | None = None) -> str:
    """ "2 minutes" for an RFC 3339 time (go-units HumanDuration of time.Since)."""
    from wharfie.times import parse

    return human_duration((time.time() if now is None else now) - parse(timestamp))


def go_time(timestamp: str) -> str:
    """formatter.PrettyPrint of a time.Time: "2026-12-07 23:11:52.959033736 +0000 utc"."""
    if not timestamp:
        return ""
    date, _, rest = timestamp.partition("T")
    clock = rest.rstrip("Zz")
    if "." in clock:
        whole, frac = clock.split(".", 1)
        frac = frac.rstrip("0")
        clock = f"{whole}.{frac}" if frac else whole
    return f"{date} {clock} +0000 utc"


def truncate_id(ident: str) -> str:
    return ident[:12]


def familiar_image(image: str, trunc: bool = True) -> str:
    """A service/task image for display: the digest dropped when there is a tag."""
    if not trunc:
        return image
    name, at, _digest = image.partition("@")
    last = name.rsplit("/", 1)[-1]
    if at and ":" in last:
        image = name
    for prefix in ("docker.io/library/", "docker.io/"):
        if image.startswith(prefix):
            return image[len(prefix) :]
    return image


# -- nodes ------------------------------------------------------------------
NODE_FORMAT = (
    "table {{.ID}} {{if .Self}}*{{else}} {{ end }}\\t{{.Hostname}}\\t{{.Status}}\\t"
    "{{.Availability}}\\t{{.ManagerStatus}}\\t{{.EngineVersion}}"
)
NODE_HEADERS = {
    "ID": "ID",
    "Self": "",
    "Hostname": "HOSTNAME",
    "Status": "STATUS",
    "Availability": "AVAILABILITY",
    "ManagerStatus": "MANAGER STATUS",
    "EngineVersion": "ENGINE VERSION",
    "TLSStatus": "TLS STATUS",
}


class NodeRow:
    def __init__(self, n: dict[str, Any], self_id: str, cluster_tls: dict[str, Any]) -> None:
        self.n = n
        self.ID = n.get("ID") or ""
        self.Self = self_id == self.ID
        desc = n.get("Description") or {}
        self.Hostname = desc.get("Hostname") or ""
        self.Status = pretty((n.get("Status") or {}).get("State") or "")
        self.Availability = pretty((n.get("Spec") or {}).get("Availability") or "")
        ms = n.get("ManagerStatus")
        reach = ""
        if ms:
            reach = "Leader" if ms.get("Leader") else ms.get("Reachability") or ""
        self.ManagerStatus = pretty(reach)
        self.EngineVersion = (desc.get("Engine") or {}).get("EngineVersion") or ""
        tls = desc.get("TLSInfo") or {}
        if not cluster_tls or not tls:
            self.TLSStatus = "Unknown"
        else:
            self.TLSStatus = "Ready" if tls == cluster_tls else "Needs Rotation"

    def as_dict(self) -> dict[str, Any]:
        keys = ["Availability", "EngineVersion", "Hostname", "ID", "ManagerStatus", "Self"]
        out: dict[str, Any] = {k: getattr(self, k) for k in keys}
        out.update(Status=self.Status, TLSStatus=self.TLSStatus)
        return dict(sorted(out.items()))


def node_pretty(n: dict[str, Any]) -> str:
    """`node inspect --pretty` of one node."""
    import base64

    spec = n.get("Spec") or {}
    desc = n.get("Description") or {}
    status = n.get("Status") or {}
    out = [f"ID:\t\t\t{n.get('ID') or ''}"]
    if spec.get("Name"):
        out.append(f"Name:\t\t\t{spec['Name']}")
    if spec.get("Labels"):
        out.append("Labels:")
        out += [_kv_line(" - ", k, v) for k, v in sorted(spec["Labels"].items())]
    out.append(f"Hostname:              \t{desc.get('Hostname') or ''}")
    out.append(f"Joined at:             \t{go_time(n.get('CreatedAt') or '')}")
    out.append("Status:")
    out.append(f" State:\t\t\t{pretty(status.get('State') or '')}")
    if status.get("Message"):
        out.append(f" Message:              \t{pretty(status['Message'])}")
    out.append(f" Availability:         \t{pretty(spec.get('Availability') or '')}")
    if status.get("Addr"):
        out.append(f" Address:\t\t{status['Addr']}")
    ms = n.get("ManagerStatus")
    if ms:
        out.append("Manager Status:")
        out.append(f" Address:\t\t{ms.get('Addr') or ''}")
        out.append(f" Raft Status:\t\t{pretty(ms.get('Reachability') or '')}")
        out.append(f" Leader:\t\t{'Yes' if ms.get('Leader') else 'No'}")
    platform = desc.get("Platform") or {}
    out.append("Platform:")
    out.append(f" Operating System:\t{platform.get('OS') or ''}")
    out.append(f" Architecture:\t\t{platform.get('Architecture') or ''}")
    res = desc.get("Resources") or {}
    out.append("Resources:")
    out.append(f" CPUs:\t\t\t{int((res.get('NanoCPUs') or 0) // 1_000_000_000)}")
    mem = res.get("MemoryBytes") or 0
    out.append(f" Memory:\t\t{bytes_size(mem) if mem else ''}")
    engine = desc.get("Engine") or {}
    plugins: dict[str, list[str]] = {}
    for p in engine.get("Plugins") or []:
        plugins.setdefault(p.get("Type") or "", []).append(p.get("Name") or "")
    if plugins:
        out.append("Plugins:")
        for kind in sorted(plugins):
            out.append(f" {kind}:\t\t{', '.join(plugins[kind])}")
    out.append(f"Engine Version:\t\t{engine.get('EngineVersion') or ''}")
    if engine.get("Labels"):
        out.append("Engine Labels:")
        out += [_kv_line(" - ", k, v) for k, v in sorted(engine["Labels"].items())]
    tls = desc.get("TLSInfo") or {}
    if tls:
        out.append("TLS Info:")
        out.append(" TrustRoot:")
        out.append(tls.get("TrustRoot") or "")
        subject = base64.b64encode(base64.b64decode(tls.get("CertIssuerSubject") or "")).decode()
        key = base64.b64encode(base64.b64decode(tls.get("CertIssuerPublicKey") or "")).decode()
        out.append(f" Issuer Subject:\t{subject}")
        out.append(f" Issuer Public Key:\t{key}")
    return "\n".join(out)


def _kv_line(prefix: str, k: str, v: str, sep: str = "=") -> str:
    return f"{prefix}{k}{sep}{v}" if v else f"{prefix}{k}"


# -- services ---------------------------------------------------------------
SERVICE_FORMAT = "table {{.ID}}\\t{{.Name}}\\t{{.Mode}}\\t{{.Replicas}}\\t{{.Image}}\\t{{.Ports}}"
SERVICE_HEADERS = {
    "ID": "ID",
    "Name": "NAME",
    "Mode": "MODE",
    "Replicas": "REPLICAS",
    "Image": "IMAGE",
    "Ports": "PORTS",
}


def service_mode(spec: dict[str, Any]) -> str:
    mode = spec.get("Mode") or {}
    for key, name in (
        ("Global", "global"),
        ("Replicated", "replicated"),
        ("ReplicatedJob", "replicated job"),
        ("GlobalJob", "global job"),
    ):
        if mode.get(key) is not None:
            return name
    return ""


class ServiceRow:
    def __init__(self, s: dict[str, Any]) -> None:
        self.s = s
        spec = s.get("Spec") or {}
        self.ID = truncate_id(s.get("ID") or "")
        self.Name = spec.get("Name") or ""
        self.Mode = service_mode(spec)
        cs = (spec.get("TaskTemplate") or {}).get("ContainerSpec") or {}
        self.Image = familiar_image(cs.get("Image") or "")
        self.Replicas = self._replicas(spec)
        self.Ports = service_ports((s.get("Endpoint") or {}).get("Ports") or [])

    def _replicas(self, spec: dict[str, Any]) -> str:
        st = self.s.get("ServiceStatus") or {}
        running, desired = st.get("RunningTasks") or 0, st.get("DesiredTasks") or 0
        completed = st.get("CompletedTasks") or 0
        mode = spec.get("Mode") or {}
        if mode.get("ReplicatedJob") is not None:
            total = mode["ReplicatedJob"].get("TotalCompletions") or 0
            return f"{running}/{desired} ({completed}/{total} completed)"
        if mode.get("GlobalJob") is not None:
            return f"{running}/{desired} ({completed}/{desired + completed} completed)"
        placement = (spec.get("TaskTemplate") or {}).get("Placement") or {}
        if self.Mode == "replicated" and placement.get("MaxReplicas"):
            return f"{running}/{desired} (max {placement['MaxReplicas']} per node)"
        return f"{running}/{desired}"

    def as_dict(self) -> dict[str, str]:
        return {k: getattr(self, k) for k in ("ID", "Image", "Mode", "Name", "Ports", "Replicas")}


def service_ports(ports: list[dict[str, Any]]) -> str:
    """`*:8080->80/tcp` for the ingress-published ports, ranges grouped as docker does."""
    ports = sorted(ports, key=lambda p: (p.get("Protocol") or "", p.get("PublishedPort") or 0))
    out: list[str] = []
    cur: list[Any] = [0, 0, 0, 0, ""]  # pStart, pEnd, tStart, tEnd, protocol

    def text(pr: list[Any]) -> str:
        pub = f"{pr[0]}-{pr[1]}" if pr[1] > pr[0] else str(pr[0])
        tgt = f"{pr[2]}-{pr[3]}" if pr[3] > pr[2] else str(pr[2])
        return f"*:{pub}->{tgt}/{pr[4]}"

    for p in ports:
        if (p.get("PublishMode") or "ingress") != "ingress":
            continue
        pub, tgt, proto = p.get("PublishedPort") or 0, p.get("TargetPort") or 0, p.get("Protocol")
        is_range = cur[3] != cur[2]
        if proto != cur[4] or pub - cur[1] > 1 or tgt - cur[3] > 1 or (is_range and tgt <= cur[3]):
            if cur[0] > 0:
                out.append(text(cur))
            cur = [pub, pub, tgt, tgt, proto]
            continue
        cur[1], cur[3] = pub, tgt
    if cur[0] > 0:
        out.append(text(cur))
    return ", ".join(out)


def service_pretty(s: dict[str, Any], network_names: dict[str, str], now: float) -> str:
    """`service inspect --pretty` of one service (docker's serviceInspectPrettyTemplate)."""
    spec = s.get("Spec") or {}
    task = spec.get("TaskTemplate") or {}
    cs = task.get("ContainerSpec") or {}
    out = ["", f"ID:\t\t{s.get('ID') or ''}", f"Name:\t\t{spec.get('Name') or ''}"]
    if spec.get("Labels"):
        out.append("Labels:")
        out += [_kv_line(" ", k, v) for k, v in sorted(spec["Labels"].items())]
    mode = spec.get("Mode") or {}
    line = "Service Mode:"
    if mode.get("Global") is not None:
        out.append(line + "\tGlobal")
    elif mode.get("Replicated") is not None:
        out.append(line + "\tReplicated")
        if mode["Replicated"].get("Replicas") is not None:
            out.append(f" Replicas:\t{mode['Replicated']['Replicas']}")
    else:
        out.append(line)
    us = s.get("UpdateStatus") or {}
    if us.get("State"):
        out.append("UpdateStatus:")
        out.append(f" State:\t\t{us['State']}")
        if us.get("StartedAt"):
            out.append(f" Started:\t{since(us['StartedAt'], now)} ago")
        if us["State"] == "completed" and us.get("CompletedAt"):
            out.append(f" Completed:\t{since(us['CompletedAt'], now)} ago")
        out.append(f" Message:\t{us.get('Message') or ''}")
    placement = task.get("Placement") or {}
    out.append("Placement:")
    if placement.get("Constraints"):
        out.append(f" Constraints:\t{_go_list(placement['Constraints'])}")
    prefs = [
        "spread=" + (p.get("Spread") or {}).get("SpreadDescriptor", "")
        for p in placement.get("Preferences") or []
        if p.get("Spread")
    ]
    if prefs:
        out.append(f" Preferences:   {_go_list(prefs)}")
    if placement.get("MaxReplicas"):
        out.append(f" Max Replicas Per Node:   {placement['MaxReplicas']}")
    for key, title, order in (
        ("UpdateConfig", "UpdateConfig", "Update order:     "),
        ("RollbackConfig", "RollbackConfig", "Rollback order:   "),
    ):
        conf = spec.get(key)
        if conf is None:
            continue
        out.append(f"{title}:")
        out.append(f" Parallelism:\t{conf.get('Parallelism') or 0}")
        if conf.get("Delay"):
            out.append(f" Delay:\t\t{go_duration(conf['Delay'])}")
        out.append(f" On failure:\t{conf.get('FailureAction') or ''}")
        if conf.get("Monitor"):
            out.append(f" Monitoring Period: {go_duration(conf['Monitor'])}")
        out.append(f" Max failure ratio: {_go_float(conf.get('MaxFailureRatio') or 0)}")
        out.append(f" {order} {conf.get('Order') or ''}")
    out.append("ContainerSpec:")
    out.append(f" Image:\t\t{cs.get('Image') or ''}")
    tail = ""  # docker's template trims the newline before these entries
    if cs.get("Args"):
        out.append(" Args:\t\t" + "".join(a + " " for a in cs["Args"]))
    if cs.get("Env"):
        out.append(" Env:\t\t" + "".join(e + " " for e in cs["Env"]))
    if cs.get("Dir"):
        out.append(f" Dir:\t\t{cs['Dir']}")
    if cs.get("Init") is not None:
        out.append(f" Init:\t\t{str(bool(cs['Init'])).lower()}")
    if cs.get("User"):
        out.append(f" User: {cs['User']}")
    caps_add, caps_drop = cs.get("CapabilityAdd") or [], cs.get("CapabilityDrop") or []
    if caps_add or caps_drop:
        out.append("Capabilities:")
        if caps_add:
            out.append(f" Add: {', '.join(caps_add)}")
        if caps_drop:
            out.append(f" Drop: {', '.join(caps_drop)}")
    if cs.get("Sysctls"):
        out.append("SysCtls:")
        out += [_kv_line(" ", k, v, ": ") for k, v in sorted(cs["Sysctls"].items())]
    if cs.get("Ulimits"):
        out.append("Ulimits:")
        ul = {u["Name"]: f"{u.get('Soft', 0)}:{u.get('Hard', 0)}" for u in cs["Ulimits"]}
        out += [f" {k}: {v}" for k, v in sorted(ul.items())]
    if cs.get("Mounts"):
        out.append("Mounts:")
        for m in cs["Mounts"]:
            out.append(f" Target:\t{m.get('Target') or ''}")
            out.append(f"  Source:\t{m.get('Source') or ''}")
            out.append(f"  ReadOnly:\t{str(bool(m.get('ReadOnly'))).lower()}")
            out.append(f"  Type:\t\t{m.get('Type') or ''}")
    for key, name_key in (("Configs", "ConfigName"), ("Secrets", "SecretName")):
        if cs.get(key):
            out.append(f"{key}:")
            for ref in cs[key]:
                out.append(f" Target:\t{(ref.get('File') or {}).get('Name') or ''}")
                out.append(f"  Source:\t{ref.get(name_key) or ''}")
    log = task.get("LogDriver")
    if log is not None:
        out.append("Log Driver:")
        if log.get("Name"):
            out.append(f" Name:\t\t{log['Name']}")
        if log.get("Options"):
            out.append(" LogOpts:")
            out += [_kv_line("  ", k, v, ":       ") for k, v in sorted(log["Options"].items())]
        out.append("")
    res = task.get("Resources")
    if res is not None:
        out.append("Resources:")
        rsv, lim = res.get("Reservations") or {}, res.get("Limits") or {}
        if rsv.get("NanoCPUs") or rsv.get("MemoryBytes"):
            out.append(" Reservations:")
            if rsv.get("NanoCPUs"):
                out.append(f"  CPU:\t\t{_go_float(rsv['NanoCPUs'] / 1e9)}")
            if rsv.get("MemoryBytes"):
                out.append(f"  Memory:\t{bytes_size(rsv['MemoryBytes'])}")
        if lim.get("NanoCPUs") or lim.get("MemoryBytes") or lim.get("Pids"):
            out.append(" Limits:")
            if lim.get("NanoCPUs"):
                out.append(f"  CPU:\t\t{_go_float(lim['NanoCPUs'] / 1e9)}")
            if lim.get("MemoryBytes"):
                out.append(f"  Memory:\t{bytes_size(lim['MemoryBytes'])}")
        if lim.get("Pids"):
            out.append(f"  PIDs:\t\t{lim['Pids']}")
    nets = [network_names.get(n.get("Target"), n.get("Target")) for n in task.get("Networks") or []]
    if nets:
        out.append("Networks:" + "".join(f" {n}" for n in nets) + " ")
    endpoint = spec.get("EndpointSpec") or {}
    out.append(f"Endpoint Mode:\t{endpoint.get('Mode') or ''}")
    ports = (s.get("Endpoint") or {}).get("Ports") or []
    if ports:
        out.append("Ports:")
        for p in ports:
            out.append(f" PublishedPort = {p.get('PublishedPort') or 0}")
            out.append(f"  Protocol = {p.get('Protocol') or ''}")
            out.append(f"  TargetPort = {p.get('TargetPort') or 0}")
            out.append(f"  PublishMode = {p.get('PublishMode') or ''}")
        out[-1] += " "
    hc = cs.get("Healthcheck")
    if hc:
        out.append(" Healthcheck:")
        out.append(f"  Interval = {go_duration(hc.get('Interval') or 0)}")
        out.append(f"  Retries = {hc.get('Retries') or 0}")
        out.append(f"  StartPeriod =\t{go_duration(hc.get('StartPeriod') or 0)}")
        out.append(f"  Timeout =\t{go_duration(hc.get('Timeout') or 0)}")
        if hc.get("Test"):
            out.append("  Tests:")
            out += [f"\t Test = {t}" for t in hc["Test"]]
            out[-1] += " "
    return "\n".join(out) + tail


def _go_list(items: list[str]) -> str:
    return "[" + " ".join(items) + "]"


def _go_float(x: float) -> str:
    """fmt's %v of a float: 0, 0.5, 2."""
    return f"{x:g}"


# -- tasks ------------------------------------------------------------------
TASK_FORMAT = (
    "table {{.ID}}\\t{{.Name}}\\t{{.Image}}\\t{{.Node}}\\t{{.DesiredState}}\\t"
    "{{.CurrentState}}\\t{{.Error}}\\t{{.Ports}}"
)
TASK_HEADERS = {
    "ID": "ID",
    "Name": "NAME",
    "Image": "IMAGE",
    "Node": "NODE",
    "DesiredState": "DESIRED STATE",
    "CurrentState": "CURRENT STATE",
    "Error": "ERROR",
    "Ports": "PORTS",
}


class TaskRow:
    def __init__(self, t: dict[str, Any], name: str, node: str, trunc: bool, now: float) -> None:
        self.ID = truncate_id(t.get("ID") or "") if trunc else t.get("ID") or ""
        self.Name = name
        image = ((t.get("Spec") or {}).get("ContainerSpec") or {}).get("Image") or ""
        self.Image = familiar_image(image, trunc)
        self.Node = node
        self.DesiredState = pretty(t.get("DesiredState") or "")
        status = t.get("Status") or {}
        ago = since(status.get("Timestamp") or "", now).lower()
        self.CurrentState = f"{pretty(status.get('State') or '')} {ago} ago"
        err = status.get("Err") or ""
        if trunc:
            from wharfie.cli.fmt import ellipsis

            err = ellipsis(err, 30)
        self.Error = f'"{err}"' if err else ""
        ports = (status.get("PortStatus") or {}).get("Ports") or []
        self.Ports = ",".join(
            f"*:{p.get('PublishedPort')}->{p.get('TargetPort')}/{p.get('Protocol')}" for p in ports
        )

    def as_dict(self) -> dict[str, str]:
        keys = ["CurrentState", "DesiredState", "Error", "ID", "Image", "Name", "Node", "Ports"]
        return {k: getattr(self, k) for k in keys}


def _natural_key(s: str) -> list[Any]:
    """sortorder.NaturalLess: digit runs compare as numbers."""
    import re

    return [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"(\d+)", s) if p]


def task_rows(
    tasks: list[dict[str, Any]],
    service_names: dict[str, str],
    node_names: dict[str, str],
    trunc: bool,
    table: bool,
    now: float,
) -> list[TaskRow]:
    """docker's task.Print: names `<service>.<slot>` (or `.<node id>`), sorted naturally
    with a slot's newest first, the older ones indented ` \\_ ` in a table."""
    named = []
    for t in tasks:
        svc = service_names.get(t.get("ServiceID") or "", t.get("ServiceID") or "")
        slot = t.get("Slot") or 0
        name = f"{svc}.{slot}" if slot else f"{svc}.{t.get('NodeID') or ''}"
        named.append((name, t))
    from wharfie.times import parse

    named.sort(key=lambda nt: -parse(nt[1].get("CreatedAt") or ""))
    named.sort(key=lambda nt: _natural_key(nt[0]))
    rows, prev = [], ""
    for name, t in named:
        shown = (" \\_ " + name) if table and name == prev else name
        prev = name
        node = node_names.get(t.get("NodeID") or "", t.get("NodeID") or "")
        rows.append(TaskRow(t, shown, node, trunc, now))
    return rows


# -- secrets and configs ----------------------------------------------------
SECRET_FORMAT = "table {{.ID}}\\t{{.Name}}\\t{{.Driver}}\\t{{.CreatedAt}}\\t{{.UpdatedAt}}"
CONFIG_FORMAT = "table {{.ID}}\\t{{.Name}}\\t{{.CreatedAt}}\\t{{.UpdatedAt}}"
BLOB_HEADERS = {
    "ID": "ID",
    "Name": "NAME",
    "Driver": "DRIVER",
    "CreatedAt": "CREATED",
    "UpdatedAt": "UPDATED",
    "Labels": "LABELS",
}


class BlobRow:
    """A `secret ls` / `config ls` row."""

    def __init__(self, b: dict[str, Any], now: float) -> None:
        spec = b.get("Spec") or {}
        self.ID = b.get("ID") or ""
        self.Name = spec.get("Name") or ""
        self.Driver = (spec.get("Driver") or {}).get("Name") or ""
        self.CreatedAt = since(b.get("CreatedAt") or "", now) + " ago"
        self.UpdatedAt = since(b.get("UpdatedAt") or "", now) + " ago"
        self._labels: dict[str, str] = spec.get("Labels") or {}
        self.Labels = ",".join(f"{k}={v}" for k, v in sorted(self._labels.items()))

    def Label(self, name: str) -> str:
        return self._labels.get(name, "")

    def as_dict(self) -> dict[str, str]:
        keys = ["CreatedAt", "Driver", "ID", "Labels", "Name", "UpdatedAt"]
        return {k: getattr(self, k) for k in keys}


def secret_pretty(b: dict[str, Any]) -> str:
    spec = b.get("Spec") or {}
    out = [f"ID:              {b.get('ID') or ''}", f"Name:              {spec.get('Name') or ''}"]
    if spec.get("Labels"):
        out.append("Labels:")
        out += [_kv_line(" - ", k, v) for k, v in sorted(spec["Labels"].items())]
    out.append(f"Driver:            {(spec.get('Driver') or {}).get('Name') or ''}")
    out.append(f"Created at:        {go_time(b.get('CreatedAt') or '')}")
    out.append(f"Updated at:        {go_time(b.get('UpdatedAt') or '')}")
    return "\n".join(out)


def config_pretty(b: dict[str, Any]) -> str:
    import base64

    spec = b.get("Spec") or {}
    out = [f"ID:\t\t\t{b.get('ID') or ''}", f"Name:\t\t\t{spec.get('Name') or ''}"]
    if spec.get("Labels"):
        out.append("Labels:")
        out += [_kv_line(" - ", k, v) for k, v in sorted(spec["Labels"].items())]
    out.append(f"Created at:            \t{go_time(b.get('CreatedAt') or '')}")
    out.append(f"Updated at:            \t{go_time(b.get('UpdatedAt') or '')}")
    out.append("Data:")
    out.append(base64.b64decode(spec.get("Data") or "").decode(errors="replace"))
    return "\n".join(out)


# -- inspect ------------------------------------------------------------------
# The docker CLI prints `service inspect` by marshalling its Go types again (moby's
# api/types/swarm), so the keys come in the structs' field order, whatever the daemon sent.
_SPEC = ["Name", "Labels", "TaskTemplate", "Mode", "UpdateConfig", "RollbackConfig"]
_UPDATE = ["Parallelism", "Delay", "FailureAction", "Monitor", "MaxFailureRatio", "Order"]
_TOP = ["ID", "Version", "CreatedAt", "UpdatedAt", "Spec", "PreviousSpec", "Endpoint"]
_TASK = ["ContainerSpec", "PluginSpec", "NetworkAttachmentSpec", "Resources", "RestartPolicy"]
_CONTAINER = ["Image", "Labels", "Command", "Args", "Hostname", "Env", "Dir", "User", "Groups"]
_CONTAINER2 = ["Privileges", "Init", "StopSignal", "TTY", "OpenStdin", "ReadOnly", "Mounts"]
_CONTAINER3 = ["StopGracePeriod", "Healthcheck", "Hosts", "DNSConfig", "Secrets", "Configs"]
_CONTAINER4 = ["Isolation", "Sysctls", "CapabilityAdd", "CapabilityDrop", "Ulimits"]
_SERVICE_ORDER: dict[str, list[str]] = {
    "": [*_TOP, "UpdateStatus", "ServiceStatus", "JobStatus"],
    "Spec": [*_SPEC, "Networks", "EndpointSpec"],
    "PreviousSpec": [*_SPEC, "Networks", "EndpointSpec"],
    "TaskTemplate": [*_TASK, "Placement", "Networks", "LogDriver", "ForceUpdate", "Runtime"],
    "ContainerSpec": [*_CONTAINER, *_CONTAINER2, *_CONTAINER3, *_CONTAINER4, "OomScoreAdj"],
    "Resources": ["Limits", "Reservations"],
    "Limits": ["NanoCPUs", "MemoryBytes", "Pids"],
    "Reservations": ["NanoCPUs", "MemoryBytes", "GenericResources"],
    "RestartPolicy": ["Condition", "Delay", "MaxAttempts", "Window"],
    "Placement": ["Constraints", "Preferences", "MaxReplicas", "Platforms"],
    "UpdateConfig": _UPDATE,
    "RollbackConfig": _UPDATE,
    "EndpointSpec": ["Mode", "Ports"],
    "Endpoint": ["Spec", "Ports", "VirtualIPs"],
    "Endpoint.Spec": ["Mode", "Ports"],
    "UpdateStatus": ["State", "StartedAt", "CompletedAt", "Message"],
    "ServiceStatus": ["RunningTasks", "DesiredTasks", "CompletedTasks"],
}


def go_order(value: Any, name: str = "", order: dict[str, list[str]] | None = None) -> Any:
    """`value` with its objects' keys in Go struct order (keys not listed keep theirs, after)."""
    order = _SERVICE_ORDER if order is None else order
    if isinstance(value, list):
        return [go_order(v, name, order) for v in value]
    if not isinstance(value, dict):
        return value
    first = order.get(name, [])
    keys = [k for k in first if k in value] + [k for k in value if k not in first]
    out = {}
    for k in keys:
        child = f"{name}.{k}" if f"{name}.{k}" in order else k
        out[k] = go_order(value[k], child, order)
    return out
