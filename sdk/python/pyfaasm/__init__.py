"""pyfaasm: the guest API of Python functions on faasm-rs (SPEC section 10).

Python functions are uploaded as source (``PUT /p/{user}/{function}``) and define
``faasm_main()``; inside them, ``pyfaasm.core`` reads the input, writes the output, shares state
and chains calls. This package runs inside faasm-rs's WebAssembly interpreter, where the server
ships it read-only; it talks to the host through the interpreter's host door.

As in Faasm, ``import pyfaasm`` brings ``core``, ``config`` and ``objects``; ``pyfaasm.matrix``
and ``pyfaasm.matrix_data`` need numpy and are imported explicitly.
"""

from pyfaasm import config, core, objects  # noqa: F401
