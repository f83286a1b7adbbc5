"""The dashboard in a real headless Chromium against a real wharfied.

Every page is also saved as a screenshot at desktop and phone width (see conftest.py).
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
from dashkit import DESKTOP, PHONE, Dash, wait_for

from support.daemon import Daemon, docker_cli, wharfie_cli
from support.peers import ReferenceRegistry

pytestmark = [pytest.mark.root]

TICKER = "i=0; while true; do echo tick-$i; i=$((i+1)); sleep 0.5; done"


def ok(p: Any) -> str:
    assert p.returncode == 0, p.stderr.decode(errors="replace")
    return str(p.stdout.decode().strip())


def open_page(browser: Any, dash: Dash, page: str) -> None:
    """Log in with the token once (the cookie then does), then go to a page."""
    if not browser.current_url.startswith(dash.base):
        browser.get(dash.url)
        wait_for(
            lambda: browser.execute_script("return document.body.dataset.online"),
            what="the page to start",
        )
    browser.get(f"{dash.base}/#/{page}")
    wait_for(lambda: browser.execute_script("return document.readyState") == "complete")


def css(browser: Any, selector: str) -> Any:
    from selenium.webdriver.common.by import By

    return browser.find_element(By.CSS_SELECTOR, selector)


def css_all(browser: Any, selector: str) -> list[Any]:
    from selenium.webdriver.common.by import By

    return list(browser.find_elements(By.CSS_SELECTOR, selector))


def click(browser: Any, selector: str) -> None:
    """Click once the element is there (a live re-render may replace it meanwhile)."""

    def attempt() -> bool:
        css(browser, selector).click()
        return True

    wait_for(attempt, what=f"{selector} to be clickable")


def text_of(browser: Any, selector: str) -> str:
    return str(
        browser.execute_script(
            "const e = document.querySelector(arguments[0]); return e ? e.innerText : ''", selector
        )
    )


def shoot(browser: Any, shots: Path, name: str) -> None:
    for label, (w, h) in (("desktop", DESKTOP), ("phone", PHONE)):
        browser.set_window_size(w, h)
        time.sleep(0.4)
        browser.save_screenshot(str(shots / f"{name}-{label}.png"))
    browser.set_window_size(*DESKTOP)


def test_list_shows_a_running_container_and_stop_changes_it_live(
    daemon: Daemon, dash: Dash, browser: Any, shots: Path
) -> None:
    name = "dash-run-" + str(time.time_ns())[-6:]
    ok(
        docker_cli(
            daemon,
            "run",
            "-d",
            "--stop-timeout",
            "1",
            "--name",
            name,
            "-p",
            "127.0.0.1::80",
            "busybox",
            "sh",
            "-c",
            TICKER,
        )
    )
    open_page(browser, dash, "containers")
    row = f'tr[data-name="{name}"]'
    wait_for(
        lambda: css(browser, row).get_attribute("data-state") == "running",
        what="the running container in the list",
    )
    assert re.search(r"\d+→80/tcp", text_of(browser, row)), text_of(browser, row)
    # the sparklines fill from the one stats stream
    wait_for(
        lambda: int(css(browser, f"{row} svg").get_attribute("data-points") or 0) >= 2,
        timeout=40,
        what="CPU sparkline points",
    )
    shoot(browser, shots, "containers")
    browser.execute_script("window.__noReload = 1")
    click(browser, f'{row} button[aria-label="Stop {name}"]')
    try:
        wait_for(lambda: css(browser, row).get_attribute("data-state") == "exited", timeout=40)
    except AssertionError:
        state = ok(docker_cli(daemon, "inspect", "-f", "{{.State.Status}}", name))
        raise AssertionError(
            f"the row did not turn to exited; the daemon says {state}; "
            f"the list says {text_of(browser, '#container-list')!r}; "
            f"page log: {browser.get_log('browser')}"
        ) from None
    assert browser.execute_script("return window.__noReload") == 1, "the page was reloaded"
    # start, pause and resume from the page too
    click(browser, f'{row} button[aria-label="Start {name}"]')
    wait_for(lambda: css(browser, row).get_attribute("data-state") == "running", timeout=40)
    click(browser, f'{row} button[aria-label="Pause {name}"]')
    wait_for(lambda: css(browser, row).get_attribute("data-state") == "paused", timeout=40)
    click(browser, f'{row} button[aria-label="Resume {name}"]')
    wait_for(
        lambda: css(browser, row).get_attribute("data-state") == "running",
        timeout=40,
        what="the state to change back to running",
    )


def test_detail_logs_live_chart_grows_and_terminal(
    daemon: Daemon, dash: Dash, browser: Any, shots: Path
) -> None:
    name = "dash-detail-" + str(time.time_ns())[-6:]
    ok(
        docker_cli(
            daemon,
            "run",
            "-d",
            "--stop-timeout",
            "1",
            "--name",
            name,
            "busybox",
            "sh",
            "-c",
            TICKER,
        )
    )
    open_page(browser, dash, f"containers/{name}")
    wait_for(lambda: css(browser, "#detail-state").get_attribute("data-state") == "running")
    shoot(browser, shots, "container-overview")

    # logs: a line written after the page opened appears by itself
    click(browser, "#tab-logs")
    first = wait_for(
        lambda: re.findall(r"tick-(\d+)", text_of(browser, "#logview")), what="log lines"
    )
    newest = max(int(n) for n in first)
    wait_for(
        lambda: f"tick-{newest + 3}" in text_of(browser, "#logview"),
        timeout=40,
        what=f"tick-{newest + 3} to arrive live",
    )
    search = css(browser, 'input[aria-label="Search the log"]')
    search.send_keys(f"tick-{newest}")
    wait_for(
        lambda: all(
            f"tick-{newest}" in line for line in text_of(browser, "#logview").splitlines() if line
        )
    )
    shoot(browser, shots, "container-logs")

    # charts: data points grow while we watch
    click(browser, "#tab-stats")
    cpu = '[data-chart="CPU"]'
    before = int(wait_for(lambda: css(browser, cpu).get_attribute("data-points")))
    wait_for(
        lambda: int(css(browser, cpu).get_attribute("data-points")) >= before + 2,
        timeout=40,
        what="the CPU chart to grow",
    )
    shoot(browser, shots, "container-stats")

    click(browser, "#tab-processes")
    wait_for(
        lambda: "sleep" in text_of(browser, "#tabpanel") or "sh" in text_of(browser, "#tabpanel")
    )
    click(browser, "#tab-changes")
    wait_for(
        lambda: (
            "no file changed" in text_of(browser, "#tabpanel").lower()
            or "path" in text_of(browser, "#tabpanel").lower()
        ),
        what="the changes",
    )

    # terminal: exec with a TTY through the WebSocket
    click(browser, "#tab-terminal")
    wait_for(
        lambda: css(browser, "#terminal").get_attribute("data-connected") == "true",
        what="the terminal to connect",
    )
    textarea = css(browser, "#terminal .xterm-helper-textarea")
    textarea.send_keys("echo hi\n")
    wait_for(
        lambda: any(
            line.strip() == "hi" for line in text_of(browser, "#terminal .xterm-rows").splitlines()
        ),
        what="'hi' on a line of its own in the terminal",
    )
    # resize: the page's size reaches the exec's terminal
    browser.set_window_size(900, 700)
    size = wait_for(lambda: css(browser, "#terminal").get_attribute("data-size"))
    time.sleep(0.5)
    size = css(browser, "#terminal").get_attribute("data-size")
    textarea.send_keys("stty size\n")
    wait_for(
        lambda: size in text_of(browser, "#terminal .xterm-rows"), what=f"stty size to print {size}"
    )
    browser.set_window_size(*DESKTOP)
    shoot(browser, shots, "container-terminal")


def test_pull_with_progress_from_a_local_registry_and_a_failed_pull(
    daemon: Daemon, dash: Dash, browser: Any, shots: Path, tmp_path: Path
) -> None:
    reg = ReferenceRegistry(tmp_path / "registry")
    reg.start()
    try:
        ref = f"{reg.addr}/dash-pull:1"
        ok(docker_cli(daemon, "tag", "busybox", ref))
        ok(docker_cli(daemon, "push", ref))
        ok(docker_cli(daemon, "rmi", ref))
        open_page(browser, dash, "images")
        ref_input = wait_for(lambda: css(browser, "#pull-ref"))
        # a failed pull: the message is shown at the form...
        ref_input.send_keys(f"{reg.addr}/does-not-exist:1")
        click(browser, "#pull-btn")
        wait_for(lambda: "failed" in text_of(browser, "#pull-msg"), what="the pull error")
        assert "does-not-exist" in text_of(browser, "#pull-msg")
        shoot(browser, shots, "images-pull-failed")
        # ...and goes once a pull works
        ref_input.clear()
        ref_input.send_keys(ref)
        click(browser, "#pull-btn")
        wait_for(
            lambda: css(browser, "#pull-bar").get_attribute("data-done") == "true",
            timeout=30,
            what="the progress bar to complete",
        )
        assert float(css(browser, "#pull-bar").get_attribute("value")) == 1.0
        assert "failed" not in text_of(browser, "#pull-msg")
        wait_for(lambda: css_all(browser, f'tr[data-image="{ref}"]'), what="the pulled image")
        shoot(browser, shots, "images")
        click(browser, 'button[aria-label="Remove unused images"]')
        wait_for(
            lambda: (
                "reclaimed" in text_of(browser, "main .ok-msg:last-of-type")
                or "reclaimed" in text_of(browser, "main")
            ),
            what="the prune result",
        )
        click(browser, f'tr[data-image="{ref}"] button[title^="Layers"]')
        wait_for(lambda: "created by" in text_of(browser, "main").lower(), what="the layers")
    finally:
        reg.stop()


def test_deleted_container_page_says_so_and_comes_back(
    daemon: Daemon, dash: Dash, browser: Any, shots: Path
) -> None:
    name = "dash-gone-" + str(time.time_ns())[-6:]
    ok(
        docker_cli(
            daemon, "run", "-d", "--stop-timeout", "1", "--name", name, "busybox", "sleep", "300"
        )
    )
    open_page(browser, dash, f"containers/{name}")
    wait_for(lambda: css(browser, "#detail-state").get_attribute("data-state") == "running")
    ok(docker_cli(daemon, "rm", "-f", name))
    wait_for(lambda: "does not exist" in text_of(browser, "main"), what="the 'gone' message")
    shoot(browser, shots, "container-gone")
    ok(
        docker_cli(
            daemon, "run", "-d", "--stop-timeout", "1", "--name", name, "busybox", "sleep", "300"
        )
    )
    wait_for(lambda: css_all(browser, "#detail-state"), what="the page to come back by itself")


def test_other_pages_and_their_empty_states(
    daemon: Daemon, dash: Dash, browser: Any, shots: Path
) -> None:
    vol = "dash-vol-" + str(time.time_ns())[-6:]
    open_page(browser, dash, "volumes")
    name_input = wait_for(lambda: css(browser, 'input[aria-label="Volume name"]'))
    name_input.send_keys(vol)
    click(browser, 'button[aria-label="Create volume"]')
    wait_for(lambda: css_all(browser, f'tr[data-volume="{vol}"]'), what="the new volume")
    user = vol + "-user"
    ok(docker_cli(daemon, "create", "--name", user, "-v", f"{vol}:/data", "busybox", "true"))
    row = f'tr[data-volume="{vol}"]'
    wait_for(lambda: user in text_of(browser, row), what="the volume's user")
    shoot(browser, shots, "volumes")
    # in use: the daemon's refusal is shown in the row's message
    click(browser, f'button[aria-label="Remove {vol}"]')
    wait_for(lambda: "in use" in text_of(browser, ".error"), what="the daemon's error")
    ok(docker_cli(daemon, "rm", user))
    wait_for(lambda: user not in text_of(browser, row), what="the user to go")
    click(browser, f'button[aria-label="Remove {vol}"]')
    wait_for(lambda: not css_all(browser, f'tr[data-volume="{vol}"]'), what="the volume to go")

    open_page(browser, dash, "networks")
    wait_for(lambda: css_all(browser, 'tr[data-network="bridge"]'))
    # a daemon error is shown where the action was taken
    css(browser, 'input[aria-label="Network name"]').send_keys("bridge")
    click(browser, 'button[aria-label="Create network"]')
    wait_for(
        lambda: "not permitted on predefined bridge network" in text_of(browser, ".error"),
        what="the daemon's error",
    )
    shoot(browser, shots, "networks")

    open_page(browser, dash, "compose")
    wait_for(lambda: text_of(browser, "main").strip() not in ("", "Loading…"))
    shoot(browser, shots, "compose")
    open_page(browser, dash, "cluster")
    wait_for(lambda: "not in a swarm" in text_of(browser, "main"))
    assert text_of(browser, "#swarm-error")
    shoot(browser, shots, "cluster")
    open_page(browser, dash, "system")
    wait_for(lambda: "Images" in text_of(browser, "#df"))
    ok(docker_cli(daemon, "volume", "create", vol))  # an event arrives live
    wait_for(lambda: "volume create" in text_of(browser, "#events"), what="a live event")
    ok(docker_cli(daemon, "volume", "rm", vol))
    shoot(browser, shots, "system")


def test_lost_daemon_connection_shows_and_recovers(
    daemon: Daemon, dash: Dash, browser: Any, shots: Path
) -> None:
    name = "dash-lost-" + str(time.time_ns())[-6:]
    ok(docker_cli(daemon, "run", "-d", "--name", name, "busybox", "sh", "-c", TICKER))
    open_page(browser, dash, f"containers/{name}")
    wait_for(lambda: browser.execute_script("return document.body.dataset.events") == "open")
    click(browser, "#tab-logs")
    wait_for(lambda: "tick-" in text_of(browser, "#logview"), what="log lines")
    daemon.stop()
    try:
        wait_for(
            lambda: "Lost the connection" in text_of(browser, "#conn"),
            what="the lost-connection banner",
        )
        shoot(browser, shots, "connection-lost")
    finally:
        daemon.start()  # same data root: the dashboard comes back on the same port and token
    wait_for(
        lambda: browser.execute_script("return document.body.dataset.online") == "true",
        timeout=40,
        what="the page to reconnect by itself",
    )
    wait_for(lambda: browser.execute_script("return document.body.dataset.events") == "open")
    # the container kept running; its log tail picks up again by itself
    newest = max(int(n) for n in re.findall(r"tick-(\d+)", text_of(browser, "#logview")))
    wait_for(
        lambda: f"tick-{newest + 2}" in text_of(browser, "#logview"),
        timeout=40,
        what="the log to follow again",
    )
    ok(docker_cli(daemon, "rm", "-f", name))


def test_compose_project_grouped_with_stop_and_down(
    daemon: Daemon, dash: Dash, browser: Any, shots: Path, tmp_path: Path
) -> None:
    proj = "dashproj" + str(time.time_ns())[-6:]
    folder = tmp_path / proj
    folder.mkdir()
    (folder / "compose.yaml").write_text(
        "services:\n"
        "  web:\n    image: busybox\n    command: sleep 300\n    stop_grace_period: 1s\n"
        "  worker:\n    image: busybox\n    command: sleep 300\n    stop_grace_period: 1s\n"
    )
    ok(
        wharfie_cli(
            daemon,
            "compose",
            "-f",
            str(folder / "compose.yaml"),
            "-p",
            proj,
            "up",
            "-d",
            timeout=120,
        )
    )
    section = f'section[data-project="{proj}"]'
    open_page(browser, dash, "compose")
    wait_for(lambda: "2/2 running" in text_of(browser, section), what="the project, running")
    assert "compose.yaml" in text_of(browser, section)
    shoot(browser, shots, "compose")
    click(browser, f'{section} button[aria-label="Stop {proj}"]')
    wait_for(lambda: "0/2 running" in text_of(browser, section), timeout=30, what="stopped")
    # up again from the page: compose runs with the file recorded in the labels
    click(browser, f'{section} button[aria-label="Up {proj}"]')
    wait_for(lambda: "2/2 running" in text_of(browser, section), timeout=60, what="up again")
    # without its file, Up says so where it was clicked
    (folder / "compose.yaml").rename(folder / "moved.yaml")
    click(browser, f'{section} button[aria-label="Up {proj}"]')
    wait_for(lambda: "not found" in text_of(browser, f"{section} .error"), what="the error")
    assert "compose.yaml" in text_of(browser, f"{section} .error")
    (folder / "moved.yaml").rename(folder / "compose.yaml")
    click(browser, f'{section} button[aria-label="Down {proj}"]')
    wait_for(lambda: browser.switch_to.alert, what="the confirmation").accept()
    wait_for(lambda: not css_all(browser, section), timeout=30, what="the project to go")
    left = ok(
        docker_cli(daemon, "ps", "-aq", "--filter", f"label=com.docker.compose.project={proj}")
    )
    assert left == ""
    label = f"label=com.docker.compose.project={proj}"
    wait_for(
        lambda: ok(docker_cli(daemon, "network", "ls", "-q", "--filter", label)) == "",
        what="the project's network to be removed",
    )


def test_keyboard_and_dark_theme(daemon: Daemon, dash: Dash, browser: Any, shots: Path) -> None:
    from selenium.webdriver.common.keys import Keys

    name = "dash-kbd-" + str(time.time_ns())[-6:]
    ok(
        docker_cli(
            daemon, "run", "-d", "--stop-timeout", "1", "--name", name, "busybox", "sleep", "300"
        )
    )
    open_page(browser, dash, f"containers/{name}")
    wait_for(lambda: css(browser, "#detail-state").get_attribute("data-state") == "running")
    # the tabs move with the arrow keys; the focus follows
    css(browser, "#tab-overview").send_keys(Keys.ARROW_RIGHT)
    wait_for(lambda: css(browser, "#tab-logs").get_attribute("aria-selected") == "true")
    assert browser.switch_to.active_element.get_attribute("id") == "tab-logs"
    # leaving the terminal ends its shell: no exec process is left in the container
    click(browser, "#tab-terminal")
    wait_for(lambda: css(browser, "#terminal").get_attribute("data-connected") == "true")
    wait_for(lambda: "/bin/sh" in ok(docker_cli(daemon, "top", name)), what="the shell")
    click(browser, "#tab-overview")
    wait_for(lambda: "/bin/sh" not in ok(docker_cli(daemon, "top", name)), what="the shell to end")
    # the Stop button is reachable with Tab and works with Enter
    open_page(browser, dash, "containers")
    row = f'tr[data-name="{name}"]'
    wait_for(lambda: css(browser, row).get_attribute("data-state") == "running")
    body = css(browser, "body")
    for _ in range(80):
        body = browser.switch_to.active_element
        if body.get_attribute("aria-label") == f"Stop {name}":
            break
        body.send_keys(Keys.TAB)
    else:
        raise AssertionError("Tab never reached the Stop button")
    body.send_keys(Keys.ENTER)
    wait_for(lambda: css(browser, row).get_attribute("data-state") == "exited", timeout=40)
    # dark theme follows the system setting
    browser.execute_cdp_cmd(
        "Emulation.setEmulatedMedia",
        {"features": [{"name": "prefers-color-scheme", "value": "dark"}]},
    )
    try:
        bg = browser.execute_script("return getComputedStyle(document.body).backgroundColor")
        assert bg == "rgb(17, 20, 24)", bg
        shoot(browser, shots, "containers-dark")
    finally:
        browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})
    ok(docker_cli(daemon, "rm", "-f", name))


def test_tty_container_logs_and_terminal_of_a_stopped_container(
    daemon: Daemon, dash: Dash, browser: Any
) -> None:
    name = "dash-tty-" + str(time.time_ns())[-6:]
    ok(
        docker_cli(
            daemon,
            "run",
            "-d",
            "-t",
            "--stop-timeout",
            "1",
            "--name",
            name,
            "busybox",
            "sh",
            "-c",
            "echo tty-line-one; sleep 300",
        )
    )
    open_page(browser, dash, f"containers/{name}")
    wait_for(lambda: css(browser, "#detail-state").get_attribute("data-state") == "running")
    click(browser, "#tab-logs")  # a TTY's log is a raw stream, not multiplexed
    wait_for(lambda: "tty-line-one" in text_of(browser, "#logview"), what="the TTY's log")
    ok(docker_cli(daemon, "stop", name))
    wait_for(
        lambda: css(browser, "#detail-state").get_attribute("data-state") == "exited",
        what="the header to follow the stop",
    )
    click(browser, "#tab-terminal")
    wait_for(lambda: "not running" in text_of(browser, "#tabpanel"), what="the terminal's message")
    ok(docker_cli(daemon, "rm", name))
