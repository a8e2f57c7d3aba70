"""The layout of Faasm's distributed matrix multiplication (``pyfaasm.matrix``) in state.

Matrices are square, of 32-bit floats, and split ``n_splits`` times into four quarters: at split
level ``s`` a matrix is a grid of ``2**s`` by ``2**s`` submatrices. The key names are Faasm's, so
state written by either side reads the same.
"""

# Bytes per element: matrices are float32 (and their parameters int32).
NP_ELEMENT_SIZE = 4

SUBMATRICES_KEY_A = "mat_a"
SUBMATRICES_KEY_B = "mat_b"
INTERMEDIATE_RESULT_PREFIX = "intermediate"
RESULT_MATRIX_KEY = "result_matrix"
MATRIX_CONF_STATE_KEY = "matrix_state"


class MatrixConf:
    """A multiplication of two ``matrix_size`` square matrices split ``n_splits`` times."""

    def __init__(self, matrix_size, n_splits):
        self.matrix_size = matrix_size
        self.n_splits = n_splits
        self.bytes_per_matrix = matrix_size * matrix_size * NP_ELEMENT_SIZE

    def get_submatrices_per_row(self, split_level):
        return 2**split_level

    def get_submatrix_size(self, split_level):
        """The side of a submatrix at ``split_level``."""
        return self.matrix_size // self.get_submatrices_per_row(split_level)

    def get_bytes_per_submatrix(self, split_level):
        return self.get_submatrix_size(split_level) ** 2 * NP_ELEMENT_SIZE

    def get_intermediate_result_key(self, split_level, row_a, col_a, row_b, col_b):
        """Where the product of submatrices (row_a, col_a) of A and (row_b, col_b) of B at
        ``split_level`` is kept."""
        parts = (split_level, row_a, col_a, row_b, col_b)
        return "_".join([INTERMEDIATE_RESULT_PREFIX, *map(str, parts)])

    def get_submatrix_key(self, key_prefix, split_level, row_idx, col_idx):
        return "_".join(map(str, (key_prefix, split_level, row_idx, col_idx)))
