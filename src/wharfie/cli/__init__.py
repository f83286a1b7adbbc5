"""wharfie: the command-line client of wharfied (Docker's verbs and flags).

Not built yet: the daemon and this client arrive with the engine work. The OCI
runtime underneath, `wharfie-runtime`, is complete and usable on its own.
"""

import sys


def main() -> int:
    sys.stderr.write(
        "wharfie: the client is not built yet (it arrives with the wharfied engine);\n"
        "         containers can be run with wharfie-runtime today, see docs/runtime.md\n"
    )
    return 1
