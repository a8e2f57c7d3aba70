"""Faasm's distributed matrix multiplication (pyfaasm.matrix), driven as Faasm's tests drive it:
the input is "size splits"; the function writes two random float32 matrices and the parameters
to state with pyfaasm's helpers, multiplies them with chained calls (8 per split level) and
checks the product in state against numpy's. It defines no worker of its own, so the chained
calls run pyfaasm.matrix's; the output is "size x size, splits: ok"."""

import numpy as np

import pyfaasm.matrix as mat
from pyfaasm.config import RESULT_MATRIX_KEY, SUBMATRICES_KEY_A, SUBMATRICES_KEY_B, MatrixConf
from pyfaasm.core import get_input, read_state, set_output


def faasm_main():
    size, splits = map(int, (get_input() or b"8 1").split())
    conf = MatrixConf(size, splits)
    a, b = mat.random_matrix(size), mat.random_matrix(size)
    mat.write_matrix_params_to_state(size, splits)
    mat.subdivide_matrix_into_state(conf, a, SUBMATRICES_KEY_A)
    mat.subdivide_matrix_into_state(conf, b, SUBMATRICES_KEY_B)
    assert (mat.reconstruct_matrix_from_submatrices(conf, SUBMATRICES_KEY_B) == b).all()

    mat.divide_and_conquer()

    result = np.frombuffer(read_state(RESULT_MATRIX_KEY), dtype=np.float32)
    if not np.allclose(result.reshape(size, size), a @ b, rtol=1e-4, atol=1e-4):
        print("the product differs from numpy's")
        return 1
    set_output(f"{size}x{size}, {splits} splits: ok".encode())
