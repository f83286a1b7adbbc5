"""A compose file -> `stack deploy`'s swarm objects (wharfie.compose.stack), compared with the
bodies docker CLI 28 sends for the same file (captured against a wharfie cluster)."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from wharfie.compose.stack import NAMESPACE, convert, load_stack
from wharfie.errors import InvalidArgument

COMPOSE = """
services:
  web:
    image: busybox
    command: sleep 300
    deploy:
      replicas: 2
      labels:
        tier: front
    environment:
      B: "2"
      A: "1"
    secrets: [token]
  worker:
    image: busybox
    command: ["sleep", "300"]
    deploy:
      mode: global
  db:
    image: busybox
    command: sleep 300
    configs:
      - source: conf
        target: /etc/conf
secrets:
  token:
    file: ./token.txt
configs:
  conf:
    file: ./conf.txt
"""

PRIVILEGES = {"CredentialSpec": None, "SELinuxContext": None, "NoNewPrivileges": False}


def project(tmp_path: Path, text: str = COMPOSE) -> tuple[str, Path]:
    (tmp_path / "token.txt").write_text("s3cr3t\n")
    (tmp_path / "conf.txt").write_text("a=1\n")
    path = tmp_path / "compose.yml"
    path.write_text(text)
    return str(path), tmp_path


def test_objects_as_docker_sends_them(tmp_path: Path) -> None:
    path, _ = project(tmp_path)
    doc, model = load_stack([path], "st", {})
    objects = convert("st", doc, model)
    assert objects.networks == {
        "st_default": {
            "Driver": "overlay",
            "Scope": "",
            "IPAM": None,
            "Internal": False,
            "Attachable": False,
            "Ingress": False,
            "ConfigOnly": False,
            "ConfigFrom": None,
            "Options": None,
            "Labels": {NAMESPACE: "st"},
            "Name": "st_default",
        }
    }
    assert objects.secrets == {
        "st_token": {
            "Name": "st_token",
            "Labels": {NAMESPACE: "st"},
            "Data": base64.b64encode(b"s3cr3t\n").decode(),
        }
    }
    assert list(objects.configs) == ["st_conf"]
    assert list(objects.services) == ["st_web", "st_worker", "st_db"]  # the file's order
    web = objects.services["st_web"]
    token = {"Name": "token", "UID": "0", "GID": "0", "Mode": 292}
    assert web == {
        "Name": "st_web",
        "Labels": {"com.docker.stack.image": "busybox", NAMESPACE: "st", "tier": "front"},
        "TaskTemplate": {
            "ContainerSpec": {
                "Image": "busybox",
                "Labels": {NAMESPACE: "st"},
                "Args": ["sleep", "300"],
                "Env": ["A=1", "B=2"],
                "Privileges": PRIVILEGES,
                "Secrets": [{"File": token, "SecretID": "", "SecretName": "st_token"}],
            },
            "Resources": {},
            "Placement": {},
            "Networks": [{"Target": "st_default", "Aliases": ["web"]}],
        },
        "Mode": {"Replicated": {"Replicas": 2}},
        "EndpointSpec": {},
    }
    assert objects.services["st_worker"]["Mode"] == {"Global": {}}
    db = objects.services["st_db"]
    assert db["Mode"] == {"Replicated": {}}
    assert db["TaskTemplate"]["ContainerSpec"]["Configs"][0]["File"]["Name"] == "/etc/conf"
    assert "RestartPolicy" not in db["TaskTemplate"]


def test_deploy_section_and_named_networks(tmp_path: Path) -> None:
    path, _ = project(
        tmp_path,
        """
services:
  app:
    image: busybox:1
    restart: always
    stop_grace_period: 2s
    networks: [front, outside]
    ports: ["8080:80"]
    deploy:
      endpoint_mode: dnsrr
      placement:
        constraints: [node.role==worker]
        max_replicas_per_node: 1
      resources:
        limits: {cpus: "0.5", memory: 64M}
      update_config: {parallelism: 2, delay: 1s, failure_action: rollback, order: start-first}
networks:
  front:
    driver_opts: {com.docker.network.driver.mtu: "1400"}
  outside:
    external: true
""",
    )
    doc, model = load_stack([path], "p", {})
    objects = convert("p", doc, model)
    assert list(objects.networks) == ["p_front"] and objects.external_networks == ["outside"]
    assert objects.networks["p_front"]["Options"] == {"com.docker.network.driver.mtu": "1400"}
    spec = objects.services["p_app"]
    task = spec["TaskTemplate"]
    assert task["RestartPolicy"] == {"Condition": "any", "MaxAttempts": 0}
    assert task["ContainerSpec"]["StopGracePeriod"] == 2_000_000_000
    assert task["Placement"] == {"Constraints": ["node.role==worker"], "MaxReplicas": 1}
    assert task["Resources"] == {"Limits": {"NanoCPUs": 500_000_000, "MemoryBytes": 64 << 20}}
    assert [n["Target"] for n in task["Networks"]] == ["p_front", "outside"]
    assert spec["UpdateConfig"] == {
        "Parallelism": 2,
        "Delay": 1_000_000_000,
        "FailureAction": "rollback",
        "MaxFailureRatio": 0.0,
        "Order": "start-first",
    }
    assert spec["EndpointSpec"] == {
        "Mode": "dnsrr",
        "Ports": [
            {"Protocol": "tcp", "TargetPort": 80, "PublishMode": "ingress", "PublishedPort": 8080}
        ],
    }


def test_external_secrets_are_referenced_not_created(tmp_path: Path) -> None:
    path, _ = project(
        tmp_path,
        """
services:
  a:
    image: busybox
    secrets: [given]
secrets:
  given:
    external: true
""",
    )
    doc, model = load_stack([path], "s", {})
    objects = convert("s", doc, model)
    assert objects.secrets == {}
    ref = objects.services["s_a"]["TaskTemplate"]["ContainerSpec"]["Secrets"][0]
    assert ref["SecretName"] == "given"


def test_a_missing_secret_file_is_an_error(tmp_path: Path) -> None:
    path, folder = project(tmp_path)
    (folder / "token.txt").unlink()
    doc, model = load_stack([path], "st", {})
    with pytest.raises(InvalidArgument, match=r"token\.txt: no such file or directory"):
        convert("st", doc, model)
