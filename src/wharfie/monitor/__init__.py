"""wharfie-monitor: the one supervisor of every container on the host.

Run it with `python -m wharfie.monitor --exec-root DIR`; wharfied talks to it through
`wharfie.monitor.client.MonitorClient`. Design and protocol: docs/monitor.md.
"""
