// Printing what every rank computed, from rank 0 only, so a world's output (rank 0's) is the
// whole answer and the same under faasm-rs and native OpenMPI. Compiled by both.
#ifndef MPI_TEST_SHOW_H
#define MPI_TEST_SHOW_H

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

/* A checksum of `n` ints that depends on their order. */
static inline int checksum(const int* values, int n)
{
    unsigned sum = 0;
    for (int i = 0; i < n; i++) {
        sum = sum * 31 + (unsigned)values[i];
    }
    return (int)(sum & 0x7fffffff);
}

/* Gathers `n` ints from every rank and prints them at rank 0, one rank a line. */
static inline void show_ints(const char* what, const int* mine, int n)
{
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    int* all = rank == 0 ? malloc(sizeof(int) * n * size) : NULL;
    MPI_Gather(mine, n, MPI_INT, all, n, MPI_INT, 0, MPI_COMM_WORLD);
    if (rank == 0) {
        for (int r = 0; r < size; r++) {
            printf("%s[%d]:", what, r);
            for (int i = 0; i < n; i++) {
                printf(" %d", all[r * n + i]);
            }
            printf("\n");
        }
        free(all);
    }
}

/* The same for doubles, printed with 3 decimals. */
static inline void show_doubles(const char* what, const double* mine, int n)
{
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    double* all = rank == 0 ? malloc(sizeof(double) * n * size) : NULL;
    MPI_Gather(mine, n, MPI_DOUBLE, all, n, MPI_DOUBLE, 0, MPI_COMM_WORLD);
    if (rank == 0) {
        for (int r = 0; r < size; r++) {
            printf("%s[%d]:", what, r);
            for (int i = 0; i < n; i++) {
                printf(" %.3f", all[r * n + i]);
            }
            printf("\n");
        }
        free(all);
    }
}

#endif
