"""The Go-template subset used by --format."""

import pytest

from wharfie.cli.fmt import ContainerRow, render_rows
from wharfie.cli.template import docker_format, go_str, parse, render
from wharfie.errors import InvalidArgument

INSPECT = {
    "State": {"Status": "running", "ExitCode": 0, "Running": True},
    "Config": {"Labels": {"k": "v", "a": "b"}, "Env": ["A=1"], "Cmd": None},
    "NetworkSettings": {"IPAddress": "10.0.0.2"},
}


@pytest.mark.parametrize(
    ("tmpl", "out"),
    [
        ("{{.State.Status}}", "running"),
        ("{{.State.ExitCode}}", "0"),
        ("{{.State.Running}}", "true"),
        ("{{.NetworkSettings.IPAddress}}", "10.0.0.2"),
        ('{{index .Config.Labels "k"}}', "v"),
        ("{{json .Config.Env}}", '["A=1"]'),
        ("{{.Config.Labels}}", "map[a:b k:v]"),
        ("{{.Config.Env}}", "[A=1]"),
        ("{{.Config.Cmd}}", "<nil>"),
        ("{{.Config.Missing}}", "<no value>"),
        ("{{range .Config.Env}}<{{.}}>{{end}}", "<A=1>"),
        ("{{if .State.Running}}up{{else}}down{{end}}", "up"),
        ("{{.State.Status | upper}}", "RUNNING"),
        ('{{join .Config.Env ","}}', "A=1"),
        ('{{printf "%s-%d" .State.Status 3}}', "running-3"),
        ("a {{- .State.Status -}} b", "arunningb"),
    ],
)
def test_inspect_templates(tmpl: str, out: str) -> None:
    assert render(tmpl, INSPECT) == out


def test_errors() -> None:
    with pytest.raises(InvalidArgument):
        parse("{{.X")
    with pytest.raises(InvalidArgument):
        render("{{nosuchfunc .X}}", {})
    with pytest.raises(InvalidArgument):
        parse("{{if .X}}y")


def test_go_values() -> None:
    assert go_str(None) == "<nil>"
    assert go_str(1.0) == "1"
    assert go_str({"b": [1, None]}) == "map[b:[1 <nil>]]"


def test_docker_format_preprocessing() -> None:
    assert docker_format("table {{.ID}}\\t{{.Names}}") == (True, "{{.ID}}\t{{.Names}}")
    assert docker_format("{{.ID}}") == (False, "{{.ID}}")


CONTAINER = {
    "Id": "0123456789abcdef" * 4,
    "Names": ["/web"],
    "Image": "busybox",
    "Command": "sh -c 'while true; do sleep 1; done'",
    "Created": 1000,
    "Ports": [{"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"}],
    "Labels": {"k": "v"},
    "State": "running",
    "Status": "Up 2 minutes",
}


def test_ps_row_fields_and_table() -> None:
    row = ContainerRow(CONTAINER, now=1000 + 150)
    assert row.ID == "0123456789ab"
    assert row.Command == '"sh -c \'while true; \u2026"'
    assert row.RunningFor == "2 minutes ago"
    assert row.Ports == "0.0.0.0:8080->80/tcp"
    assert row.Label("k") == "v"
    out = render_rows([row], "table {{.ID}}\\t{{.Names}}\\t{{.Status}}")
    assert out == ("CONTAINER ID   NAMES     STATUS\n0123456789ab   web       Up 2 minutes\n")
    assert render_rows([row], '{{.Names}} {{.Label "k"}}') == "web v\n"
    assert '"Names":"web"' in render_rows([row], "{{json .}}")


def test_null_missing_and_index_like_docker_inspect() -> None:
    doc = {"HostConfig": {"PidsLimit": None}, "Config": {"Labels": {}}}
    assert render('{{.HostConfig.PidsLimit}} {{index .Config.Labels "x"}}|', doc) == "<nil> |"
    assert render("{{.Config.Nope}} {{json .Config.Nope}}", doc) == "<no value> null"
