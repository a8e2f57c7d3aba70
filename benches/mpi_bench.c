// MPI benchmarks, the same source for faasm-rs (`faasm cc`) and OpenMPI (`mpicc`); run by
// scripts/mpi-bench with the mode as argv[1]. Rank 0 prints one line per size:
//   pingpong <bytes> <one-way latency µs> <bandwidth MB/s>   (ranks 0 and 1)
//   allreduce <bytes> <µs per MPI_Allreduce of doubles>      (every rank)
//   stencil <n> <iterations> <µs per iteration> <µs of it in MPI calls> <checksum> <residual>
//   transpose <n> <iterations> <µs per iteration> <µs of it in MPI calls> <checksum>
// The kernels' time per iteration is the slowest rank's; their MPI time is the mean over ranks
// of the time spent inside MPI calls, so the rest is computation (and waiting for a core). The
// checksums are computed in a fixed order, so both builds must print the same ones.
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int iterations(int bytes)
{
    int n = (64 << 20) / (bytes > 0 ? bytes : 1);
    return n < 20 ? 20 : n > 5000 ? 5000 : n;
}

static void micro(int allreduce, int rank)
{
    const int max = 8 << 20;
    char* a = calloc(max, 1);
    char* b = calloc(max, 1);
    const int sizes[] = { 8, 64, 512, 4096, 32768, 262144, 1 << 20, 8 << 20 };
    for (int k = 0; k < (int)(sizeof(sizes) / sizeof(sizes[0])); k++) {
        int bytes = sizes[k];
        int n = iterations(bytes);
        MPI_Barrier(MPI_COMM_WORLD);
        double start = MPI_Wtime();
        if (allreduce) {
            for (int i = 0; i < n; i++) {
                MPI_Allreduce(a, b, bytes / 8, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
            }
        } else if (rank < 2) {
            for (int i = 0; i < n; i++) {
                if (rank == 0) {
                    MPI_Send(a, bytes, MPI_BYTE, 1, 0, MPI_COMM_WORLD);
                    MPI_Recv(b, bytes, MPI_BYTE, 1, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
                } else {
                    MPI_Recv(b, bytes, MPI_BYTE, 0, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
                    MPI_Send(a, bytes, MPI_BYTE, 0, 0, MPI_COMM_WORLD);
                }
            }
        }
        double micros = (MPI_Wtime() - start) * 1e6;
        if (rank == 0) {
            if (allreduce) {
                printf("allreduce %d %.2f\n", bytes, micros / n);
            } else {
                double one_way = micros / n / 2;
                printf("pingpong %d %.2f %.1f\n", bytes, one_way, bytes / one_way);
            }
        }
    }
    free(a);
    free(b);
}

// Seconds this rank spent inside the MPI calls wrapped in IN_MPI (a call or a block of them).
static double mpi_seconds;
#define IN_MPI(...)                                \
    do {                                           \
        double in_mpi_start = MPI_Wtime();         \
        __VA_ARGS__;                               \
        mpi_seconds += MPI_Wtime() - in_mpi_start; \
    } while (0)

// The slowest rank's wall time and the mean MPI time, both per iteration in µs, at rank 0.
static void timings(double seconds, int iters, int size, double* wall_us, double* mpi_us)
{
    double slowest, mpi_total;
    MPI_Reduce(&seconds, &slowest, 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
    MPI_Reduce(&mpi_seconds, &mpi_total, 1, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD);
    *wall_us = slowest * 1e6 / iters;
    *mpi_us = mpi_total / size * 1e6 / iters;
}

// Part `part` of `n` items split into `parts` near-equal blocks: its first item and length.
static void block(int n, int parts, int part, int* first, int* length)
{
    *first = part * (n / parts) + (part < n % parts ? part : n % parts);
    *length = n / parts + (part < n % parts);
}

// 2-D Jacobi iteration for Laplace's equation on an n × n grid of unknowns. The boundary is 0
// except the top edge, which holds 4x(1-x). The grid is split in blocks over a 2-D Cartesian
// communicator; each iteration exchanges one-cell halos with the four neighbours, and every
// tenth also agrees on the residual (the largest change of a cell) with MPI_Allreduce.
static void stencil(int n, int iters, int rank, int size)
{
    int dims[2] = { 0, 0 }, periods[2] = { 0, 0 }, coords[2];
    MPI_Comm grid;
    MPI_Dims_create(size, 2, dims);
    MPI_Cart_create(MPI_COMM_WORLD, 2, dims, periods, 0, &grid);
    MPI_Cart_coords(grid, rank, 2, coords);
    int up, down, left, right;
    MPI_Cart_shift(grid, 0, 1, &up, &down);
    MPI_Cart_shift(grid, 1, 1, &left, &right);
    int row0, rows, col0, cols;
    block(n, dims[0], coords[0], &row0, &rows);
    block(n, dims[1], coords[1], &col0, &cols);

    // Rows 0 and rows + 1, columns 0 and cols + 1 are halo (or boundary) cells.
    const int stride = cols + 2;
    const size_t cells = (size_t)(rows + 2) * stride;
    double* u = calloc(cells, sizeof(double));
    double* v = calloc(cells, sizeof(double));
    double* edges = calloc(4 * (size_t)rows, sizeof(double)); // send left, right; recv left, right
    double *send_left = edges, *send_right = edges + rows;
    double *recv_left = edges + 2 * rows, *recv_right = edges + 3 * rows;
    if (coords[0] == 0) {
        for (int j = 1; j <= cols; j++) {
            double x = (double)(col0 + j) / (n + 1);
            u[j] = v[j] = 4 * x * (1 - x);
        }
    }

    double residual = 0;
    MPI_Barrier(MPI_COMM_WORLD);
    mpi_seconds = 0;
    double start = MPI_Wtime();
    for (int it = 1; it <= iters; it++) {
        for (int i = 0; i < rows; i++) {
            send_left[i] = u[(i + 1) * stride + 1];
            send_right[i] = u[(i + 1) * stride + cols];
        }
        MPI_Request requests[8];
        IN_MPI({
            MPI_Irecv(&u[1], cols, MPI_DOUBLE, up, 0, grid, &requests[0]);
            MPI_Irecv(&u[(rows + 1) * stride + 1], cols, MPI_DOUBLE, down, 1, grid, &requests[1]);
            MPI_Irecv(recv_left, rows, MPI_DOUBLE, left, 2, grid, &requests[2]);
            MPI_Irecv(recv_right, rows, MPI_DOUBLE, right, 3, grid, &requests[3]);
            MPI_Isend(&u[stride + 1], cols, MPI_DOUBLE, up, 1, grid, &requests[4]);
            MPI_Isend(&u[rows * stride + 1], cols, MPI_DOUBLE, down, 0, grid, &requests[5]);
            MPI_Isend(send_left, rows, MPI_DOUBLE, left, 3, grid, &requests[6]);
            MPI_Isend(send_right, rows, MPI_DOUBLE, right, 2, grid, &requests[7]);
            MPI_Waitall(8, requests, MPI_STATUSES_IGNORE);
        });
        for (int i = 0; i < rows; i++) {
            if (left != MPI_PROC_NULL) {
                u[(i + 1) * stride] = recv_left[i];
            }
            if (right != MPI_PROC_NULL) {
                u[(i + 1) * stride + cols + 1] = recv_right[i];
            }
        }
        double change = 0;
        for (int i = 1; i <= rows; i++) {
            const double* above = &u[(i - 1) * stride];
            const double* here = &u[i * stride];
            const double* below = &u[(i + 1) * stride];
            double* next = &v[i * stride];
            for (int j = 1; j <= cols; j++) {
                next[j] = 0.25 * (above[j] + below[j] + here[j - 1] + here[j + 1]);
                double d = fabs(next[j] - here[j]);
                change = d > change ? d : change;
            }
        }
        double* swap = u;
        u = v;
        v = swap;
        if (it % 10 == 0 || it == iters) {
            IN_MPI(MPI_Allreduce(&change, &residual, 1, MPI_DOUBLE, MPI_MAX, grid));
        }
    }
    double seconds = MPI_Wtime() - start;

    // Sum each block in row order, then the blocks in rank order at rank 0.
    double sum = 0;
    for (int i = 1; i <= rows; i++) {
        for (int j = 1; j <= cols; j++) {
            sum += u[i * stride + j];
        }
    }
    double* sums = calloc(size, sizeof(double));
    MPI_Gather(&sum, 1, MPI_DOUBLE, sums, 1, MPI_DOUBLE, 0, MPI_COMM_WORLD);
    double wall_us, mpi_us;
    timings(seconds, iters, size, &wall_us, &mpi_us);
    if (rank == 0) {
        double checksum = 0;
        for (int r = 0; r < size; r++) {
            checksum += sums[r];
        }
        printf("stencil %d %d %.2f %.2f %.15e %.15e\n", n, iters, wall_us, mpi_us, checksum, residual);
    }
    free(sums);
    free(edges);
    free(v);
    free(u);
    MPI_Comm_free(&grid);
}

// Distributed transpose of an n × n matrix of doubles split in column blocks, ParRes style:
// each iteration adds Aᵀ to B, then adds 1 to every element of A. Rank r holds columns
// r·w .. r·w + w - 1 of A and of B (w = n / size), row-major, n rows of w. The rows of A that
// rank d needs are its tile d, w rows of w, contiguous: one MPI_Alltoall sends every tile to
// its rank, and each received tile is transposed into B. A(i, j) starts as i·n + j, so after
// k iterations B(i, j) must be k·(j·n + i) + k(k - 1)/2, which every element is checked
// against. Iteration 0 warms up and is not timed.
static void transpose(int n, int iters, int rank, int size)
{
    if (n % size != 0) {
        if (rank == 0) {
            fprintf(stderr, "transpose: order %d is not a multiple of %d ranks\n", n, size);
        }
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
    const int w = n / size;
    const size_t local = (size_t)n * w;
    double* a = malloc(local * sizeof(double));
    double* b = calloc(local, sizeof(double));
    double* tiles = malloc(local * sizeof(double));
    for (int i = 0; i < n; i++) {
        for (int c = 0; c < w; c++) {
            a[(size_t)i * w + c] = (double)i * n + rank * w + c;
        }
    }

    const int tile = 32; // cache blocking of the local transposes
    double start = 0;
    for (int it = 0; it <= iters; it++) {
        if (it == 1) {
            MPI_Barrier(MPI_COMM_WORLD);
            mpi_seconds = 0;
            start = MPI_Wtime();
        }
        IN_MPI(MPI_Alltoall(a, w * w, MPI_DOUBLE, tiles, w * w, MPI_DOUBLE, MPI_COMM_WORLD));
        // tiles[s][x][y] = A(rank·w + x, s·w + y), which goes to B(s·w + y, rank·w + x).
        for (int s = 0; s < size; s++) {
            const double* from = &tiles[(size_t)s * w * w];
            double* to = &b[(size_t)s * w * w];
            for (int x0 = 0; x0 < w; x0 += tile) {
                for (int y0 = 0; y0 < w; y0 += tile) {
                    for (int x = x0; x < x0 + tile && x < w; x++) {
                        for (int y = y0; y < y0 + tile && y < w; y++) {
                            to[(size_t)y * w + x] += from[(size_t)x * w + y];
                        }
                    }
                }
            }
        }
        for (size_t k = 0; k < local; k++) {
            a[k] += 1;
        }
    }
    double seconds = MPI_Wtime() - start;

    // Every value is an integer below 2^53, and so is the sum: exact in any order.
    const double runs = iters + 1;
    double error = 0, sum = 0;
    for (int i = 0; i < n; i++) {
        for (int c = 0; c < w; c++) {
            double expected = runs * ((double)(rank * w + c) * n + i) + runs * (runs - 1) / 2;
            double got = b[(size_t)i * w + c];
            double off = fabs(got - expected);
            error = off > error ? off : error;
            sum += got;
        }
    }
    double worst, checksum;
    MPI_Reduce(&error, &worst, 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
    MPI_Reduce(&sum, &checksum, 1, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD);
    double wall_us, mpi_us;
    timings(seconds, iters, size, &wall_us, &mpi_us);
    if (rank == 0) {
        if (worst != 0) {
            fprintf(stderr, "transpose %d: wrong result, an element is off by %g\n", n, worst);
            MPI_Abort(MPI_COMM_WORLD, 3);
        }
        printf("transpose %d %d %.2f %.2f %.0f\n", n, iters, wall_us, mpi_us, checksum);
    }
    free(tiles);
    free(b);
    free(a);
}

int main(int argc, char** argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    const char* mode = argc > 1 ? argv[1] : "pingpong";
    if (strcmp(mode, "stencil") == 0) {
        stencil(256, 1000, rank, size);
        stencil(1024, 200, rank, size);
    } else if (strcmp(mode, "transpose") == 0) {
        transpose(512, 100, rank, size);
        transpose(2048, 20, rank, size);
    } else {
        micro(strcmp(mode, "allreduce") == 0, rank);
    }
    MPI_Finalize();
    return 0;
}
