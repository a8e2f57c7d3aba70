"""Faasm's distributed matrix multiplication: divide and conquer over state and chained calls.

A driver writes the parameters (:func:`write_matrix_params_to_state`) and both inputs, split
into submatrices (:func:`subdivide_matrix_into_state` with ``SUBMATRICES_KEY_A`` and ``_B``),
then calls :func:`divide_and_conquer`. Each level splits its blocks of A and B into quarters
and chains the eight products of quarters (:func:`distributed_divide_and_conquer`, whose input
is five int32: the level and the row and column of A's and of B's block), awaits them and adds
them in pairs, down to the submatrices in state. The product ends in ``RESULT_MATRIX_KEY``.

A chained call finds its worker by name: a function ``distributed_divide_and_conquer`` of the
calling function's own module if it has one (Faasm's ``mat_mul.py`` defines one that reads the
input and calls this module's), otherwise this module's. Every write here is pushed and every
read pulled, so chained calls on other hosts see each other's results; inputs written without
these helpers must be pushed (``set_state``) before the multiplication starts.
"""

import numpy as np

from pyfaasm.config import (
    MATRIX_CONF_STATE_KEY,
    NP_ELEMENT_SIZE,
    RESULT_MATRIX_KEY,
    SUBMATRICES_KEY_A,
    SUBMATRICES_KEY_B,
    MatrixConf,
)
from pyfaasm.core import await_call, chain, pull_state, read_state, set_state
from pyfaasm.matrix_data import do_reconstruct_matrix, do_subdivide_matrix


def _read(key, n):
    """The ``n`` bytes of ``key``, fresh from the global tier."""
    pull_state(key, 0)
    data = read_state(key, n)
    if len(data) != n:
        raise ValueError(f"state key {key!r} holds {len(data)} bytes, expected {n}")
    return data


def _read_matrix(key, size):
    data = _read(key, size * size * NP_ELEMENT_SIZE)
    return np.frombuffer(data, dtype=np.float32).reshape(size, size)


def write_matrix_params_to_state(matrix_size, n_splits):
    params = np.array((matrix_size, n_splits), dtype=np.int32)
    set_state(MATRIX_CONF_STATE_KEY, params.tobytes())


def load_matrix_conf_from_state():
    matrix_size, n_splits = np.frombuffer(_read(MATRIX_CONF_STATE_KEY, 8), dtype=np.int32)
    return MatrixConf(int(matrix_size), int(n_splits))


def random_matrix(size):
    return np.random.rand(size, size).astype(np.float32)


def subdivide_matrix_into_state(conf, mat, key_prefix):
    """Writes the submatrices of ``mat`` (float32) to state under ``key_prefix``."""

    def write(data, row, col):
        set_state(conf.get_submatrix_key(key_prefix, conf.n_splits, row, col), data)

    do_subdivide_matrix(conf, mat, write)


def read_input_submatrix(conf, key_prefix, row_idx, col_idx):
    key = conf.get_submatrix_key(key_prefix, conf.n_splits, row_idx, col_idx)
    return _read_matrix(key, conf.get_submatrix_size(conf.n_splits))


def reconstruct_matrix_from_submatrices(conf, key_prefix):
    def read(row, col):
        return read_input_submatrix(conf, key_prefix, row, col).tobytes()

    return do_reconstruct_matrix(conf, read)


def distributed_divide_and_conquer(input_bytes):
    """The chained worker: multiplies one block of A by one of B, directly at the last level,
    else by chaining the next level, and writes the product to its intermediate key."""
    conf = load_matrix_conf_from_state()
    level, row_a, col_a, row_b, col_b = map(int, np.frombuffer(input_bytes, dtype=np.int32))
    if level == conf.n_splits:
        mat_a = read_input_submatrix(conf, SUBMATRICES_KEY_A, row_a, col_a)
        mat_b = read_input_submatrix(conf, SUBMATRICES_KEY_B, row_b, col_b)
        result = mat_a @ mat_b
    else:
        result = chain_multiplications(conf, level, row_a, col_a, row_b, col_b)
    key = conf.get_intermediate_result_key(level, row_a, col_a, row_b, col_b)
    set_state(key, result.tobytes())


def divide_and_conquer():
    """Multiplies the matrices in state; the product goes to ``RESULT_MATRIX_KEY``."""
    conf = load_matrix_conf_from_state()
    n = conf.matrix_size
    print(f"Running divide and conquer for {n}x{n} matrix with {conf.n_splits} splits")
    if conf.n_splits == 0:
        mat_a = read_input_submatrix(conf, SUBMATRICES_KEY_A, 0, 0)
        mat_b = read_input_submatrix(conf, SUBMATRICES_KEY_B, 0, 0)
        result = mat_a @ mat_b
    else:
        result = chain_multiplications(conf, 0, 0, 0, 0, 0)
    set_state(RESULT_MATRIX_KEY, result.tobytes())


def get_addition_result(conf, split_level, addition_def):
    """The sum of the two products ``addition_def`` names, ``[(a, b), (a, b)]`` with each
    block a ``[row, col]``, read from their intermediate keys."""
    size = conf.get_submatrix_size(split_level)
    first, second = (
        _read_matrix(conf.get_intermediate_result_key(split_level, *a, *b), size)
        for a, b in addition_def
    )
    return first + second


def chain_multiplications(conf, split_level, row_a, col_a, row_b, col_b):
    """Multiplies block (row_a, col_a) of A by block (row_b, col_b) of B at ``split_level``
    with eight chained calls, one per product of quarters, and returns the product."""
    level = split_level + 1
    a = {(i, j): [2 * row_a + i, 2 * col_a + j] for i in (0, 1) for j in (0, 1)}
    b = {(i, j): [2 * row_b + i, 2 * col_b + j] for i in (0, 1) for j in (0, 1)}
    # Quarter (i, j) of the product is A[i, 0] B[0, j] + A[i, 1] B[1, j].
    additions = [[(a[i, 0], b[0, j]), (a[i, 1], b[1, j])] for i in (0, 1) for j in (0, 1)]
    calls = [
        chain(distributed_divide_and_conquer, np.array((level, *qa, *qb), np.int32).tobytes())
        for pair in additions
        for qa, qb in pair
    ]
    failed = [call for call in calls if await_call(call) != 0]
    if failed:
        raise RuntimeError(f"{len(failed)} of {len(calls)} chained multiplications failed")
    q = [get_addition_result(conf, level, pair) for pair in additions]
    return np.block([[q[0], q[1]], [q[2], q[3]]])
