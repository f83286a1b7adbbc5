import sys

def main() -> int:
    return 0
