"""Echoes its input: the smallest Python function."""

from pyfaasm.core import get_input, set_output


def faasm_main():
    set_output(get_input())
