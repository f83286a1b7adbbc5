"""runc's `spec` template as `wharfie-runtime spec` renders it (pure parts)."""

from __future__ import annotations

import json

from wharfie.oci.runtime_spec import validate
from wharfie.runtime.process import Caps
from wharfie.runtime.spec_template import render, runc_template


def test_template_is_valid_and_has_runcs_shape() -> None:
    spec = runc_template()
    validate(spec)
    assert spec["hostname"] == "runc"
    assert [n["type"] for n in spec["linux"]["namespaces"]] == [
        "pid",
        "network",
        "ipc",
        "uts",
        "mount",
    ]
    assert "inheritable" not in spec["process"]["capabilities"]
    assert spec["process"]["capabilities"]["ambient"] == spec["process"]["capabilities"]["bounding"]


def test_rootless_template() -> None:
    spec = runc_template(rootless=True)
    validate(spec)
    types = [n["type"] for n in spec["linux"]["namespaces"]]
    assert "network" not in types and types[-1] == "user"
    assert "resources" not in spec["linux"]
    devpts = next(m for m in spec["mounts"] if m["type"] == "devpts")
    assert not any(o.startswith("gid=") for o in devpts["options"])


def test_render_is_go_marshalindent() -> None:
    text = render({"a": [1], "b": {"c": True}})
    assert text == '{\n\t"a": [\n\t\t1\n\t],\n\t"b": {\n\t\t"c": true\n\t}\n}'
    assert json.loads(render(runc_template())) == runc_template()


def test_ambient_needs_inheritable() -> None:
    caps = Caps({"permitted": ["CAP_KILL", "CAP_CHOWN"], "ambient": ["CAP_KILL", "CAP_CHOWN"]})
    assert caps.raisable_ambient() == 0
    caps = Caps(
        {
            "permitted": ["CAP_KILL", "CAP_CHOWN"],
            "inheritable": ["CAP_KILL"],
            "ambient": ["CAP_KILL", "CAP_CHOWN"],
        }
    )
    assert caps.raisable_ambient() == 1 << 5
