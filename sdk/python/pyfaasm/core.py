"""Faasm's Python API (SPEC section 10), over faasm-rs's host door.

Keys are ``str`` or ``bytes``; values and inputs are bytes-like; sizes and offsets are any
integers (numpy's too). Every call here reaches the same host implementation as the matching C
call in ``faasm/faasm.h``, so a C function and a Python function of the same user share state.
A refused call raises :class:`FaasmError`.

Faasm's local modes work as there: ``set_local_chaining(True)`` (or ``PYTHON_LOCAL_CHAINING``
set in the environment) runs chained functions in the caller, and
``set_local_input_output(True)`` (``PYTHON_LOCAL_OUTPUT``) keeps the output in this module for
:func:`get_output` instead of sending it to the host. Faasm's native emulator does not exist
here: ``set_emulator_message`` and ``set_emulator_status`` do nothing.
"""

import os
import sys

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
    "get_emulator_async_response",
    "get_env_bool",
    "get_input",
    "get_input_len",
    "get_output",
    "get_state",
    "is_local_chaining",
    "is_local_output",
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
    "set_emulator_message",
    "set_emulator_status",
    "set_env_bool",
    "set_local_chaining",
    "set_local_input_output",
    "set_output",
    "set_state",
    "unlock_state_read",
    "unlock_state_write",
    "write_output",
    "write_state",
    "write_state_offset",
]

# Faasm's module globals: the flags read from the environment (or set), and the output kept in
# local output mode (also the last output this call wrote otherwise).
env_cache = {}
output_data = None


# ----- local modes and Faasm's emulator -----


def get_env_bool(name):
    """Whether the environment variable ``name`` is set to something non-empty (read once)."""
    if name not in env_cache:
        env_cache[name] = bool(os.environ.get(name))
    return env_cache[name]


def set_env_bool(name, value):
    env_cache[name] = value


def is_local_chaining():
    return get_env_bool("PYTHON_LOCAL_CHAINING")


def is_local_output():
    return get_env_bool("PYTHON_LOCAL_OUTPUT")


def set_local_chaining(value):
    """Whether :func:`chain` runs the function right here (and :func:`await_call` returns 0)."""
    set_env_bool("PYTHON_LOCAL_CHAINING", value)


def set_local_input_output(value):
    """Whether :func:`write_output` keeps the output here (for :func:`get_output`) only."""
    set_env_bool("PYTHON_LOCAL_OUTPUT", value)


def get_output():
    """The output this call last wrote (``None`` if none): Faasm allows it in local output
    mode only, faasm-rs always."""
    return output_data


def set_emulator_message(message_json):
    """For Faasm's native emulator; a faasm-rs call already has its message: does nothing
    (but clears the local output, as Faasm does) and returns 0."""
    global output_data
    if is_local_output():
        output_data = None
    return 0


def set_emulator_status(success):
    """For Faasm's native emulator: does nothing on faasm-rs."""


def get_emulator_async_response():
    """For Faasm's native emulator, which faasm-rs does not have: raises FaasmError."""
    raise FaasmError("get_emulator_async_response: faasm-rs has no emulator (nor needs one)")


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
    global output_data
    if not is_local_output():
        _door.call(_door.OUTPUT, output)
    output_data = output


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
    ``faasm_main()`` and returns its id, for :func:`await_call`. ``func`` is a module-level
    function of the uploaded source or its name (found by name, as Faasm does), or else a
    module-level function of an importable module (``pyfaasm.matrix``'s worker, say). An entry
    that takes no arguments is called without the input (it can read it with
    :func:`get_input`). In local chaining mode ``func`` runs here, now, and the id is 0."""
    if is_local_chaining():
        target = _chained_function(func) if isinstance(func, str) else func
        target(input_data)
        return 0
    return _door.call_int(_door.CHAIN, _entry_name(func), input_data)


def _chained_function(name):
    from pyfaasm import _runner

    return _runner.entry(_entry_name(name))


def _entry_name(func):
    """The name the runner finds ``func`` by: its own name in the uploaded module, else
    ``module:name``."""
    from pyfaasm import _runner

    name = func if isinstance(func, str) else getattr(func, "__name__", None)
    if isinstance(name, str) and callable(getattr(_runner.module(), name, None)):
        return name
    owner = sys.modules.get(getattr(func, "__module__", None) or "")
    if isinstance(name, str) and owner not in (None, _runner.module()):
        if getattr(owner, name, None) is func:
            return f"{owner.__name__}:{name}"
    raise ValueError(f"chain: {func!r} is not a function defined in this module")


def chain_this_with_input(func, input_data):
    """Faasm's older name for :func:`chain`."""
    return chain(func, input_data)


def await_call(call_id):
    """Waits for a chained call; its return value (1 if it failed or timed out). In local
    chaining mode the call already ran: 0."""
    if is_local_chaining():
        return 0
    return _door.call_int(_door.AWAIT_CALL, call_id)


def get_call_output(call_id):
    """The output of a finished chained call (await it first)."""
    return _door.call(_door.CALL_OUTPUT, call_id)
