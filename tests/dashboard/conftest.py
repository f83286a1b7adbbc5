"""A real wharfied with its dashboard, and a real headless Chromium driven by Selenium.

Debian's chromium and chromium-driver (scripts/setup.sh) at /usr/bin; Selenium Manager
is kept offline (SE_OFFLINE, and the driver's path is given), so nothing is downloaded.
Screenshots go to <pytest basetemp>/screenshots (printed at the end of the session).
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dashkit import CHROMEDRIVER, CHROMIUM, DESKTOP, Dash

from support.daemon import Daemon, busybox_tar, wharfie_cli


def _worker_index() -> int:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return int(worker[2:]) if worker[2:].isdigit() else 0


@pytest.fixture(scope="session")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    if os.geteuid() != 0:
        pytest.skip("wharfied needs root (namespaces, cgroups, mounts)")
    base = tmp_path_factory.mktemp("wharfied")
    d = Daemon(base, _worker_index() + 5)
    d.start()
    try:
        import docker

        client = docker.APIClient(base_url=d.host)
        client.import_image_from_data(
            busybox_tar(base), repository="busybox", tag="latest", changes=['CMD ["sh"]']
        )
        yield d
    finally:
        leaked = d.teardown()
        assert not leaked, f"mounts left behind: {leaked}"


@pytest.fixture(scope="session")
def dash(daemon: Daemon) -> Dash:
    p = wharfie_cli(daemon, "dashboard", "-q", check=True)
    return Dash(p.stdout.decode().strip())


@pytest.fixture(scope="session")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.getbasetemp() / "screenshots"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        pytest.skip("Debian's chromium and chromium-driver are not installed (scripts/setup.sh)")
    pytest.importorskip("selenium", reason="selenium is a dev dependency (pip install -e .[dev])")
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must not download anything
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tmp_path_factory.mktemp("chromium-profile")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        f"--window-size={DESKTOP[0]},{DESKTOP[1]}",
    ):
        opts.add_argument(flag)
    log = tmp_path_factory.getbasetemp() / "chromedriver.log"
    service = Service(executable_path=CHROMEDRIVER, log_output=str(log))
    driver = webdriver.Chrome(options=opts, service=service)
    driver.set_script_timeout(20)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """Say where the screenshots are (under each worker's temp dir with xdist)."""
    factory = getattr(config, "_tmp_path_factory", None)
    if factory is None:
        return
    base = factory.getbasetemp()
    for path in sorted([*base.glob("screenshots"), *base.glob("*/screenshots")]):
        terminalreporter.write_line(f"dashboard screenshots: {path}")
