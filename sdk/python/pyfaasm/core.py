"""Faasm's Python API (SPEC section 10), over faasm-rs's host door.

Keys are ``str`` or ``bytes``; values and inputs are bytes-like. Every call here reaches the
same host implementation as the matching C call in ``faasm/faasm.h``, so a C function and a
Python function of the same user share state. A refused call raises :class:`FaasmError`.
"""

from pyfaasm import _door
from pyfaasm._door import FaasmError

__all__ = [
    "FaasmError",
    "append_state",
    "await_call",
    "chain",
    "chain_this_with_input",
    "clear_appended_state",
    "get_call_output",
    "get_input",
    "get_input_len",
    "get_state",
    "lock_state_read",
    "lock_state_write",
    "pull_state",
    "push_state",
    "push_state_partial",
    "read_appended_state",
    "read_input",
    "read_state",
    "read_state_offset",
    "read_state_size",
    "set_output",
    "set_state",
    "unlock_state_read",
    "unlock_state_write",
    "write_output",
    "write_state",
    "write_state_offset",
]


# ----- input and output -----


def get_input_len():
    """The size of this call's input in bytes."""
    return len(get_input())


def get_input():
    """This call's whole input, as bytes."""
    return _door.call(_door.INPUT)


def read_input(n):
    """The first ``n`` bytes of this call's input (fewer if it is shorter)."""
    return get_input()[:n]


def write_output(output):
    """Sets this call's output (replacing what was set before)."""
    _door.call(_door.OUTPUT, output)


set_output = write_output


# ----- state -----


def read_state_size(key):
    """The size of the value of ``key`` (0 if it was never set)."""
    return _door.call_int(_door.STATE_SIZE, key)


def read_state(key, n=-1):
    """The first ``n`` bytes of the value of ``key`` (the whole value if ``n`` is omitted)."""
    return _door.call(_door.READ_STATE, key, n)


get_state = read_state


def read_state_offset(key, total, offset, n):
    """``n`` bytes at ``offset`` of the value of ``key``, a value of ``total`` bytes; only
    that range is pulled from the global tier."""
    return _door.call(_door.READ_STATE_OFFSET, key, total, offset, n)


def write_state(key, value):
    """Sets this host's copy of ``key``; it reaches the global tier when pushed."""
    _door.call(_door.WRITE_STATE, key, value)


def set_state(key, value):
    """Faasm's older ``set_state``: write the value and push it."""
    write_state(key, value)
    push_state(key)


def write_state_offset(key, total, offset, value):
    """Writes ``value`` at ``offset`` of the value of ``key`` (``total`` bytes long)."""
    _door.call(_door.WRITE_STATE_OFFSET, key, total, offset, value)


def push_state(key):
    """Sends this host's copy of ``key`` to the global tier, if it changed."""
    _door.call(_door.PUSH_STATE, key)


def push_state_partial(key):
    """Sends only the changed bytes of ``key`` to the global tier."""
    _door.call(_door.PUSH_STATE_PARTIAL, key)


def pull_state(key, n):
    """Refreshes this host's copy of ``key`` (``n`` bytes) from the global tier."""
    _door.call(_door.PULL_STATE, key, n)


def append_state(key, value):
    """Adds one element to the appended state of ``key``."""
    _door.call(_door.APPEND_STATE, key, value)


def read_appended_state(key, n):
    """The first ``n`` elements of the appended state of ``key``, as a list of bytes."""
    return _door.call_list(_door.READ_APPENDED_STATE, key, n)


def clear_appended_state(key):
    _door.call(_door.CLEAR_APPENDED_STATE, key)


def lock_state_read(key):
    _door.call(_door.LOCK_STATE_READ, key)


def unlock_state_read(key):
    _door.call(_door.UNLOCK_STATE_READ, key)


def lock_state_write(key):
    """Takes the write lock of ``key`` (across hosts with Redis); waiting holds no worker."""
    _door.call(_door.LOCK_STATE_WRITE, key)


def unlock_state_write(key):
    _door.call(_door.UNLOCK_STATE_WRITE, key)


# ----- chaining -----


def chain(func, input_data=b""):
    """Starts a call of this same Python function that runs ``func(input_bytes)`` instead of
    ``faasm_main()``; ``func`` is a module-level function of it or its name. Returns the new
    call's id, for :func:`await_call`."""
    name = func if isinstance(func, str) else getattr(func, "__name__", None)
    from pyfaasm import _runner

    if not isinstance(name, str) or not callable(getattr(_runner.module(), name, None)):
        raise ValueError(f"chain: {func!r} is not a function defined in this module")
    return _door.call_int(_door.CHAIN, name, input_data)


def chain_this_with_input(func, input_data):
    """Faasm's older name for :func:`chain`."""
    return chain(func, input_data)


def await_call(call_id):
    """Waits for a chained call; its return value (1 if it failed or timed out)."""
    return _door.call_int(_door.AWAIT_CALL, call_id)


def get_call_output(call_id):
    """The output of a finished chained call (await it first)."""
    return _door.call(_door.CALL_OUTPUT, call_id)
