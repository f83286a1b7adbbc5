import copy

import pytest

from wharfie.errors import InvalidArgument
from wharfie.oci.defaults import default_spec
from wharfie.oci.runtime_spec import validate


def _bad(mutate, match: str) -> None:
    spec = default_spec()
    mutate(spec)
    with pytest.raises(InvalidArgument, match=match):
        validate(spec)


def test_default_spec_is_valid() -> None:
    validate(default_spec())


def test_not_an_object() -> None:
    with pytest.raises(InvalidArgument, match="expected an object, got array"):
        validate([])


@pytest.mark.parametrize("field", ["ociVersion", "root", "process"])
def test_missing_required_top_level_field(field: str) -> None:
    _bad(lambda s: s.pop(field), rf"^{field}: required field is missing")


def test_missing_args() -> None:
    _bad(lambda s: s["process"].pop("args"), r"^process\.args: required field is missing")


def test_empty_args() -> None:
    _bad(lambda s: s["process"].update(args=[]), r"process\.args: args must not be empty")


def test_args_wrong_type() -> None:
    _bad(lambda s: s["process"].update(args="sh"), r"process\.args: expected a list of strings")


def test_uid_wrong_type() -> None:
    _bad(
        lambda s: s["process"]["user"].update(uid="0"),
        r"process\.user\.uid: expected an integer, got string",
    )


def test_bool_is_not_an_integer() -> None:
    _bad(
        lambda s: s["process"]["user"].update(gid=True), r"process\.user\.gid: expected an integer"
    )


def test_relative_cwd() -> None:
    _bad(lambda s: s["process"].update(cwd="tmp"), r"process\.cwd: path 'tmp' must be absolute")


def test_env_without_equals() -> None:
    _bad(
        lambda s: s["process"]["env"].append("JUNK"),
        r"process\.env\[2\]: 'JUNK' is not of the form",
    )


def test_unknown_namespace() -> None:
    _bad(
        lambda s: s["linux"]["namespaces"].append({"type": "foo"}),
        r"linux\.namespaces\[6\]\.type: namespace 'foo' does not exist",
    )


def test_duplicate_namespace() -> None:
    _bad(
        lambda s: s["linux"]["namespaces"].append({"type": "pid"}),
        r"linux\.namespaces\[6\]: duplicate namespace 'pid'",
    )


def test_mount_without_destination() -> None:
    _bad(lambda s: s["mounts"].append({"type": "tmpfs"}), r"mounts\[7\]\.destination: required")


def test_mount_relative_destination() -> None:
    _bad(
        lambda s: s["mounts"].append({"destination": "tmp", "type": "tmpfs"}),
        r"mounts\[7\]\.destination: path 'tmp' must be absolute",
    )


def test_rlimit_soft_above_hard() -> None:
    _bad(
        lambda s: s["process"]["rlimits"].append({"type": "RLIMIT_NPROC", "soft": 5, "hard": 4}),
        r"process\.rlimits\[1\]: soft limit 5 is above the hard limit 4",
    )


def test_unknown_rlimit() -> None:
    _bad(
        lambda s: s["process"]["rlimits"].append({"type": "RLIMIT_FOO", "soft": 1, "hard": 1}),
        r"process\.rlimits\[1\]\.type: unknown rlimit type",
    )


def test_unknown_hook_kind() -> None:
    _bad(lambda s: s.update(hooks={"prestop": []}), r"hooks\.prestop: unknown hook kind")


def test_hook_timeout_must_be_positive() -> None:
    _bad(
        lambda s: s.update(hooks={"prestart": [{"path": "/bin/true", "timeout": 0}]}),
        r"hooks\.prestart\[0\]\.timeout: must be greater than zero",
    )


def test_mappings_without_user_namespace() -> None:
    _bad(
        lambda s: s["linux"].update(uidMappings=[{"containerID": 0, "hostID": 1, "size": 1}]),
        r"linux\.uidMappings: user namespace mappings given without a user namespace",
    )


def test_bad_device_type() -> None:
    _bad(
        lambda s: s["linux"].update(devices=[{"type": "x", "path": "/dev/x"}]),
        r"linux\.devices\[0\]\.type: device type 'x'",
    )


def test_bad_propagation() -> None:
    _bad(
        lambda s: s["linux"].update(rootfsPropagation="weird"),
        r"linux\.rootfsPropagation: unknown propagation 'weird'",
    )


def test_nulls_are_accepted_as_absent() -> None:
    spec = copy.deepcopy(default_spec())
    spec["hooks"] = None
    spec["process"]["env"] = None
    validate(spec)
