"""The registry client: references, token and basic auth, resolve, fetch, push, mirrors.

    settings = Settings.from_flags(mirrors=[...], insecure=[...])
    rec = pull(store, settings.registries(host, auth), reference, platform, progress)
    push(store, settings.registries(host, auth)[-1], reference, progress)

`progress(dict)` receives Docker's JSON progress messages, from worker threads.
"""

from __future__ import annotations

from wharfie.distribution.auth import AuthConfig, decode_registry_auth
from wharfie.distribution.endpoints import Settings
from wharfie.distribution.errors import Unauthorized
from wharfie.distribution.pull import pull
from wharfie.distribution.push import push

__all__ = ["AuthConfig", "Settings", "Unauthorized", "decode_registry_auth", "pull", "push"]
