"""`python -m wharfie.cli` (the test suite runs the CLI this way)."""

from wharfie.cli import main

main()
