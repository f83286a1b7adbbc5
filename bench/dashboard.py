"""Dashboard benchmarks (issue 20): first load, daemon CPU with stats streaming, memory.

Starts its own wharfied (tests/support/daemon.py: temporary roots, socket and bridge),
creates N running busybox containers, opens the dashboard in Debian's headless chromium
(Selenium, driver path given, offline) and measures:

* first load: navigation start to the container list rendered with its N rows and
  interactive (`performance.mark('list-ready')`, set when the list first draws), median
  of --loads fresh page loads (cookie set, cache cold per load: a new tab each time);
* daemon CPU added: wharfied's utime+stime over --seconds with no page open, then with
  the containers page open (one aggregated stats stream for all N), as % of one core;
* memory added: wharfied's RSS before any page, then with 3 dashboards open for
  --seconds (all streaming).

Run as root: ``.venv/bin/python bench/dashboard.py [--containers 50] [--loads 7]
[--seconds 30] [--json FILE]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchlib import median

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from support.daemon import Daemon, busybox_tar, docker_cli, wharfie_cli  # noqa: E402

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,900",
)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def browser(profile: str) -> Any:
    os.environ["SE_OFFLINE"] = "true"
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        opts.add_argument(flag)
    return webdriver.Chrome(options=opts, service=Service(executable_path="/usr/bin/chromedriver"))


def wait_ready(drv: Any, rows: int, timeout: float = 30) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = drv.execute_script(
            "const m = performance.getEntriesByName('list-ready')[0];"
            "return m ? [m.startTime, document.querySelectorAll('tr[data-id]').length] : null"
        )
        if got and got[1] >= rows:
            return float(got[0])
        time.sleep(0.02)
    raise RuntimeError("the container list did not render")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--containers", type=int, default=50)
    ap.add_argument("--loads", type=int, default=7)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--json", default="")
    args = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix=f"dash-bench-{os.getpid()}-"))
    d = Daemon(base, 9)
    d.start()
    out: dict[str, Any] = {"containers": args.containers}
    try:
        import docker

        docker.APIClient(base_url=d.host).import_image_from_data(
            busybox_tar(base), repository="busybox", tag="latest", changes=['CMD ["sh"]']
        )
        for i in range(args.containers):
            p = docker_cli(d, "run", "-d", "--name", f"bench-{i}", "busybox", "sleep", "3600")
            assert p.returncode == 0, p.stderr
        url = wharfie_cli(d, "dashboard", "-q", check=True).stdout.decode().strip()
        dash = url.split("/?")[0]
        assert d.proc is not None
        pid = d.proc.pid
        time.sleep(2)

        # daemon CPU and memory with no page open
        rss0 = rss_mib(pid)
        c0 = cpu_seconds(pid)
        time.sleep(args.seconds)
        idle = (cpu_seconds(pid) - c0) / args.seconds * 100

        drv = browser(str(base / "profile"))
        try:
            drv.get(url)  # the token once; the cookie from then on
            wait_ready(drv, args.containers)
            loads = []
            for _ in range(args.loads):
                drv.switch_to.new_window("tab")
                old = drv.window_handles[0]
                drv.get(dash + "/#/containers")
                loads.append(wait_ready(drv, args.containers))
                drv.switch_to.window(old)
                drv.close()
                drv.switch_to.window(drv.window_handles[-1])
            out["first_load_ms"] = {"median": median(loads), "min": min(loads), "max": max(loads)}

            # CPU with one page open (the aggregated stats stream runs)
            time.sleep(3)
            c1 = cpu_seconds(pid)
            time.sleep(args.seconds)
            one_page = (cpu_seconds(pid) - c1) / args.seconds * 100
            out["daemon_cpu_percent"] = {
                "idle": round(idle, 2),
                "one_page": round(one_page, 2),
                "added": round(one_page - idle, 2),
            }

            # memory with 3 dashboards open
            for _ in range(2):
                drv.switch_to.new_window("tab")
                drv.get(dash + "/#/containers")
                wait_ready(drv, args.containers)
            time.sleep(args.seconds)
            rss3 = rss_mib(pid)
            out["daemon_rss_mib"] = {
                "before": round(rss0, 1),
                "three_pages": round(rss3, 1),
                "added": round(rss3 - rss0, 1),
            }
        finally:
            drv.quit()
    finally:
        leaked = d.teardown()
        if not leaked:
            shutil.rmtree(base, ignore_errors=True)
    print(json.dumps(out, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
