"""Loading compose projects: files, project names, .env, merge, extends, profiles,
validation errors with paths and lines (cases written from the compose specification)."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from wharfie.compose import merge
from wharfie.compose.loader import Options, load, normalize_name
from wharfie.compose.schema import SchemaError
from wharfie.errors import InvalidArgument, NotFound


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def project(folder: Path, text: str | None = None, **kw: Any) -> Any:
    if text is not None:
        write(folder, "compose.yaml", text)
    kw.setdefault("environ", {})
    return load(Options(cwd=str(folder), **kw))


# -- files and names --------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml"]
)
def test_default_file_names(tmp_path: Path, name: str) -> None:
    write(tmp_path, name, "services: {a: {image: busybox}}\n")
    p = load(Options(cwd=str(tmp_path), environ={}))
    assert p.config_files == [str(tmp_path / name)]
    assert list(p.services) == ["a"]


def test_found_in_parent_and_override_merged(tmp_path: Path) -> None:
    write(tmp_path, "compose.yaml", "services: {a: {image: busybox, command: one}}\n")
    write(tmp_path, "compose.override.yaml", "services: {a: {command: two}}\n")
    sub = tmp_path / "deep" / "er"
    sub.mkdir(parents=True)
    p = load(Options(cwd=str(sub), environ={}))
    assert p.services["a"]["command"] == ["two"]
    assert p.working_dir == str(tmp_path)


def test_no_file(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="no configuration file provided"):
        load(Options(cwd=str(tmp_path), environ={}))


def test_project_name_sources(tmp_path: Path) -> None:
    folder = tmp_path / "My App.v2"
    folder.mkdir()
    text = "services: {a: {image: busybox}}\n"
    assert project(folder, text).name == "myappv2"
    assert project(folder, environ={"COMPOSE_PROJECT_NAME": "fromenv"}).name == "fromenv"
    assert (
        project(folder, project_name="flag", environ={"COMPOSE_PROJECT_NAME": "x"}).name == "flag"
    )
    write(folder, "compose.yaml", "name: top\nservices: {a: {image: busybox}}\n")
    assert project(folder).name == "top"
    with pytest.raises(InvalidArgument, match='invalid project name "Bad"'):
        project(folder, project_name="Bad")


def test_normalize_name() -> None:
    assert normalize_name("_My-Project.1") == "my-project1"


# -- environment ------------------------------------------------------------


def test_dotenv_and_process_env(tmp_path: Path) -> None:
    write(tmp_path, ".env", "TAG=1.0\nPORT=80\nCOMPOSE_PROJECT_NAME=dot\n")
    p = project(
        tmp_path,
        """
        services:
          web:
            image: "busybox:${TAG}"
            ports: ["${PORT}:80"]
    """,
        environ={"PORT": "8080"},
    )
    assert p.services["web"]["image"] == "busybox:1.0"
    assert p.services["web"]["ports"][0]["published"] == "8080"
    assert p.name == "dot"


def test_env_file_flag_and_missing(tmp_path: Path) -> None:
    write(tmp_path, "other.env", "TAG=2\n")
    p = project(tmp_path, "services: {a: {image: 'busybox:${TAG}'}}\n", env_files=["other.env"])
    assert p.services["a"]["image"] == "busybox:2"
    with pytest.raises(NotFound, match=r"couldn't find env file: .*missing\.env"):
        project(tmp_path, env_files=["missing.env"])


def test_required_variable_error(tmp_path: Path) -> None:
    with pytest.raises(
        InvalidArgument,
        match=r"services\.a\.image: required variable TAG is missing a value: "
        r"set TAG",
    ):
        project(tmp_path, "services: {a: {image: 'busybox:${TAG:?set TAG}'}}\n")


def test_service_env_file_and_environment(tmp_path: Path) -> None:
    write(tmp_path, "web.env", "A=from-file\nB=file\n")
    p = project(
        tmp_path,
        """
        services:
          web:
            image: busybox
            env_file: web.env
            environment:
              - A=inline
              - FROM_HOST
              - NOT_ON_HOST
    """,
        environ={"FROM_HOST": "h"},
    )
    assert p.services["web"]["environment"] == {"A": "inline", "B": "file", "FROM_HOST": "h"}


def test_missing_service_env_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match=r"services\.web\.env_file: env file .*nope.env"):
        project(tmp_path, "services: {web: {image: busybox, env_file: nope.env}}\n")
    p = project(
        tmp_path,
        """
        services:
          web: {image: busybox, env_file: [{path: nope.env, required: false}]}
    """,
    )
    assert p.services["web"]["environment"] == {}


# -- merge --------------------------------------------------------------------


def test_merge_rules(tmp_path: Path) -> None:
    write(
        tmp_path,
        "a.yaml",
        """
        services:
          web:
            image: busybox
            command: [a, b]
            environment: [A=1, B=2]
            labels: {x: "1"}
            ports: ["80:80"]
            volumes: ["/a:/data", "/b:/other"]
            depends_on: [db]
            cap_add: [NET_ADMIN]
          db: {image: busybox}
        volumes: {v: {driver: local}}
    """,
    )
    write(
        tmp_path,
        "b.yaml",
        """
        services:
          web:
            command: [c]
            environment: {B: "3", C: "4"}
            labels: [y=2]
            ports: ["81:81", "80:80"]
            volumes: ["/z:/data"]
            depends_on: {cache: {condition: service_started}}
            cap_add: [SYS_ADMIN]
          cache: {image: busybox}
        volumes: {v: {driver_opts: {type: tmpfs}}}
    """,
    )
    p = project(tmp_path, files=["a.yaml", "b.yaml"])
    web = p.services["web"]
    assert web["command"] == ["c"]
    assert web["environment"] == {"A": "1", "B": "3", "C": "4"}
    assert web["labels"] == {"x": "1", "y": "2"}
    assert [(x["published"], x["target"]) for x in web["ports"]] == [("80", 80), ("81", 81)]
    assert {v["target"]: v["source"] for v in web["volumes"]} == {"/data": "/z", "/other": "/b"}
    assert set(web["depends_on"]) == {"db", "cache"}
    assert web["cap_add"] == ["NET_ADMIN", "SYS_ADMIN"]
    assert p.model["volumes"]["v"]["driver"] == "local"
    assert p.model["volumes"]["v"]["driver_opts"] == {"type": "tmpfs"}


def test_merge_build_string_and_mapping() -> None:
    out = merge.merge_service({"build": "./a"}, {"build": {"target": "t", "args": ["X=1"]}})
    assert out["build"] == {"context": "./a", "target": "t", "args": ["X=1"]}


# -- extends ------------------------------------------------------------------


def test_extends_same_and_other_file(tmp_path: Path) -> None:
    write(
        tmp_path,
        "common/base.yaml",
        """
        services:
          base:
            image: busybox
            environment: {A: base, B: base}
            build: ./ctx
    """,
    )
    p = project(
        tmp_path,
        """
        services:
          tmpl: {image: busybox, command: tmpl, user: "1000"}
          web:
            extends: tmpl
            command: web
          api:
            extends: {file: common/base.yaml, service: base}
            environment: {B: api}
    """,
    )
    assert p.services["web"]["command"] == ["web"]
    assert p.services["web"]["user"] == "1000"
    assert p.services["api"]["environment"] == {"A": "base", "B": "api"}
    assert p.services["api"]["build"]["context"] == str(tmp_path / "common" / "ctx")


def test_extends_errors(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match='service "nope" not found'):
        project(tmp_path, "services: {a: {extends: nope}}\n")
    with pytest.raises(SchemaError, match="circular extends"):
        project(tmp_path, "services: {a: {extends: b, image: x}, b: {extends: a}}\n")


# -- profiles -----------------------------------------------------------------


def test_profiles(tmp_path: Path) -> None:
    text = """
        services:
          web: {image: busybox}
          debug: {image: busybox, profiles: [dev]}
          admin: {image: busybox, profiles: [ops, dev]}
    """
    assert set(project(tmp_path, text).services) == {"web"}
    assert set(project(tmp_path, profiles=["dev"]).services) == {"web", "debug", "admin"}
    assert set(project(tmp_path, environ={"COMPOSE_PROFILES": "ops"}).services) == {"web", "admin"}
    p = project(tmp_path, services=["debug"])
    assert set(p.services) == {"web", "debug"} and set(p.disabled) == {"admin"}


# -- validation --------------------------------------------------------------

BAD = [
    (
        "services:\n  web:\n    image: busybox\n    ports: ['80:80:80']\n",
        'services.web.ports[0]: invalid port "80:80:80" (compose.yaml line 4)',
    ),
    (
        "services:\n  web:\n    image: busybox\n    foo: 1\n",
        'services.web: additional property "foo" is not allowed (compose.yaml line 4)',
    ),
    (
        "services:\n  web:\n    image: busybox\n    tty: maybe\n",
        'services.web.tty: must be a boolean, not "maybe" (compose.yaml line 4)',
    ),
    (
        "services:\n  web:\n    image: [busybox]\n",
        "services.web.image: must be a string, not ['busybox'] (compose.yaml line 3)",
    ),
    (
        "services:\n  web:\n    image: busybox\n    restart: sometimes\n",
        "services.web.restart: must be one of no, always, on-failure, unless-stopped",
    ),
    (
        "services:\n  web:\n    image: busybox\n    healthcheck: {interval: soon}\n",
        'services.web.healthcheck.interval: invalid duration "soon"',
    ),
    (
        "services:\n  web:\n    image: busybox\n    volumes: ['a:b:c:d']\n",
        'services.web.volumes[0]: invalid volume "a:b:c:d"',
    ),
    (
        "services:\n  web:\n    image: busybox\n    depends_on: {db: {condition: later}}\n",
        "services.web.depends_on.db.condition: must be one of service_started",
    ),
    (
        "volumes:\n  v:\n    external: 3\n",
        "volumes.v.external: must be a boolean or a mapping, not 3",
    ),
    ("bogus: 1\nservices: {}\n", 'additional property "bogus" is not allowed'),
]


@pytest.mark.parametrize(("text", "message"), BAD)
def test_schema_errors(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(SchemaError) as err:
        project(tmp_path, text)
    assert message in str(err.value)


def test_extensions_allowed(tmp_path: Path) -> None:
    p = project(
        tmp_path, "x-common: &c {image: busybox}\nservices:\n  a:\n    <<: *c\n    x-note: hi\n"
    )
    assert p.services["a"]["image"] == "busybox"


def test_yaml_syntax_error_has_line(tmp_path: Path) -> None:
    with pytest.raises(
        InvalidArgument, match=r"compose.yaml: yaml: line 4, column \d+: did not find expected"
    ):
        project(tmp_path, "services:\n  web:\n    image: [busybox\n")


REFS = [
    (
        "services: {web: {image: b, networks: [front]}}\n",
        'services.web.networks.front: service "web" refers to undefined network front',
    ),
    (
        "services: {web: {image: b, volumes: ['data:/d']}}\n",
        'services.web.volumes[0]: service "web" refers to undefined volume data',
    ),
    (
        "services: {web: {image: b, secrets: [pw]}}\n",
        'services.web.secrets[0]: service "web" refers to undefined secret pw',
    ),
    (
        "services: {web: {image: b, depends_on: [db]}}\n",
        'service "web" depends on undefined service "db"',
    ),
    (
        "services: {a: {image: b, depends_on: [b]}, b: {image: b, depends_on: [c]}, "
        "c: {image: b, depends_on: [a]}}\n",
        "dependency cycle detected: a -> b -> c -> a",
    ),
    (
        "services: {a: {build: {}}, b: {command: x}}\n",
        "services.b: service has neither an image nor a build context specified",
    ),
]


@pytest.mark.parametrize(("text", "message"), REFS)
def test_reference_errors(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(SchemaError) as err:
        project(tmp_path, text)
    assert message in str(err.value)


# -- normalization -------------------------------------------------------------


def test_normalized_model(tmp_path: Path) -> None:
    write(tmp_path, "pw.txt", "secret\n")
    p = project(
        tmp_path,
        """
        services:
          web:
            build: {context: ., args: {V: "1"}}
            command: echo "a b"
            ports: ["127.0.0.1:8000-8001:80-81/udp", {target: 443, published: 8443}]
            expose: [3000]
            volumes:
              - data:/data:ro
              - ./src:/src
              - {type: tmpfs, target: /tmp, tmpfs: {size: 1m}}
            networks: {front: {aliases: [www], ipv4_address: 172.30.0.5}}
            healthcheck: {test: "true", interval: 1s, retries: 3}
            deploy: {replicas: 2, resources: {limits: {memory: 64m, cpus: "0.5", pids: 50}}}
            ulimits: {nofile: 1024, nproc: {soft: 10, hard: 20}}
            secrets: [pw, {source: pw, target: custom}]
            extra_hosts: ["db=10.0.0.2"]
            restart: on-failure:3
        networks:
          front: {ipam: {config: [{subnet: 172.30.0.0/24}]}}
          ext: {external: true, name: real}
        volumes: {data: {}}
        secrets: {pw: {file: pw.txt}}
    """,
        project_name="demo",
    )
    web = p.services["web"]
    assert web["image"] == "demo-web"
    assert web["build"]["context"] == str(tmp_path)
    assert web["command"] == ["echo", "a b"]
    assert web["ports"] == [
        {
            "target": 80,
            "published": "8000",
            "host_ip": "127.0.0.1",
            "protocol": "udp",
            "mode": "ingress",
        },
        {
            "target": 81,
            "published": "8001",
            "host_ip": "127.0.0.1",
            "protocol": "udp",
            "mode": "ingress",
        },
        {"target": 443, "published": "8443", "protocol": "tcp", "mode": "ingress"},
    ]
    assert web["volumes"][0] == {
        "type": "volume",
        "source": "data",
        "target": "/data",
        "read_only": True,
    }
    assert web["volumes"][1]["source"] == str(tmp_path / "src")
    assert web["scale"] == 2
    assert web["resources"] == {"memory": 64 * 2**20, "cpus": 0.5, "pids": 50}
    assert web["ulimits"] == {
        "nofile": {"soft": 1024, "hard": 1024},
        "nproc": {"soft": 10, "hard": 20},
    }
    assert [s["target"] for s in web["secrets"]] == ["/run/secrets/pw", "/run/secrets/custom"]
    assert web["extra_hosts"] == ["db:10.0.0.2"]
    assert web["healthcheck"]["test"] == ["CMD-SHELL", "true"]
    assert p.model["networks"]["front"]["name"] == "demo_front"
    assert p.model["networks"]["ext"] == {"name": "real", "external": True, "labels": {}}
    assert p.model["volumes"]["data"]["name"] == "demo_data"
    assert p.model["secrets"]["pw"]["file"] == str(tmp_path / "pw.txt")
    assert "default" not in p.model["networks"]


def test_default_network_added(tmp_path: Path) -> None:
    p = project(
        tmp_path, "services: {a: {image: b}, h: {image: b, network_mode: host}}\n", project_name="x"
    )
    assert p.model["networks"] == {
        "default": {"name": "x_default", "external": False, "labels": {}}
    }
    assert p.services["h"]["networks"] == {}


def test_scale_and_replicas_must_agree(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match=r"scale \(2\) and deploy.replicas \(3\) differ"):
        project(tmp_path, "services: {a: {image: b, scale: 2, deploy: {replicas: 3}}}\n")


def test_yes_stays_a_string(tmp_path: Path) -> None:
    p = project(tmp_path, "services: {a: {image: b, environment: {DEBUG: yes, ON: true}}}\n")
    assert p.services["a"]["environment"] == {"DEBUG": "yes", "ON": "true"}
