"""login, logout, and the credentials store: `$DOCKER_CONFIG/config.json` (default
`~/.docker/config.json`), `auths.<server>.auth` = base64("user:password"), as docker.

The X-Registry-Auth header of pull/push is built here from the stored credentials.
"""

from __future__ import annotations

import base64
import json
import os
import sys

from wharfie.cli.flags import parse, table
from wharfie.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from wharfie.cli.context import Context

INDEX_SERVER = "https://index.docker.io/v1/"
ANONYMOUS = "e30="  # base64("{}")


def config_path() -> str:
    base = os.environ.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")
    return os.path.join(base, "config.json")


def read_config() -> dict[str, Any]:
    try:
        with open(config_path()) as f:
            data = json.load(f)
    except FileNotFoundError:
        return {}
    except ValueError as exc:
        raise InvalidArgument(f"loading config file {config_path()}: {exc}") from exc
    return data if isinstance(data, dict) else {}


def write_config(data: dict[str, Any]) -> None:
    path = config_path()
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent="\t")
        f.write("\n")
    os.rename(tmp, path)


def server_key(server: str) -> str:
    """The `auths` key: docker.io's index URL, else the host[:port]."""
    addr = server.strip()
    for prefix in ("https://", "http://"):
        addr = addr.removeprefix(prefix)
    addr = addr.split("/", 1)[0]
    if addr in ("", "docker.io", "index.docker.io", "registry-1.docker.io"):
        return INDEX_SERVER
    return addr


def registry_of(ref: str) -> str:
    """The registry host of an image reference ("busybox" → docker.io)."""
    first, slash, _ = ref.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        return first
    return "docker.io"


def credentials(server: str) -> dict[str, str]:
    key = server_key(server)
    auths = read_config().get("auths") or {}
    for name in (key, f"https://{key}", f"http://{key}"):
        entry = auths.get(name) or {}
        if entry.get("auth"):
            raw = base64.b64decode(entry["auth"]).decode()
            user, _, password = raw.partition(":")
            return {"username": user, "password": password, "serveraddress": key}
        if entry.get("identitytoken"):
            return {"identitytoken": entry["identitytoken"], "serveraddress": key}
    return {}


def registry_auth_header(ref: str) -> str:
    creds = credentials(registry_of(ref))
    if not creds:
        return ANONYMOUS
    return base64.urlsafe_b64encode(json.dumps(creds).encode()).decode()


LOGIN_FLAGS = table(
    """
    u username value
    p password value
    - password-stdin bool
    """
)


def cmd_login(ctx: Context, argv: list[str]) -> int:
    f = parse(argv, LOGIN_FLAGS)
    if len(f.args) > 1:
        raise InvalidArgument('"login" requires at most 1 argument.')
    server = f.args[0] if f.args else INDEX_SERVER
    user = f.get("username") or ""
    password = f.get("password") or ""
    if f.on("password-stdin"):
        if f.get("password"):
            raise InvalidArgument("--password and --password-stdin are mutually exclusive")
        if not user:
            raise InvalidArgument("Must provide --username with --password-stdin")
        password = sys.stdin.read().rstrip("\r\n")
    if not user or not password:
        user, password = _prompt(user, password)
    if f.get("password"):
        sys.stderr.write(
            "WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n"
        )
    body = {"username": user, "password": password, "serveraddress": server_key(server)}
    resp = ctx.client.post_json("/auth", body)
    data = read_config()
    entry: dict[str, str] = {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}
    if resp.get("IdentityToken"):
        entry = {"auth": "", "identitytoken": resp["IdentityToken"]}
    data.setdefault("auths", {})[server_key(server)] = entry
    write_config(data)
    print(resp.get("Status") or "Login Succeeded")
    return 0


def _prompt(user: str, password: str) -> tuple[str, str]:
    if not sys.stdin.isatty():
        raise InvalidArgument("Cannot perform an interactive login from a non TTY device")
    import getpass

    if not user:
        sys.stdout.write("Username: ")
        sys.stdout.flush()
        user = sys.stdin.readline().strip()
    if not password:
        password = getpass.getpass("Password: ")
    if not user:
        raise InvalidArgument("Error: Non-null Username Required")
    return user, password


def cmd_logout(ctx: Context, argv: list[str]) -> int:
    f = parse(argv, {})
    if len(f.args) > 1:
        raise InvalidArgument('"logout" requires at most 1 argument.')
    key = server_key(f.args[0] if f.args else INDEX_SERVER)
    data = read_config()
    auths = data.get("auths") or {}
    found = [k for k in (key, f"https://{key}", f"http://{key}") if k in auths]
    if not found:
        print(f"Not logged in to {key}")
        return 0
    print(f"Removing login credentials for {key}")
    for k in found:
        del auths[k]
    write_config(data)
    return 0
