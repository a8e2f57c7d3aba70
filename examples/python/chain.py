"""Fans out to chained calls of its own `square` entry and sums their outputs."""

from pyfaasm.core import await_call, chain, get_call_output, get_input, set_output


def square(data):
    n = int(data)
    set_output(str(n * n).encode())


def faasm_main():
    count = int(get_input() or b"4")
    ids = [chain(square, str(i).encode()) for i in range(1, count + 1)]
    failed = [i for i in ids if await_call(i) != 0]
    if failed:
        print(f"chained calls {failed} failed")
        return 1
    total = sum(int(get_call_output(i)) for i in ids)
    set_output(str(total).encode())
