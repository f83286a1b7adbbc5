"""`wharfie dashboard`: start (or find) the daemon's web UI, print its URL, open a browser.

    wharfie dashboard [--no-browser] [-q]

The daemon answers `POST /wharfie/dashboard` with the URL, access token included
(see docs/dashboard.md). The URL is on the daemon's host: from another machine,
forward the port (`ssh -L PORT:127.0.0.1:PORT host`).
"""

from __future__ import annotations

import os
import sys

from wharfie.cli.flags import parse, table

TYPE_CHECKING = False
if TYPE_CHECKING:
    from wharfie.cli.context import Context

FLAGS = table("- no-browser bool\nq quiet bool\n- help bool")
USAGE = """Usage:  wharfie dashboard [OPTIONS]

Start (or find) the daemon's web UI and print its URL, access token included

Options:
      --no-browser   Only print the URL
  -q, --quiet        Print the bare URL
"""


def has_display(env: dict[str, str]) -> bool:
    """A graphical session or an explicit $BROWSER: a text browser on a bare server
    would take over the terminal, so none is started there."""
    return bool(env.get("BROWSER") or env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))


def cmd_dashboard(ctx: Context, argv: list[str]) -> int:
    f = parse(argv, FLAGS)
    if f.on("help"):
        sys.stdout.write(USAGE)
        return 0
    reply = ctx.client.post_json("/wharfie/dashboard")
    url = str(reply["URL"])
    if f.on("quiet"):
        sys.stdout.write(url + "\n")
        return 0
    sys.stdout.write(f"Wharfie dashboard: {url}\n")
    if not f.on("no-browser") and has_display(dict(os.environ)):
        import webbrowser

        if webbrowser.open(url):
            sys.stdout.write("(opened in your browser)\n")
    sys.stdout.flush()
    return 0
