from wharfie.oci.defaults import default_spec


def test_default_spec_is_fresh_each_call() -> None:
    a = default_spec()
    a["process"]["args"].append("x")
    assert default_spec()["process"]["args"] == ["sh"]


def test_default_spec_has_runc_shape() -> None:
    spec = default_spec()
    assert spec["root"] == {"path": "rootfs", "readonly": True}
    kinds = [ns["type"] for ns in spec["linux"]["namespaces"]]
    assert {"pid", "mount", "network", "ipc", "uts"} <= set(kinds)
    assert [m["destination"] for m in spec["mounts"]][:2] == ["/proc", "/dev"]
