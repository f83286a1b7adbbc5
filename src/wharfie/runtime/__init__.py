"""wharfie-runtime, the OCI runtime (see docs/runtime.md).

`preload()` is for a long-lived process that forks runtimes in-process (the monitor): it
imports everything a container start, exec or delete needs, so that each fork shares
those pages instead of unmarshalling ~30 modules again.
"""

# what `create`/`run`/`exec`/`delete` import lazily, including the cgroup drivers
_MODULES = (
    "wharfie.runtime.cli",
    "wharfie.runtime.commands",
    "wharfie.runtime.container",
    "wharfie.runtime.init",
    "wharfie.runtime.rootfs",
    "wharfie.runtime.process",
    "wharfie.runtime.seccomp",
    "wharfie.runtime.seccomp_cache",
    "wharfie.runtime.seccomp_load",
    "wharfie.runtime.seccomp_rules",
    "wharfie.runtime.seccomp_notify",
    "wharfie.runtime.spawn",
    "wharfie.runtime.foreground",
    "wharfie.runtime.lifecycle",
    "wharfie.runtime.console",
    "wharfie.runtime.execproc",
    "wharfie.runtime.state",
    "wharfie.runtime.sync",
    "wharfie.runtime.hooks",
    "wharfie.runtime.mount_options",
    "wharfie.runtime.admin",
    "wharfie.cgroups._base",
    "wharfie.cgroups._fs",
    "wharfie.cgroups._mounts",
    "wharfie.cgroups._paths",
    "wharfie.cgroups._driver",
    "wharfie.cgroups._v1",
    "wharfie.cgroups._v2",
    "wharfie.cgroups._hybrid",
    "wharfie.cgroups._spec",
    "wharfie.cgroups._plan_common",
    "wharfie.cgroups._plan_v1",
    "wharfie.cgroups._plan_v2",
    "wharfie.cgroups._devices",
    "wharfie.cgroups._bpf",
    "wharfie.cgroups._stats",
)


def preload() -> None:
    """Import the in-process runtime and load libseccomp once, before forking runtimes."""
    import importlib

    for name in _MODULES:
        importlib.import_module(name)
    import zlib  # noqa: F401  (the seccomp filter cache names its files by crc32)

    from wharfie.runtime import seccomp

    seccomp.preload_library()  # one dlopen here instead of one per container start
