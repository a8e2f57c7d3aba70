// MPI micro-benchmarks, the same source for faasm-rs (`faasm cc`) and OpenMPI (`mpicc`); run
// by scripts/mpi-bench. Rank 0 prints one line per size:
//   pingpong <bytes> <one-way latency µs> <bandwidth MB/s>   (ranks 0 and 1)
//   allreduce <bytes> <µs per MPI_Allreduce of doubles>      (every rank)
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int iterations(int bytes)
{
    int n = (64 << 20) / (bytes > 0 ? bytes : 1);
    return n < 20 ? 20 : n > 5000 ? 5000 : n;
}

int main(int argc, char** argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    int allreduce = argc > 1 && strcmp(argv[1], "allreduce") == 0;
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
    MPI_Finalize();
    return 0;
}
