"""wharfie registry: an OCI distribution server (a standalone process)."""
