"""Print every difference in a DIFFERENTIAL_DUMP file that the allow-list does not cover.

DIFFERENTIAL_DUMP=/tmp/d.jsonl pytest tests/differential
python tests/differential/report.py /tmp/d.jsonl [--all]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import harness


def main() -> None:
    allow = [] if "--all" in sys.argv else harness.load_allowlist()
    for line in Path(sys.argv[1]).read_text().splitlines():
        row = json.loads(line)
        scenario, _, label = row["call"].partition("/")
        for problem in harness.compare(
            scenario, [(label, row["dockerd"])], [(label, row["wharfied"])], allow
        ):
            print(problem[:400])
    unused = [e for e in allow if not e.used]
    print(f"# allow-list entries not used: {len(unused)}", file=sys.stderr)


if __name__ == "__main__":
    main()
