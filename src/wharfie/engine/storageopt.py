"""`--storage-opt` (HostConfig.StorageOpt): refused where it cannot be honoured.

Wharfie's rootfs is overlayfs on the data root, as dockerd's overlay2 driver. The only
option overlay2 knows is `size`, enforced with xfs project quotas; Wharfie does not set
project quotas, so a size is refused on every filesystem rather than recorded and
ignored. The checks and wording are overlay2's (moby daemon/graphdriver/overlay2,
CreateReadWrite then parseStorageOpt), measured against dockerd 20.10 on ext4: dockerd
answers these with 500.
"""

from __future__ import annotations

from wharfie.errors import WharfieError
from wharfie.units import ram_in_bytes

NO_QUOTA = "--storage-opt is supported only for overlay over xfs with 'pquota' mount option"


def check(storage_opt: dict[str, str] | None, data_root: str) -> None:
    """Raise the error dockerd's overlay2 gives for these options (nothing when empty)."""
    if not storage_opt:
        return
    if "size" in storage_opt:
        if project_quota(data_root):
            raise WharfieError(
                "--storage-opt size is not supported by wharfie: it sets no project quotas"
            )
        raise WharfieError(NO_QUOTA)
    for key, value in storage_opt.items():
        if key.lower() != "size":
            raise WharfieError(f"Unknown option {key}")
        try:
            ram_in_bytes(value)
        except ValueError as exc:
            raise WharfieError(str(exc)) from exc
    # a size under another spelling ("SIZE") parses, and would need a quota just the same
    raise WharfieError(NO_QUOTA)


def project_quota(path: str) -> bool:
    """Whether the filesystem holding `path` is xfs mounted with project quotas."""
    import os

    best, fstype, opts = "", "", ""
    real = os.path.realpath(path)
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            point = left.split()[4]
            inside = real == point or real.startswith(point.rstrip("/") + "/")
            if inside and len(point) >= len(best):
                fields = right.split()
                best, fstype = point, fields[0]
                opts = fields[2] if len(fields) > 2 else ""
    words = set(opts.split(","))
    return fstype == "xfs" and bool(words & {"prjquota", "pquota"})
