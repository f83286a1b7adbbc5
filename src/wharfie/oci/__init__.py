"""OCI runtime-spec and image-spec types and pure translations (no I/O, no root)."""
