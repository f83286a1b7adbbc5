#!/usr/bin/env bash
# The main job: a real container from a real image, offline. `wharfie` starts wharfied on
# its default socket if none is running, `wharfie image bootstrap busybox` makes the
# busybox:latest image from Debian's busybox-static (no registry needed), and
# `wharfie run` runs it: own pid/mount/network/uts/ipc namespaces, the default bridge
# wharfie0, a memory limit, Docker's seccomp profile and capabilities.
#   scripts/demo.sh [COMMAND...]     default: a short tour printed from inside
#   scripts/demo.sh sh               an interactive shell (on a terminal)
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "demo: run as root (containers need namespaces and cgroups)" >&2; exit 1; }
W=$PWD/.venv/bin/wharfie

if [ -z "$("$W" images -q busybox:latest)" ]; then
	echo "demo: making busybox:latest offline from the host's busybox-static" >&2
	"$W" image bootstrap busybox
fi
if [ $# -eq 0 ]; then
	set -- sh -c 'echo "hello from a wharfie container"; echo "pid $$ on $(hostname)";
		echo "network: $(ip -o -4 addr show eth0 | awk "{print \$4}")";
		echo "memory limit: $(cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes) bytes";
		grep -E "^(Seccomp|NoNewPrivs|CapEff)" /proc/self/status'
fi
FLAGS=(--rm --memory 64m)
[ -t 0 ] && [ -t 1 ] && FLAGS+=(-it)
exec "$W" run "${FLAGS[@]}" busybox "$@"
