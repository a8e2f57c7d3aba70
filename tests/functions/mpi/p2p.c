// Point-to-point: tags matched out of order, FIFO per pair, MPI_ANY_SOURCE, probes, requests
// (Isend/Irecv, Wait*, Test, Request_free), Sendrecv, large messages (past the eager limit),
// MPI_PROC_NULL. Needs 4 ranks or more.
#include "show.h"

#include <string.h>

int main(int argc, char** argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    int right = (rank + 1) % size, left = (rank + size - 1) % size;

    // Tags received in another order than sent.
    if (rank == 1) {
        for (int tag = 1; tag <= 3; tag++) {
            int value = 100 + tag;
            MPI_Send(&value, 1, MPI_INT, 0, tag, MPI_COMM_WORLD);
        }
    } else if (rank == 0) {
        int order[3] = { 3, 1, 2 };
        for (int i = 0; i < 3; i++) {
            int value;
            MPI_Status status;
            MPI_Recv(&value, 1, MPI_INT, 1, order[i], MPI_COMM_WORLD, &status);
            printf("tag %d: value %d from %d\n", status.MPI_TAG, value, status.MPI_SOURCE);
        }
    }

    // FIFO per pair and tag, received with MPI_ANY_TAG.
    if (rank == 2) {
        for (int i = 0; i < 5; i++) {
            MPI_Send(&i, 1, MPI_INT, 0, 50, MPI_COMM_WORLD);
        }
    } else if (rank == 0) {
        printf("fifo:");
        for (int i = 0; i < 5; i++) {
            int value;
            MPI_Recv(&value, 1, MPI_INT, 2, MPI_ANY_TAG, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            printf(" %d", value);
        }
        printf("\n");
    }

    // MPI_ANY_SOURCE: one message from every other rank.
    if (rank != 0) {
        int value = rank * rank;
        MPI_Send(&value, 1, MPI_INT, 0, 9, MPI_COMM_WORLD);
    } else {
        int sum = 0, seen = 0;
        for (int i = 1; i < size; i++) {
            int value;
            MPI_Status status;
            MPI_Recv(&value, 1, MPI_INT, MPI_ANY_SOURCE, 9, MPI_COMM_WORLD, &status);
            sum += value;
            seen |= 1 << status.MPI_SOURCE;
        }
        printf("any source: sum %d, sources mask %d\n", sum, seen);
    }

    // Probe, then receive a message of a size learnt from its status.
    if (rank == 3) {
        double values[7] = { 0.5, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5 };
        MPI_Send(values, 7, MPI_DOUBLE, 0, 4, MPI_COMM_WORLD);
    } else if (rank == 0) {
        MPI_Status status;
        MPI_Probe(MPI_ANY_SOURCE, 4, MPI_COMM_WORLD, &status);
        int count;
        MPI_Get_count(&status, MPI_DOUBLE, &count);
        double* values = malloc(sizeof(double) * count);
        MPI_Recv(values, count, MPI_DOUBLE, status.MPI_SOURCE, 4, MPI_COMM_WORLD, &status);
        MPI_Get_count(&status, MPI_DOUBLE, &count);
        printf("probed %d doubles from %d, last %.1f\n", count, status.MPI_SOURCE, values[count - 1]);
        free(values);
    }

    // A posted Irecv takes the earlier of two messages a later Recv also matches.
    if (rank == 1) {
        int first = 11, second = 22;
        MPI_Send(&first, 1, MPI_INT, 0, 5, MPI_COMM_WORLD);
        MPI_Send(&second, 1, MPI_INT, 0, 5, MPI_COMM_WORLD);
    } else if (rank == 0) {
        int a = 0, b = 0;
        MPI_Request request;
        MPI_Irecv(&a, 1, MPI_INT, 1, MPI_ANY_TAG, MPI_COMM_WORLD, &request);
        MPI_Recv(&b, 1, MPI_INT, 1, 5, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        MPI_Wait(&request, MPI_STATUS_IGNORE);
        printf("posted order: irecv %d, recv %d, request null %d\n", a, b, request == MPI_REQUEST_NULL);
    }

    // A ring of Isend/Irecv completed by Waitall.
    int ring[2] = { -1, -1 };
    {
        MPI_Request requests[3];
        int token = rank * 7;
        MPI_Irecv(&ring[0], 1, MPI_INT, left, 30, MPI_COMM_WORLD, &requests[0]);
        MPI_Irecv(&ring[1], 1, MPI_INT, right, 31, MPI_COMM_WORLD, &requests[1]);
        MPI_Isend(&token, 1, MPI_INT, right, 30, MPI_COMM_WORLD, &requests[2]);
        MPI_Request extra;
        MPI_Isend(&token, 1, MPI_INT, left, 31, MPI_COMM_WORLD, &extra);
        MPI_Request_free(&extra);
        MPI_Status statuses[3];
        MPI_Waitall(3, requests, statuses);
    }
    show_ints("ring", ring, 2);

    // Waitany over two receives, and Test until done.
    if (rank == 1 || rank == 2) {
        int value = rank * 1000;
        MPI_Send(&value, 1, MPI_INT, 0, 20 + rank, MPI_COMM_WORLD);
    } else if (rank == 0) {
        int got[2] = { 0, 0 };
        MPI_Request requests[2];
        MPI_Irecv(&got[0], 1, MPI_INT, 1, 21, MPI_COMM_WORLD, &requests[0]);
        MPI_Irecv(&got[1], 1, MPI_INT, 2, 22, MPI_COMM_WORLD, &requests[1]);
        int done = 0;
        for (int i = 0; i < 2; i++) {
            int index;
            MPI_Status status;
            MPI_Waitany(2, requests, &index, &status);
            done += status.MPI_SOURCE == index + 1;
        }
        int index;
        MPI_Waitany(2, requests, &index, MPI_STATUS_IGNORE);
        printf("waitany: %d %d matched %d, then undefined %d\n", got[0], got[1], done, index == MPI_UNDEFINED);
    }
    if (rank == 3) {
        double value = 3.25;
        MPI_Send(&value, 1, MPI_DOUBLE, 0, 40, MPI_COMM_WORLD);
    } else if (rank == 0) {
        double value = 0;
        MPI_Request request;
        MPI_Irecv(&value, 1, MPI_DOUBLE, 3, 40, MPI_COMM_WORLD, &request);
        int flag = 0;
        MPI_Status status;
        while (!flag) {
            MPI_Test(&request, &flag, &status);
        }
        printf("test: %.2f from %d\n", value, status.MPI_SOURCE);
    }

    // Sendrecv and Sendrecv_replace around the ring.
    int shifted[2];
    int mine = rank + 100;
    MPI_Sendrecv(&mine, 1, MPI_INT, right, 60, &shifted[0], 1, MPI_INT, left, 60, MPI_COMM_WORLD,
                 MPI_STATUS_IGNORE);
    shifted[1] = rank * 3;
    MPI_Sendrecv_replace(&shifted[1], 1, MPI_INT, left, 61, right, 61, MPI_COMM_WORLD,
                         MPI_STATUS_IGNORE);
    show_ints("sendrecv", shifted, 2);

    // Large messages, which blocking sends lend to the receiver: around the ring with
    // Sendrecv (which must not deadlock), into a posted Irecv, into a later Recv, after a
    // Probe by any source; an Isend of the same size is copied.
    {
        enum { N = 100000 };
        int* out = malloc(N * sizeof(int));
        int* in = malloc(N * sizeof(int));
        for (int i = 0; i < N; i++) {
            out[i] = rank * 7 + i * 3;
        }
        int sums[5] = { 0 };
        MPI_Sendrecv(out, N, MPI_INT, right, 70, in, N, MPI_INT, left, 70, MPI_COMM_WORLD,
                     MPI_STATUS_IGNORE);
        sums[0] = checksum(in, N);
        if (rank == 0) {
            MPI_Request request;
            MPI_Irecv(in, N, MPI_INT, 1, 71, MPI_COMM_WORLD, &request);
            MPI_Barrier(MPI_COMM_WORLD);
            MPI_Wait(&request, MPI_STATUS_IGNORE);
            sums[1] = checksum(in, N);
            MPI_Recv(in, N, MPI_INT, 2, 72, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            sums[2] = checksum(in, N);
            MPI_Status status;
            MPI_Probe(MPI_ANY_SOURCE, 73, MPI_COMM_WORLD, &status);
            MPI_Get_count(&status, MPI_INT, &sums[3]);
            MPI_Recv(in, N, MPI_INT, status.MPI_SOURCE, 73, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            sums[4] = checksum(in, N) + status.MPI_SOURCE;
        } else {
            MPI_Barrier(MPI_COMM_WORLD);
            if (rank == 1) {
                MPI_Send(out, N, MPI_INT, 0, 71, MPI_COMM_WORLD);
            } else if (rank == 2) {
                MPI_Send(out, N, MPI_INT, 0, 72, MPI_COMM_WORLD);
            } else if (rank == 3) {
                MPI_Request request;
                MPI_Isend(out, N - 1, MPI_INT, 0, 73, MPI_COMM_WORLD, &request);
                MPI_Wait(&request, MPI_STATUS_IGNORE);
            }
        }
        show_ints("large", sums, 5);
        free(out);
        free(in);
    }

    // MPI_PROC_NULL: sends vanish, receives complete at once with an empty status.
    {
        int value = 5;
        MPI_Status status;
        MPI_Send(&value, 1, MPI_INT, MPI_PROC_NULL, 0, MPI_COMM_WORLD);
        MPI_Recv(&value, 1, MPI_INT, MPI_PROC_NULL, 0, MPI_COMM_WORLD, &status);
        int count;
        MPI_Get_count(&status, MPI_INT, &count);
        int null[3] = { status.MPI_SOURCE == MPI_PROC_NULL, status.MPI_TAG == MPI_ANY_TAG, count };
        show_ints("proc_null", null, 3);
    }

    MPI_Finalize();
    return 0;
}
