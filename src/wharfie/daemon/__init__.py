"""wharfied: the daemon serving the Docker Engine API on a unix socket.

Not built yet: it arrives with the engine work. The OCI runtime it will drive,
`wharfie-runtime`, is complete and usable on its own.
"""

import sys


def main() -> int:
    sys.stderr.write(
        "wharfied: the daemon is not built yet;\n"
        "          containers can be run with wharfie-runtime today, see docs/runtime.md\n"
    )
    return 1
