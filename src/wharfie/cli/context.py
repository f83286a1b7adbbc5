"""What every command gets: the global flags and a lazily connected client."""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from wharfie.cli.flags import Parsed
    from wharfie.client.api import Client

# Commands whose daemon errors docker prefixes with "docker: " and exits 125 for.
_RUN_LIKE = ("run", "create")


class Context:
    def __init__(self, glob: Parsed, verb: str) -> None:
        self.glob = glob
        self.verb = verb
        self._client: Client | None = None

    def display_verb(self) -> str:
        return self.verb.replace("-", " ")

    def prog_prefix(self) -> str:
        return "wharfie: " if self.verb in _RUN_LIKE else ""

    def error_status(self) -> int:
        return 125 if self.verb in _RUN_LIKE else 1

    def host(self) -> tuple[str, bool]:
        """(address, explicit): -H, then WHARFIE_HOST, then DOCKER_HOST, then the default."""
        from wharfie.client.api import DEFAULT_HOST

        hosts = self.glob.all("host")
        if hosts:
            return hosts[-1], True
        env = os.environ.get("WHARFIE_HOST") or os.environ.get("DOCKER_HOST")
        if env:
            return env, True
        return DEFAULT_HOST, False

    def tls(self) -> object:
        from wharfie.client.api import TLSConfig

        g = self.glob
        if g.on("tlsverify") or g.on("tls") or g.has("tlscacert") or g.has("tlscert"):
            cert_path = os.environ.get("DOCKER_CERT_PATH") or os.path.expanduser("~/.docker")
            return TLSConfig(
                g.get("tlscacert") or f"{cert_path}/ca.pem",
                g.get("tlscert") or f"{cert_path}/cert.pem",
                g.get("tlskey") or f"{cert_path}/key.pem",
                verify=g.on("tlsverify"),
            )
        return TLSConfig.from_env()

    @property
    def client(self) -> Client:
        if self._client is None:
            self._client = self.new_client()
            self._ensure_daemon(self._client)
        return self._client

    def new_client(self) -> Client:
        """A client of its own (signal proxies, parallel streams)."""
        from wharfie.client.api import Client, TLSConfig

        host, _explicit = self.host()
        tls = self.tls()
        assert tls is None or isinstance(tls, TLSConfig)
        return Client(host, tls=tls)

    def _ensure_daemon(self, client: Client) -> None:
        from wharfie.errors import Unavailable

        try:
            client.api_version()
        except Unavailable as exc:
            host, explicit = self.host()
            from wharfie.cli.autostart import should_autostart, start_daemon

            if not should_autostart(host, explicit, exc):
                raise
            pid, log = start_daemon()
            sys.stderr.write(
                f"wharfie: no daemon was running; started wharfied (pid {pid}, log {log})\n"
            )
            sys.stderr.flush()
            from wharfie.cli.autostart import wait_for_daemon

            wait_for_daemon(client)
