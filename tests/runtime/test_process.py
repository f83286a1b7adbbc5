"""The process: user, groups, umask, cwd, env, rlimits and a user namespace.

Observed with runc 1.1.5:
  uid 1000 gid 1000 additionalGids [1001, 5] -> `id`: uid=1000(test) gid=1000(test)
  groups=5,1001(extra) (busybox `id` prints the group list in the kernel's order);
  umask 0027 -> `umask` prints 0027; cwd /home/test -> `pwd`; env passed verbatim;
  RLIMIT_NOFILE soft 512 hard 4096 -> `ulimit -Sn`/`ulimit -Hn` 512/4096;
  RLIMIT_NOFILE hard 20001 (host hard 20000, no CAP_SYS_RESOURCE) -> exit 1, stderr
  "runc run failed: unable to start container process: error during container init:
  error setting rlimits for ready process: error setting rlimit type 7: operation not
  permitted";
  user namespace 0->100000 (65536): /proc/self/uid_map "0 100000 65536", `id -u` 0; the
  bundle must be reachable by host uid 100000 (runc fails with "permission denied"
  mounting the rootfs when it sits under pytest's 0700 tmp dirs).
"""

from __future__ import annotations

import os
import resource
import subprocess
from pathlib import Path

import pytest

from support.oci_runtime import Container, MakeContainer, cap_mask, parse_proc_status_caps

pytestmark = pytest.mark.root


def test_uid_gid_and_additional_gids(ctr: Container) -> None:
    ctr.process["user"] = {"uid": 1000, "gid": 1000, "additionalGids": [1001, 5]}
    ctr.sh("id -u; id -g; grep Groups /proc/self/status; id")
    res = ctr.run().check()
    uid, gid, groups, _ = res.stdout.splitlines()
    assert (uid, gid) == ("1000", "1000")
    assert sorted(groups.split()[1:]) == ["1001", "5"], res.stdout


def test_user_without_additional_gids_has_no_supplementary_groups(ctr: Container) -> None:
    ctr.process["user"] = {"uid": 1000, "gid": 1000}
    ctr.sh("grep Groups /proc/self/status; id -u")
    res = ctr.run().check()
    lines = res.stdout.splitlines()
    assert lines[0].split() == ["Groups:"], res.stdout
    assert lines[1] == "1000"


def test_umask(ctr: Container) -> None:
    ctr.process["user"]["umask"] = 0o027
    ctr.add_tmpfs("/tmp")
    ctr.sh("umask; touch /tmp/f; stat -c %a /tmp/f")
    res = ctr.run().check()
    assert res.stdout.split() == ["0027", "640"]


def test_cwd(ctr: Container) -> None:
    ctr.process["cwd"] = "/home/test"
    ctr.sh("pwd")
    res = ctr.run().check()
    assert res.stdout.strip() == "/home/test"


def test_cwd_is_created_when_missing(ctr: Container) -> None:
    ctr.spec["root"]["readonly"] = False
    ctr.process["cwd"] = "/work/dir"
    ctr.sh("pwd")
    res = ctr.run().check()
    assert res.stdout.strip() == "/work/dir"


def test_env(ctr: Container) -> None:
    ctr.process["env"] = ["PATH=/bin", "FOO=bar baz", "EMPTY=", "HOME=/root"]
    ctr.set_args("env")
    res = ctr.run().check()
    env = dict(line.split("=", 1) for line in res.stdout.splitlines())
    assert env["FOO"] == "bar baz"
    assert env["EMPTY"] == ""
    assert env["PATH"] == "/bin"
    assert "TERM" not in env  # only what the spec says (plus HOME, which runc may add)
    assert set(env) <= {"PATH", "FOO", "EMPTY", "HOME"}


def test_rlimit_nofile(ctr: Container) -> None:
    ctr.process["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 512, "hard": 4096}]
    ctr.sh("ulimit -Sn; ulimit -Hn")
    res = ctr.run().check()
    assert res.stdout.split() == ["512", "4096"]


def test_rlimit_default_spec(ctr: Container) -> None:
    ctr.sh("ulimit -Sn; ulimit -Hn")
    res = ctr.run().check()
    assert res.stdout.split() == ["1024", "1024"]


@pytest.mark.parametrize("command", ["run", "create"])
def test_rlimit_above_host_hard_limit_fails(ctr: Container, command: str) -> None:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard == resource.RLIM_INFINITY:
        pytest.skip("host RLIMIT_NOFILE hard limit is unlimited")
    caps = parse_proc_status_caps(Path("/proc/self/status").read_text())
    if caps["CapEff"] & cap_mask(["CAP_SYS_RESOURCE"]):
        pytest.skip("the test runner holds CAP_SYS_RESOURCE: a higher hard limit is allowed")
    ctr.process["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 1024, "hard": hard + 1}]
    ctr.shared_dir()
    ctr.sh("echo started > /shared/started")
    res = ctr.run() if command == "run" else ctr.create()
    res.fails()
    assert (
        "rlimit" in res.stderr.lower()
        or "nofile" in res.stderr.lower()
        or ("operation not permitted" in res.stderr.lower())
    ), res.describe()
    assert not (ctr.bundle / "shared" / "started").exists()
    assert ctr.status() is None or ctr.status() == "stopped"


def test_user_namespace_mapping(make_container: MakeContainer) -> None:
    if not os.path.exists("/proc/self/ns/user"):
        pytest.skip("kernel without user namespaces")
    ctr = make_container(world_traversable=True)
    ctr.spec["linux"]["namespaces"].append({"type": "user"})
    ctr.spec["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    ctr.spec["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    ctr.sh("cat /proc/self/uid_map /proc/self/gid_map; id -u; id -g; readlink /proc/self/ns/user")
    res = ctr.run().check()
    lines = res.stdout.splitlines()
    assert lines[0].split() == ["0", "100000", "65536"], res.stdout
    assert lines[1].split() == ["0", "100000", "65536"], res.stdout
    assert lines[2:4] == ["0", "0"]
    assert lines[4] != os.readlink("/proc/self/ns/user")


def test_user_namespace_process_runs_as_mapped_host_uid(make_container: MakeContainer) -> None:
    ctr = make_container("sleep", "1000", world_traversable=True)
    ctr.spec["linux"]["namespaces"].append({"type": "user"})
    ctr.spec["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    ctr.spec["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    ctr.process["user"] = {"uid": 1000, "gid": 1000}
    ctr.run_detached().check()
    status = Path(f"/proc/{ctr.init_pid()}/status").read_text()
    uids = next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1:]
    gids = next(line for line in status.splitlines() if line.startswith("Gid:")).split()[1:]
    assert set(uids) == {"101000"}
    assert set(gids) == {"101000"}


def _run_with_fds(ctr: Container, out: Path, *flags: str) -> subprocess.CompletedProcess[bytes]:
    """Run the container from a shell that opened fd 3 (to `out`) and fd 4 (/dev/null)."""
    ctr.write_spec()
    argv = [str(ctr.rt.binary.path), "--root", str(ctr.rt.root), "run", *flags]
    argv += ["--bundle", str(ctr.bundle), ctr.id]
    script = 'exec 3>"$0" 4</dev/null; exec "$@"'
    return subprocess.run(["sh", "-c", script, str(out), *argv], capture_output=True, timeout=30)


def test_preserve_fds_passes_extra_descriptors(ctr: Container, tmp_path: Path) -> None:
    """`run --preserve-fds 1` hands the caller's fd 3 to the process, and no other."""
    out = tmp_path / "fd3.txt"
    ctr.sh("echo through-fd-3 >&3; [ -e /proc/self/fd/4 ] && echo fd-4-leaked >&3; true")
    res = _run_with_fds(ctr, out, "--preserve-fds", "1")
    assert res.returncode == 0, res.stderr.decode()
    assert out.read_text() == "through-fd-3\n"


def test_callers_fds_are_not_inherited(ctr: Container, tmp_path: Path) -> None:
    """Without --preserve-fds only stdio reaches the container (a leaked fd is an escape)."""
    out = tmp_path / "fd3.txt"
    ctr.sh("ls /proc/self/fd; echo leaked >&3")
    res = _run_with_fds(ctr, out)
    assert out.read_text() == ""
    assert res.stdout.decode().split() == ["0", "1", "2", "3"]  # 3: the fd ls itself opened
