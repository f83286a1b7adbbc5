#!/usr/bin/env bash
# One-time (idempotent) set-up of a fresh Debian 12 machine for Wharfie:
# system packages from Debian, then a virtual environment in .venv with Wharfie
# installed in editable mode plus the development tools.
#
#   scripts/setup.sh          everything
#   SKIP_APT=1 scripts/setup.sh   only the Python side
set -euo pipefail
cd "$(dirname "$0")/.."

# busybox-static: offline base images and test rootfs; iproute2: networking;
# libseccomp2: seccomp filters (loaded through ctypes); runc (and crun): the reference
# runtime the runtime test-suite is validated against; tini: --init;
# hyperfine: benchmarks; iptables: forwarding/NAT rules of the default bridge;
# procps: `top` of a container (ps); nftables: network isolation and published ports;
# docker.io, skopeo, docker-registry, docker-compose (1.29), curl: the real peers the
# integration tests talk to
# (a private dockerd for save/load and push interop, skopeo, the reference registry);
# chromium, chromium-driver: the dashboard's browser tests (headless, driven by Selenium);
# qemu-system-x86 (QEMU, virtiofsd), linux-image-amd64 (the guest kernel), gcc and libc6-dev
# (the static guest agent): VM-isolated containers, the wharfie-vm runtime (docs/vm.md).
APT_PKGS="busybox-static etcd-server iproute2 iptables nftables libseccomp2 runc crun tini hyperfine python3-venv procps docker.io skopeo docker-registry docker-compose curl chromium chromium-driver qemu-system-x86 linux-image-amd64 gcc libc6-dev"

need_apt() {
	local p
	for p in $APT_PKGS; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || return 0
	done
	return 1
}

if [ -z "${SKIP_APT:-}" ] && need_apt; then
	[ "$(id -u)" = 0 ] || { echo "setup: run as root to install system packages" >&2; exit 1; }
	echo "setup: installing Debian packages: $APT_PKGS" >&2
	apt-get update -q
	# policy-rc.d 101: the packages' maintainer scripts must not start services
	# (docker.io would start a system dockerd); tests start their own peers.
	printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d
	trap 'rm -f /usr/sbin/policy-rc.d' EXIT
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $APT_PKGS
fi

PY=${PYTHON:-}
if [ -z "$PY" ]; then
	for cand in python3.11 python3; do
		if command -v "$cand" >/dev/null && "$cand" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
			PY=$(command -v "$cand"); break
		fi
	done
fi
[ -n "$PY" ] || { echo "setup: Python >= 3.11 not found" >&2; exit 1; }
# Resolve pyenv shims to the real interpreter: the shim costs ~100 ms per start.
PY=$("$PY" -c 'import sys; print(sys.executable)')
REAL=$("$PY" -c 'import sys, os; print(os.path.realpath(sys.executable))')

if [ ! -x .venv/bin/python ]; then
	echo "setup: creating .venv with $REAL" >&2
	"$REAL" -m venv .venv
fi
if ! .venv/bin/python -c 'import wharfie, pytest, xdist, ruff, mypy, docker, wsproto, selenium' 2>/dev/null \
	|| [ pyproject.toml -nt .venv/.installed ]; then
	.venv/bin/pip install -q --upgrade pip
	.venv/bin/pip install -q -e '.[dev]'
	# setuptools is only needed to build (pip does that in an isolated environment); left
	# in the venv, its distutils-precedence.pth costs every Wharfie process ~0.7 ms at start.
	.venv/bin/pip uninstall -q -y setuptools 2>/dev/null || true
	touch .venv/.installed
fi
# Byte-compile Wharfie: start-up time is measured, and PYTHONDONTWRITEBYTECODE
# (set in some environments) would otherwise recompile every module on every start.
.venv/bin/python -m compileall -q src >/dev/null
# wharfie-runtime's launcher without `site` (src/wharfie/runtime/launcher.py): pip rewrites
# the console script on every install, so this runs every time.
.venv/bin/python -m wharfie.runtime.launcher .venv/bin/wharfie-runtime
# wharfie-vm: the guest's uncompressed kernel, the static agent and the initramfs, once
# (into .venv/share/wharfie/vm; rebuilt when the agent's source or the kernel changes).
if ls /boot/vmlinuz-* >/dev/null 2>&1; then
	VMDIR=.venv/share/wharfie/vm
	INITRD="$VMDIR/kernels/$(readlink "$VMDIR/current" 2>/dev/null || true)/initramfs"
	if [ ! -e "$INITRD" ] || [ src/wharfie/vm/agent/agent.c -nt "$INITRD" ] \
		|| [ src/wharfie/vm/assets.py -nt "$INITRD" ]; then
		.venv/bin/python -m wharfie.vm.assets build
	fi
else
	echo "setup: no /boot/vmlinuz-*: wharfie-vm has no guest kernel (install linux-image-amd64)" >&2
fi
echo "setup: done (.venv/bin/wharfie-runtime, .venv/bin/wharfie, .venv/bin/wharfied)" >&2
