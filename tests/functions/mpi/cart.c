// Cartesian topologies in 2-D and 3-D: Dims_create, coordinates, shifts (periodic and not),
// ranks of coordinates, and a halo exchange over the shifts.
#include "show.h"

static void topology(int ndims, const int* periods)
{
    int size, world_rank;
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
    int dims[3] = { 0, 0, 0 };
    MPI_Dims_create(size, ndims, dims);
    MPI_Comm cart;
    MPI_Cart_create(MPI_COMM_WORLD, ndims, dims, periods, 0, &cart);
    int rank, got_dims[3], got_periods[3], coords[3], n;
    MPI_Comm_rank(cart, &rank);
    MPI_Cartdim_get(cart, &n);
    MPI_Cart_get(cart, 3, got_dims, got_periods, coords);
    int row[16], k = 0;
    row[k++] = n;
    for (int d = 0; d < ndims; d++) row[k++] = got_dims[d];
    for (int d = 0; d < ndims; d++) row[k++] = coords[d];
    int halo = 0;
    for (int d = 0; d < ndims; d++) {
        int source, dest;
        MPI_Cart_shift(cart, d, 1, &source, &dest);
        row[k++] = source;
        row[k++] = dest;
        // Pass my rank up dimension d; the edge of a non-periodic one gets nothing.
        int got = -1;
        MPI_Sendrecv(&rank, 1, MPI_INT, dest, d, &got, 1, MPI_INT, source, d, cart, MPI_STATUS_IGNORE);
        halo = halo * 31 + got;
    }
    int far_source, far_dest;
    MPI_Cart_shift(cart, 0, 2, &far_source, &far_dest);
    row[k++] = far_dest;
    int check[3];
    MPI_Cart_coords(cart, rank, 3, check);
    int back;
    MPI_Cart_rank(cart, check, &back);
    row[k++] = back == rank;
    row[k++] = halo;
    while (k < 16) row[k++] = 0;
    show_ints(ndims == 2 ? "cart2d" : "cart3d", row, 16);
    MPI_Comm_free(&cart);
}

int main(int argc, char** argv)
{
    MPI_Init(&argc, &argv);
    int periods2[2] = { 1, 0 };
    topology(2, periods2);
    int periods3[3] = { 1, 1, 0 };
    topology(3, periods3);
    MPI_Finalize();
    return 0;
}
