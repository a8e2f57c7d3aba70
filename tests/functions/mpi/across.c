// One collective called again and again:
// `across <bcast|reduce|allreduce|gather|scatter|barrier> <root> <times>`.
// Run over two hosts, it shows how many messages a collective sends between them. Rank 0
// prints what it got, which must equal what OpenMPI's rank 0 gets.
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char** argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (argc < 4) {
        fprintf(stderr, "usage: across <collective> <root> <times>\n");
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    const char* collective = argv[1];
    int root = atoi(argv[2]), times = atoi(argv[3]);
    long long checksum = 0;
    for (int call = 0; call < times; call++) {
        int values[4] = { rank + call, rank * 3, call, 7 };
        int result[4] = { 0 };
        if (strcmp(collective, "bcast") == 0) {
            MPI_Bcast(values, 4, MPI_INT, root, MPI_COMM_WORLD);
            memcpy(result, values, sizeof(values));
        } else if (strcmp(collective, "reduce") == 0) {
            MPI_Reduce(values, result, 4, MPI_INT, MPI_SUM, root, MPI_COMM_WORLD);
        } else if (strcmp(collective, "allreduce") == 0) {
            MPI_Allreduce(values, result, 4, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
        } else if (strcmp(collective, "gather") == 0) {
            int* all = malloc(sizeof(int) * 4 * size);
            MPI_Gather(values, 4, MPI_INT, all, 4, MPI_INT, root, MPI_COMM_WORLD);
            if (rank == root) {
                for (int i = 0; i < 4 * size; i++) result[i % 4] += all[i] * (i / 4 + 1);
            }
            free(all);
        } else if (strcmp(collective, "scatter") == 0) {
            int* all = malloc(sizeof(int) * 4 * size);
            for (int i = 0; i < 4 * size; i++) all[i] = i * (call + 1) + rank;
            MPI_Scatter(all, 4, MPI_INT, result, 4, MPI_INT, root, MPI_COMM_WORLD);
            free(all);
        } else if (strcmp(collective, "barrier") == 0) {
            MPI_Barrier(MPI_COMM_WORLD);
        } else {
            fprintf(stderr, "unknown collective %s\n", collective);
            MPI_Abort(MPI_COMM_WORLD, 1);
        }
        for (int i = 0; i < 4; i++) checksum = checksum * 31 + result[i];
    }
    if (rank == 0) printf("%s from %d, %d times: rank 0 got %lld\n", collective, root, times, checksum);
    MPI_Finalize();
    return 0;
}
