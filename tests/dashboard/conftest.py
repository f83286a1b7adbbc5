"""A real wharfied with its dashboard, and a real headless Chromium driven by Selenium.

Debian's chromium and chromium-driver (scripts/setup.sh) at /usr/bin; Selenium Manager
is kept offline (SE_OFFLINE, and the driver's path is given), so nothing is downloaded.
Screenshots go to <pytest basetemp>/screenshots (printed at the end of the session).
"""

from __future__ import annotations

import os
import shutil
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from support.daemon import Daemon, busybox_tar, wharfie_cli

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
DESKTOP = (1280, 900)
PHONE = (390, 844)


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


class Dash:
    def __init__(self, url: str) -> None:
        self.url = url
        self.base, _, query = url.partition("/?")
        self.token = query.removeprefix("token=")


@pytest.fixture(scope="session")
def dash(daemon: Daemon) -> Dash:
    p = wharfie_cli(daemon, "dashboard", "-q", check=True)
    return Dash(p.stdout.decode().strip())


@pytest.fixture(scope="session")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.getbasetemp() / "screenshots"
    path.mkdir(exist_ok=True)
    yield path
    print(f"\ndashboard screenshots: {path}", file=sys.stderr)


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


def wait_for(fn: Callable[[], Any], timeout: float = 15, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = fn()
            if last:
                return last
        except Exception as exc:  # the element is not there yet; keep polling
            last = exc
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


def http(
    url: str,
    *,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    data: bytes | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """A request that neither follows redirects nor raises on error statuses."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kw: Any) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    req = urllib.request.Request(url, method=method, headers=headers or {}, data=data)
    try:
        with opener.open(req, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()
