"""VM-isolated containers: the `wharfie-vm` OCI runtime (see docs/vm.md).

The engine knows it only as one more runtime by name, behind the OCI wall; what it shows
about it (the accelerator warning) comes from `wharfie-vm features`.
"""
