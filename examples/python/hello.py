"""Prints a greeting (captured stdout comes before the output) and returns 0."""

import sys

from pyfaasm.core import get_input, write_output


def faasm_main():
    name = get_input().decode() or "world"
    print(f"Hello {name} from Python {sys.version_info.major}.{sys.version_info.minor}")
    write_output(f"greeted {name}".encode())
    return 0
