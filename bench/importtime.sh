#!/usr/bin/env bash
# bench/importtime.sh [ARGS...] -- what wharfie-runtime pays in imports before it does anything.
#
# Runs the runtime's console entry (.venv/bin/wharfie-runtime, i.e. wharfie.runtime.cli:main)
# under `python -X importtime` with ARGS (default: --help), RUNS times (default 5, after one
# untimed run that writes the .pyc files), and prints:
#   - the top $TOP (default 15) modules by cumulative import time (median over the runs),
#   - the total import time, and the part of it beyond a bare interpreter (`python -c pass`),
#   - the whole-process wall time of the entry vs `python -c pass` (median of $WALL_RUNS, 10).
# Imports run in every `wharfie-runtime run`, so everything listed here is start-up latency
# paid per container (see bench/README.md).
#
# Env: PYTHON (default .venv/bin/python), TOP, RUNS, WALL_RUNS.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON:-$REPO/.venv/bin/python}
ENTRY=$REPO/.venv/bin/wharfie-runtime
export TOP=${TOP:-15} RUNS=${RUNS:-5} WALL_RUNS=${WALL_RUNS:-10}
[ $# -gt 0 ] || set -- --help

if [ -f "$ENTRY" ]; then
	entry=("$ENTRY")
else
	echo "note: $ENTRY missing (pip install -e .?); importing wharfie.runtime.cli directly" >&2
	entry=(-c 'import sys; from wharfie.runtime.cli import main; sys.argv[0] = "wharfie-runtime"; sys.exit(main())')
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$PY" "${entry[@]}" "$@" >/dev/null 2>&1 || true # writes .pyc files; not measured
for i in $(seq 1 "$RUNS"); do
	"$PY" -X importtime "${entry[@]}" "$@" >/dev/null 2>"$tmp/entry.$i" || true
	"$PY" -X importtime -c pass 2>"$tmp/base.$i"
done

"$PY" - "$tmp" "$PY" "$*" "${entry[@]}" "$@" <<'EOF'
import os, statistics as st, subprocess, sys, time
tmp, py, shown_args = sys.argv[1], sys.argv[2], sys.argv[3]
cmd = [py, *sys.argv[4:]]
top, runs, wall_runs = (int(os.environ[k]) for k in ("TOP", "RUNS", "WALL_RUNS"))

def parse(path):
    """{module: (self_us, cumulative_us, depth)} from one -X importtime log."""
    out = {}
    for line in open(path, errors="replace"):
        if not line.startswith("import time:"):
            continue
        fields = line[len("import time:"):].split("|")
        if len(fields) != 3 or not fields[0].strip().isdigit():
            continue
        name = fields[2].rstrip("\n")
        depth = (len(name) - len(name.lstrip(" "))) // 2
        out[name.strip()] = (int(fields[0]), int(fields[1]), depth)
    return out

entry = [parse(f"{tmp}/entry.{i}") for i in range(1, runs + 1)]
base = [parse(f"{tmp}/base.{i}") for i in range(1, runs + 1)]
if not any(entry):
    sys.exit("no import times recorded: does the entry run at all?")
mods = {m for run in entry for m in run}
med = {m: (st.median(r[m][0] for r in entry if m in r), st.median(r[m][1] for r in entry if m in r),
           next(r[m][2] for r in entry if m in r)) for m in mods}
total = st.median(sum(v[0] for v in r.values()) for r in entry)
base_total = st.median(sum(v[0] for v in r.values()) for r in base)
base_mods = {m for run in base for m in run}
extra = st.median(sum(v[0] for m, v in r.items() if m not in base_mods) for r in entry)

print(f"## Import time of `wharfie-runtime {shown_args}` (python -X importtime, median of {runs})\n")
print("| # | module | cumulative ms | self ms | depth |")
print("|---|---|---|---|---|")
ranked = sorted(med.items(), key=lambda kv: kv[1][1], reverse=True)[:top]
for i, (m, (s, c, d)) in enumerate(ranked, 1):
    mark = "" if m in base_mods else " *"
    print(f"| {i} | `{m}`{mark} | {c / 1000:.2f} | {s / 1000:.2f} | {d} |")
print(f"\n(* = not imported by a bare `python -c pass`)\n")
print(f"- total import time: {total / 1000:.1f} ms over {len(mods)} modules")
print(f"- bare interpreter (`python -c pass`): {base_total / 1000:.1f} ms over {len(base_mods)} modules")
print(f"- beyond the bare interpreter: {extra / 1000:.1f} ms "
      f"over {len(mods - base_mods)} modules")

def wall(argv):
    ts = []
    for _ in range(wall_runs):
        t0 = time.perf_counter_ns()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        ts.append((time.perf_counter_ns() - t0) / 1e6)
    return st.median(ts), min(ts), max(ts)

w, b = wall(cmd), wall([py, "-c", "pass"])
print(f"- wall time, whole process (median of {wall_runs}, min–max): entry "
      f"{w[0]:.1f} ms ({w[1]:.1f}–{w[2]:.1f}), `python -c pass` {b[0]:.1f} ms "
      f"({b[1]:.1f}–{b[2]:.1f})")
EOF
