"""faasm-rs's side of a Python function, inside the interpreter.

Imported once into the interpreter's base snapshot. ``load()`` runs at upload: it compiles the
uploaded source, imports it as a module and freezes the garbage collector, and the server
snapshots the result. ``run()`` runs once per call in a copy of that snapshot: it calls
``faasm_main()`` (or a chained entry with the input bytes) and reports how it ended.
"""

import gc
import importlib
import linecache
import operator
import sys
import traceback
import types

from pyfaasm import _door

# The name the uploaded source is imported as (registered in sys.modules, as an import would).
MODULE_NAME = "__faasm_function__"

_module = None


def module():
    """The imported function module."""
    return _module


def entry(name):
    """The function a call runs: ``name`` in the function module, or ``module:name`` in an
    importable module (see ``pyfaasm.core.chain``)."""
    owner, _, attr = name.rpartition(":")
    function = getattr(importlib.import_module(owner) if owner else _module, attr, None)
    if not callable(function):
        raise AttributeError(f"{owner or _module.__file__} has no function {attr}()")
    return function


def _takes_input(function):
    """Whether a chained entry takes the input as its argument: Faasm passes it, but some of
    its functions define entries without parameters (and read the input themselves)."""
    code = getattr(function, "__code__", None)
    # 0x04: CO_VARARGS.
    return code is None or code.co_argcount > 0 or bool(code.co_flags & 0x04)


def _flush():
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass


def _fail(error):
    """Prints the traceback of the exception being handled and reports it as the failure."""
    _flush()
    traceback.print_exc()
    _flush()
    _door.call(_door.RUNNER_RESULT, 1, error)


def _describe(exc):
    return traceback.format_exception_only(exc)[-1].strip()


def load():
    global _module
    filename, source = _door.call_list(_door.RUNNER_SOURCE)
    filename = filename.decode()
    try:
        # Bytes, so that a coding declaration is honoured.
        code = compile(source, filename, "exec")
        mod = types.ModuleType(MODULE_NAME)
        mod.__file__ = filename
        # Tracebacks show the source's lines (it is not a file the interpreter can read).
        lines = source.decode("utf-8", "replace").splitlines(True)
        linecache.cache[filename] = (len(source), None, lines, filename)
        sys.modules[MODULE_NAME] = mod
        exec(code, mod.__dict__)
        if not callable(getattr(mod, "faasm_main", None)):
            raise AttributeError(f"{filename} defines no function faasm_main()")
    except BaseException as exc:
        _fail(f"Python function failed to import: {_describe(exc)}")
        return
    _module = mod
    _warm_libraries()
    _flush()
    # Objects made so far are never collected: calls then leave their pages untouched.
    gc.collect()
    gc.freeze()
    _door.call(_door.RUNNER_RESULT, 0, "")


def _warm_libraries():
    """Makes now, so that the snapshot holds it, what the libraries the function imported
    would make on first use in every call. numpy's BLAS allocates and zeroes its work buffer
    on the first matrix product (about 10 ms), and linalg sets up LAPACK and its error state
    on the first solve. Only library code runs here, on throwaway arrays."""
    np = sys.modules.get("numpy")
    if np is None:
        return
    try:
        a = np.eye(2)
        a @ a
        np.linalg.solve(a, np.ones(2))
    except Exception:
        pass


def _reseed():
    """Snapshots share the random generators' state: give each call its own."""
    random = sys.modules.get("random")
    if random is not None:
        random.seed()
    np_random = sys.modules.get("numpy.random")
    if np_random is not None:
        np_random.seed()


def _return_value(name, value):
    if value is None:
        return 0
    if not isinstance(value, int) and hasattr(type(value), "__index__"):
        value = operator.index(value)  # numpy's integers
    if isinstance(value, int) and -(2**31) <= value < 2**31:
        return int(value)
    raise TypeError(f"{name}() returned {value!r}: expected an int (32-bit) or None")


def _exit_code(exc):
    code = exc.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code if -(2**31) <= code < 2**31 else 1
    print(code, file=sys.stderr)
    return 1


def run():
    chained, *argv = (item.decode() for item in _door.call_list(_door.RUNNER_CALL))
    name = chained or "faasm_main"
    sys.argv = [_module.__file__, *argv]
    try:
        _reseed()
        function = entry(name)
        if _takes_input(function) and name != "faasm_main":
            value = function(_door.call(_door.INPUT))
        else:
            value = function()
        return_value = _return_value(name, value)
    except SystemExit as exc:
        return_value = _exit_code(exc)
    except BaseException as exc:
        _fail(_describe(exc))
        return
    _flush()
    _door.call(_door.RUNNER_RESULT, return_value, "")


def _install_fast_turns():
    """Runs the two sources the host sends (``_faasm_load()``, ``_faasm_run()``, see
    crates/runtime/src/python/mod.rs) without compiling them: the reactor's ``turn`` parses
    and compiles its source each time, a few hundred microseconds of a call that does nothing.
    Any other source takes the reactor's own path."""
    reactor = sys.modules.get("_reactor")
    compiling = getattr(reactor, "_run_turn", None)
    if compiling is None:
        return
    fixed = {"_faasm_load()": load, "_faasm_run()": run}

    def _run_turn(text, name):
        function = fixed.get(text)
        if function is None:
            return compiling(text, name)
        function()

    reactor._run_turn = _run_turn


_install_fast_turns()
