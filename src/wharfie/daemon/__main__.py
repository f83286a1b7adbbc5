"""`python -m wharfie.daemon`: the same as the `wharfied` command."""

import sys

from wharfie.daemon import main

sys.exit(main())
