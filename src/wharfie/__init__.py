"""Wharfie: a container platform in Python.

The package is split along the seams described in docs/architecture.md: the OCI
runtime (`wharfie.runtime`) knows nothing of the engine; the engine talks to a
runtime only through OCI bundles.
"""

__version__ = "0.1.0"
