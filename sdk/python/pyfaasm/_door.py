"""The guest side of faasm-rs's host door (crates/runtime/src/python/door.rs).

A request is an operation code and its arguments: ints as 8-byte little-endian, byte strings
with a 4-byte little-endian length. A reply is a status byte (0: the result follows, 1: an
error message follows).
"""

import operator
import struct

import _host

# The operation codes: door.rs has the same table.
RUNNER_SOURCE = 1
RUNNER_CALL = 2
RUNNER_RESULT = 3
INPUT = 10
OUTPUT = 11
STATE_SIZE = 20
READ_STATE = 21
READ_STATE_OFFSET = 22
WRITE_STATE = 23
WRITE_STATE_OFFSET = 24
PUSH_STATE = 25
PUSH_STATE_PARTIAL = 26
PULL_STATE = 27
APPEND_STATE = 28
READ_APPENDED_STATE = 29
CLEAR_APPENDED_STATE = 30
LOCK_STATE_READ = 31
UNLOCK_STATE_READ = 32
LOCK_STATE_WRITE = 33
UNLOCK_STATE_WRITE = 34
CHAIN = 40
AWAIT_CALL = 41
CALL_OUTPUT = 42

_INT = struct.Struct("<q")
_LEN = struct.Struct("<I")


class FaasmError(RuntimeError):
    """The host refused a pyfaasm call: a bad key, an unknown call id, a lock not held..."""

    __module__ = "pyfaasm.core"  # where functions import it from (and tracebacks name it)


def _encode(arg):
    if isinstance(arg, (str, bytes, bytearray, memoryview)):
        data = arg.encode() if isinstance(arg, str) else bytes(arg)
        return _LEN.pack(len(data)) + data
    if isinstance(arg, bool) or not hasattr(type(arg), "__index__"):
        raise TypeError(f"expected int, str or bytes, got {type(arg).__name__}")
    # Any integer, numpy's included (sizes are often computed with them).
    return _INT.pack(operator.index(arg))


def call(op, *args):
    """Sends one request and returns the reply's result bytes, or raises FaasmError."""
    reply = _host.call(bytes((op,)) + b"".join(map(_encode, args)))
    if reply[:1] == b"\x00":
        return reply[1:]
    raise FaasmError(reply[1:].decode("utf-8", "replace"))


def call_int(op, *args):
    return _INT.unpack(call(op, *args))[0]


def call_list(op, *args):
    """A reply that is a list of byte strings."""
    data, items, at = call(op, *args), [], 0
    while at < len(data):
        (n,) = _LEN.unpack_from(data, at)
        items.append(data[at + 4 : at + 4 + n])
        at += 4 + n
    return items
