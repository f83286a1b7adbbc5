#!/usr/bin/env bash
# The main job: build a busybox root filesystem offline (from Debian's
# busybox-static), lay out an OCI bundle with `wharfie-runtime spec`, and run a
# real container in it under wharfie-runtime: its own pid, mount, network, uts,
# ipc and cgroup namespaces, a cgroup with a memory limit, seccomp, pivot_root.
#   scripts/demo.sh [COMMAND...]     default: a short tour printed from inside
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "demo: run as root (containers need namespaces and cgroups)" >&2; exit 1; }
RT=$PWD/.venv/bin/wharfie-runtime
WORK=${WHARFIE_DEMO_DIR:-/var/lib/wharfie-demo}
BUNDLE=$WORK/bundle

if [ ! -x "$BUNDLE/rootfs/bin/busybox" ]; then
	echo "demo: building a busybox rootfs in $BUNDLE/rootfs" >&2
	rm -rf "$BUNDLE"
	.venv/bin/python - "$BUNDLE/rootfs" <<'PY'
import sys
from pathlib import Path
sys.path.insert(0, "tests")
from support.bundle import busybox_rootfs
busybox_rootfs(Path(sys.argv[1]))
PY
fi
rm -f "$BUNDLE/config.json"
(cd "$BUNDLE" && "$RT" spec)

if [ $# -eq 0 ]; then
	set -- sh -c 'echo "hello from a wharfie container"; echo "pid $$ on $(hostname)";
		echo "network interfaces: $(ls /sys/class/net | tr "\n" " ")";
		echo "memory limit: $(cat /sys/fs/cgroup/memory/memory.limit_in_bytes) bytes";
		grep -E "^(Seccomp|NoNewPrivs|CapEff)" /proc/self/status'
fi
TTY=false; [ -t 0 ] && [ -t 1 ] && TTY=true
.venv/bin/python - "$BUNDLE/config.json" "$TTY" "$@" <<'PY'
import json, sys
from wharfie.oci.seccomp_default import default_profile
path, tty, args = sys.argv[1], sys.argv[2] == "true", sys.argv[3:]
spec = json.load(open(path))
spec["process"]["terminal"] = tty
spec["process"]["args"] = args
spec["hostname"] = "wharfie-demo"
spec["linux"]["resources"]["memory"] = {"limit": 64 * 1024 * 1024}
spec["linux"]["seccomp"] = default_profile()
json.dump(spec, open(path, "w"), indent=2)
PY
cd "$BUNDLE"
exec "$RT" run "demo-$$"
