"""The parts of Faasm's pyfaasm beyond reading input and state, used the way Faasm's own Python
functions use them: its environment, sizes computed with numpy, a chained entry without
parameters, the local chaining and output modes, the emulator calls (no-ops here),
pyfaasm.config's keys, pyfaasm.matrix_data over files and pyfaasm.objects. Every check is an
assert; the output is "compat ok"."""

import os
import tempfile

import numpy as np

import pyfaasm
from pyfaasm import config
from pyfaasm.core import (
    FaasmError,
    await_call,
    chain,
    get_call_output,
    get_emulator_async_response,
    get_input,
    get_output,
    is_local_chaining,
    is_local_output,
    read_state,
    read_state_offset,
    set_emulator_message,
    set_emulator_status,
    set_local_chaining,
    set_local_input_output,
    set_output,
    write_output,
    write_state,
)
from pyfaasm.matrix_data import reconstruct_matrix_from_files, subdivide_matrix_into_files


def no_parameters():
    """A chained entry that takes no input argument (as Faasm's mat_mul.py defines its worker)
    and reads the input itself."""
    set_output(b"read " + get_input())


def local_worker(data):
    write_output(b"local " + data)


def faasm_main():
    # Faasm's environment.
    for name, value in [("PYTHONWASM", "1"), ("PYTHONHASHSEED", "0"), ("PYTHONNOUSERSITE", "on")]:
        assert os.environ.get(name) == value, (name, os.environ.get(name))
    assert not is_local_chaining() and not is_local_output()

    # Sizes and offsets computed with numpy.
    write_state("compat", b"abcdef")
    assert read_state("compat", np.int32(3)) == b"abc"
    assert read_state_offset("compat", np.int64(6), np.int32(2), np.int16(3)) == b"cde"

    call = chain(no_parameters, b"input")
    assert await_call(call) == 0
    assert get_call_output(call) == b"read input", get_call_output(call)

    # Faasm's local modes: the chained function runs here, the output stays here.
    set_local_chaining(True)
    set_local_input_output(True)
    assert chain(local_worker, b"x") == 0 and await_call(0) == 0
    assert get_output() == b"local x", get_output()
    assert set_emulator_message('{"user": "demo", "function": "compat"}') == 0
    assert get_output() is None
    set_emulator_status(True)
    try:
        get_emulator_async_response()
        raise AssertionError("get_emulator_async_response returned")
    except FaasmError:
        pass
    set_local_chaining(False)
    set_local_input_output(False)

    conf = config.MatrixConf(8, 1)
    assert conf.get_submatrix_key(config.SUBMATRICES_KEY_A, 1, 0, 1) == "mat_a_1_0_1"
    assert conf.get_intermediate_result_key(1, 0, 1, 1, 0) == "intermediate_1_0_1_1_0"
    sizes = conf.get_submatrix_size(1), conf.get_bytes_per_submatrix(1), conf.bytes_per_matrix
    assert sizes == (4, 64, 256), sizes

    matrix = np.arange(64, dtype=np.float32).reshape(8, 8)
    with tempfile.TemporaryDirectory() as tmp:
        subdivide_matrix_into_files(conf, matrix, tmp, "m")
        assert sorted(os.listdir(tmp)) == ["m_1_0_0", "m_1_0_1", "m_1_1_0", "m_1_1_1"]
        assert (reconstruct_matrix_from_files(conf, tmp, "m") == matrix).all()

    assert isinstance(pyfaasm.objects.Dictionary(), pyfaasm.objects.Dictionary)

    write_output(b"compat ok")
    assert get_output() == b"compat ok"
