"""How a runtime's refusal to start an exec process reaches the client: dockerd's wording
with runc, whichever runtime (wharfie-runtime, runc, crun) said it."""

from __future__ import annotations

from wharfie.api.routes_containers import exec_failure

PREFIX = "OCI runtime exec failed: exec failed: unable to start container process"


def test_wharfie_runtime_message_gets_dockerds_prefix() -> None:
    msg = 'exec: "x": executable file not found in $PATH'
    assert exec_failure(msg) == f"{PREFIX}: {msg}: unknown"


def test_runc_message_is_not_prefixed_twice() -> None:
    msg = 'exec failed: unable to start container process: exec: "x": executable file not found'
    assert exec_failure(msg) == f"OCI runtime exec failed: {msg}: unknown"


def test_crun_message() -> None:
    msg = "executable file `x` not found in $PATH: No such file or directory"
    assert exec_failure(msg) == f"{PREFIX}: {msg}: unknown"


def test_already_worded() -> None:
    assert (
        exec_failure("OCI runtime exec failed: x: unknown") == "OCI runtime exec failed: x: unknown"
    )
