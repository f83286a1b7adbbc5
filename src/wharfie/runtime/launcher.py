"""Write the `wharfie-runtime` launcher: the console script, without `site`.

pip's console script starts the interpreter normally, and `site` (site-packages, .pth
files, the editable install's path hook) costs ~3 ms of CPU on every start, about a tenth
of a `run`. The runtime needs nothing from site-packages, so scripts/setup.sh replaces
pip's script with this one (after every `pip install`):

    .venv/bin/python -m wharfie.runtime.launcher .venv/bin/wharfie-runtime

It runs the same interpreter with `-S` and puts the directory holding the `wharfie`
package (the source tree of an editable install, or site-packages) first on sys.path.
"""

from __future__ import annotations

import os
import sys

TEMPLATE = """#!{python} -S
# wharfie-runtime without `site` (written by `python -m wharfie.runtime.launcher`)
import sys

sys.path.insert(0, {packages!r})
from wharfie.runtime.cli import entry

entry()
"""


def render(python: str, packages: str) -> str:
    return TEMPLATE.format(python=python, packages=packages)


def write(path: str) -> None:
    import wharfie

    packages = os.path.dirname(os.path.dirname(os.path.abspath(wharfie.__file__)))
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(render(sys.executable, packages))
    os.chmod(tmp, 0o755)
    os.replace(tmp, path)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m wharfie.runtime.launcher PATH")
    write(sys.argv[1])
