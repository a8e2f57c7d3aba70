// A world where rank 2 fails, as its cmdline says ("abort", "exit", "trap", "unsupported", or
// "flood": sending more than the world may buffer),
// or ("lent") rank 1 aborts while rank 2 waits in a large send nobody receives,
// while every other rank waits for a message that never comes: the world must fail at once.
// With "wait", rank 2 waits too: only something outside the world can end it.
#include <mpi.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char** argv)
{
    MPI_Init(&argc, &argv);
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    char how[32] = { 0 };
    if (argc > 1) {
        strncpy(how, argv[1], sizeof(how) - 1);
    }
    if (strcmp(how, "lent") == 0 && rank > 0) {
        if (rank == 1) {
            double start = MPI_Wtime();
            while (MPI_Wtime() - start < 0.05) {
            }
            MPI_Abort(MPI_COMM_WORLD, 4);
        } else if (rank == 2) {
            static char large[1 << 20];
            MPI_Send(large, sizeof(large), MPI_CHAR, 0, 1, MPI_COMM_WORLD);
        }
    } else if (rank == 2) {
        if (strcmp(how, "abort") == 0) {
            MPI_Abort(MPI_COMM_WORLD, 3);
        } else if (strcmp(how, "exit") == 0) {
            return 3;
        } else if (strcmp(how, "trap") == 0) {
            __builtin_trap();
        } else if (strcmp(how, "flood") == 0) {
            static char chunk[8 * 1024];
            for (int i = 0; i < 1000; i++) {
                MPI_Send(chunk, sizeof(chunk), MPI_CHAR, 0, 1, MPI_COMM_WORLD);
            }
        } else if (strcmp(how, "wait") == 0) {
        } else {
            MPI_Comm split;
            MPI_Comm_split(MPI_COMM_WORLD, 0, rank, &split);
        }
    }
    int never;
    MPI_Recv(&never, 1, MPI_INT, 2, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    printf("rank %d received %d\n", rank, never);
    MPI_Finalize();
    return 0;
}
