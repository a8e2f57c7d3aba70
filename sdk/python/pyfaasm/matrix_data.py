"""Splitting a square float32 matrix into the submatrices of a :class:`MatrixConf` and putting
it back together, through any store (state in ``pyfaasm.matrix``, files here).

A submatrix is stored as its bytes (``tobytes()``, row-major float32) under
``conf.get_submatrix_key(prefix, conf.n_splits, row, col)``.
"""

from os.path import join

import numpy as np


def do_subdivide_matrix(conf, mat, write_func):
    """Calls ``write_func(submatrix_bytes, row, col)`` for every submatrix of ``mat`` at
    ``conf.n_splits``."""
    per_row = conf.get_submatrices_per_row(conf.n_splits)
    size = conf.get_submatrix_size(conf.n_splits)
    for row in range(per_row):
        for col in range(per_row):
            block = mat[row * size : (row + 1) * size, col * size : (col + 1) * size]
            write_func(block.tobytes(), row, col)


def do_reconstruct_matrix(conf, read_func):
    """The whole matrix, from ``read_func(row, col)`` returning each submatrix's bytes."""
    per_row = conf.get_submatrices_per_row(conf.n_splits)
    size = conf.get_submatrix_size(conf.n_splits)

    def block(row, col):
        return np.frombuffer(read_func(row, col), dtype=np.float32).reshape(size, size)

    return np.block([[block(row, col) for col in range(per_row)] for row in range(per_row)])


def subdivide_matrix_into_files(conf, mat, file_dir, file_prefix):
    def write(data, row, col):
        name = conf.get_submatrix_key(file_prefix, conf.n_splits, row, col)
        with open(join(file_dir, name), "wb") as f:
            f.write(data)

    do_subdivide_matrix(conf, mat, write)


def reconstruct_matrix_from_files(conf, file_dir, file_prefix):
    def read(row, col):
        name = conf.get_submatrix_key(file_prefix, conf.n_splits, row, col)
        with open(join(file_dir, name), "rb") as f:
            return f.read()

    return do_reconstruct_matrix(conf, read)
