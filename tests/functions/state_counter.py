"""The Python twin of state_counter.c: lock, read, increment, write, push, unlock a 32-bit
little-endian counter, so the two can share one. The input names the key (default "counter");
the output is the value this call wrote."""

import struct

from pyfaasm.core import (
    get_input,
    lock_state_write,
    push_state,
    read_state,
    read_state_size,
    set_output,
    unlock_state_write,
    write_state,
)


def faasm_main():
    key = get_input().decode() or "counter"
    lock_state_write(key)
    value = 0
    if read_state_size(key) == 4:
        (value,) = struct.unpack("<i", read_state(key, 4))
    value += 1
    write_state(key, struct.pack("<i", value))
    push_state(key)
    unlock_state_write(key)
    set_output(str(value).encode())
