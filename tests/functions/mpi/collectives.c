// Every collective with a few datatypes and operations, MPI_IN_PLACE, MAXLOC/MINLOC, user
// operations (commutative and not), derived contiguous types and a duplicated communicator.
// Values are small integers and halves, so float results do not depend on reduction order.
#include "show.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

// x ∘ y = the digits of x followed by those of y: associative, not commutative.
static void concat(void* in, void* inout, int* len, MPI_Datatype* type)
{
    int* a = in;
    int* b = inout;
    for (int i = 0; i < *len; i++) {
        int scale = 1;
        while (scale <= b[i]) {
            scale *= 10;
        }
        b[i] = a[i] * scale + b[i];
    }
}

// Element-wise maximum of absolute values.
static void absmax(void* in, void* inout, int* len, MPI_Datatype* type)
{
    int* a = in;
    int* b = inout;
    for (int i = 0; i < *len; i++) {
        int x = abs(a[i]), y = abs(b[i]);
        b[i] = x > y ? x : y;
    }
}

int main(int argc, char** argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    int root = size - 1;

    // Bcast from a root other than 0, ints and doubles.
    int ints[4] = { 0 };
    double doubles[3] = { 0 };
    if (rank == root) {
        for (int i = 0; i < 4; i++) ints[i] = 10 + i;
        for (int i = 0; i < 3; i++) doubles[i] = i + 0.5;
    }
    MPI_Bcast(ints, 4, MPI_INT, root, MPI_COMM_WORLD);
    MPI_Bcast(doubles, 3, MPI_DOUBLE, root, MPI_COMM_WORLD);
    show_ints("bcast", ints, 4);
    show_doubles("bcast_double", doubles, 3);

    // Bcast from rank 1 (a root on the first host that does not lead it, in a world over
    // hosts) and Reduce at roots other than 0, with an operation that commutes.
    int from_one[2] = { rank == 1 ? 77 : 0, rank == 1 ? -5 : 0 };
    MPI_Bcast(from_one, 2, MPI_INT, 1, MPI_COMM_WORLD);
    show_ints("bcast_from_1", from_one, 2);
    int contribution[2] = { rank * rank, 100 - rank }, at_last[2] = { 0 }, at_one[2] = { 0 };
    MPI_Reduce(contribution, at_last, 2, MPI_INT, MPI_SUM, root, MPI_COMM_WORLD);
    MPI_Reduce(contribution, at_one, 2, MPI_INT, MPI_MAX, 1, MPI_COMM_WORLD);
    MPI_Barrier(MPI_COMM_WORLD);
    int reduced_at[4] = { at_last[0], at_last[1], at_one[0], at_one[1] };
    show_ints("reduce_at_roots", reduced_at, 4);

    // Scatter and Scatterv (rank i gets i + 1 ints).
    int* source = malloc(sizeof(int) * size * (size + 1));
    for (int i = 0; i < size * (size + 1); i++) source[i] = i * 3;
    int part[2];
    MPI_Scatter(source, 2, MPI_INT, part, 2, MPI_INT, 1, MPI_COMM_WORLD);
    show_ints("scatter", part, 2);
    int* counts = malloc(sizeof(int) * size);
    int* displs = malloc(sizeof(int) * size);
    for (int i = 0, at = 0; i < size; i++) {
        counts[i] = i + 1;
        displs[i] = at;
        at += i + 1;
    }
    int varied[64] = { 0 };
    MPI_Scatterv(source, counts, displs, MPI_INT, varied, rank + 1, MPI_INT, 0, MPI_COMM_WORLD);
    int scatterv_sum = 0;
    for (int i = 0; i <= rank; i++) scatterv_sum += varied[i];
    show_ints("scatterv_sum", &scatterv_sum, 1);
    // Scatter with MPI_IN_PLACE at the root.
    int keep = -7;
    if (rank == 0) {
        MPI_Scatter(source, 1, MPI_INT, MPI_IN_PLACE, 1, MPI_INT, 0, MPI_COMM_WORLD);
    } else {
        MPI_Scatter(NULL, 1, MPI_INT, &keep, 1, MPI_INT, 0, MPI_COMM_WORLD);
    }
    show_ints("scatter_in_place", &keep, 1);

    // Gather, Gatherv, Gather with MPI_IN_PLACE.
    int three[3] = { rank, rank * rank, -rank };
    int* gathered = malloc(sizeof(int) * 3 * size);
    MPI_Gather(three, 3, MPI_INT, gathered, 3, MPI_INT, root, MPI_COMM_WORLD);
    int gather_sum = 0;
    if (rank == root) {
        for (int i = 0; i < 3 * size; i++) gather_sum += gathered[i] * (i + 1);
    }
    show_ints("gather_weighted_sum", &gather_sum, 1);
    int* gv = malloc(sizeof(int) * size * (size + 1));
    int mine[64];
    for (int i = 0; i <= rank; i++) mine[i] = rank * 100 + i;
    MPI_Gatherv(mine, rank + 1, MPI_INT, gv, counts, displs, MPI_INT, 0, MPI_COMM_WORLD);
    if (rank == 0) {
        int total = size * (size + 1) / 2, sum = 0;
        for (int i = 0; i < total; i++) sum += gv[i] * (i % 7 + 1);
        printf("gatherv: last %d, weighted sum %d\n", gv[total - 1], sum);
    }
    for (int i = 0; i < 3 * size; i++) gathered[i] = -1;
    if (rank == 0) {
        gathered[0] = 42;
        MPI_Gather(MPI_IN_PLACE, 1, MPI_INT, gathered, 1, MPI_INT, 0, MPI_COMM_WORLD);
        printf("gather in place:");
        for (int i = 0; i < size; i++) printf(" %d", gathered[i]);
        printf("\n");
    } else {
        MPI_Gather(&rank, 1, MPI_INT, NULL, 1, MPI_INT, 0, MPI_COMM_WORLD);
    }

    // Allgather, Allgatherv, Allgather in place.
    int* all = malloc(sizeof(int) * size * (size + 1));
    int pair[2] = { rank, rank * 10 };
    MPI_Allgather(pair, 2, MPI_INT, all, 2, MPI_INT, MPI_COMM_WORLD);
    int allgather_sum = 0;
    for (int i = 0; i < 2 * size; i++) allgather_sum += all[i] * (i + 1);
    show_ints("allgather", &allgather_sum, 1);
    MPI_Allgatherv(mine, rank + 1, MPI_INT, all, counts, displs, MPI_INT, MPI_COMM_WORLD);
    int allgatherv_sum = 0;
    for (int i = 0; i < size * (size + 1) / 2; i++) allgatherv_sum += all[i] * (i % 5 + 1);
    show_ints("allgatherv", &allgatherv_sum, 1);
    for (int i = 0; i < size; i++) all[i] = i == rank ? rank + 1000 : 0;
    MPI_Allgather(MPI_IN_PLACE, 1, MPI_INT, all, 1, MPI_INT, MPI_COMM_WORLD);
    int in_place_sum = 0;
    for (int i = 0; i < size; i++) in_place_sum += all[i];
    show_ints("allgather_in_place", &in_place_sum, 1);

    // Reduce and Allreduce: every integer operation on ints.
    MPI_Op int_ops[10] = { MPI_MAX, MPI_MIN, MPI_SUM, MPI_PROD, MPI_LAND, MPI_LOR, MPI_BAND, MPI_BOR, MPI_LXOR, MPI_BXOR };
    int values[2] = { rank + 1, (rank % 3) * 5 + 3 };
    int reduced[10][2];
    for (int op = 0; op < 10; op++) {
        MPI_Reduce(values, reduced[op], 2, MPI_INT, int_ops[op], 0, MPI_COMM_WORLD);
    }
    if (rank == 0) {
        printf("reduce int:");
        for (int op = 0; op < 10; op++) printf(" %d/%d", reduced[op][0], reduced[op][1]);
        printf("\n");
    }
    int allreduced[10][2];
    for (int op = 0; op < 10; op++) {
        MPI_Allreduce(values, allreduced[op], 2, MPI_INT, int_ops[op], MPI_COMM_WORLD);
    }
    show_ints("allreduce_int", &allreduced[0][0], 20);

    // Floating point, 64-bit, small and unsigned types.
    MPI_Op float_ops[4] = { MPI_MAX, MPI_MIN, MPI_SUM, MPI_PROD };
    double dv[2] = { rank * 0.5 - 1.0, rank % 2 ? 1.5 : 0.5 };
    double dr[4][2];
    float fv = rank + 0.25f, fr[4];
    for (int op = 0; op < 4; op++) {
        MPI_Allreduce(dv, dr[op], 2, MPI_DOUBLE, float_ops[op], MPI_COMM_WORLD);
        MPI_Allreduce(&fv, &fr[op], 1, MPI_FLOAT, float_ops[op], MPI_COMM_WORLD);
    }
    show_doubles("allreduce_double", &dr[0][0], 8);
    double fd[4] = { fr[0], fr[1], fr[2], fr[3] };
    show_doubles("allreduce_float", fd, 4);
    long long big = 1LL << (32 + rank % 4), big_sum;
    MPI_Allreduce(&big, &big_sum, 1, MPI_LONG_LONG, MPI_SUM, MPI_COMM_WORLD);
    int64_t i64 = -(int64_t)rank * 1000000007LL, i64_min;
    MPI_Allreduce(&i64, &i64_min, 1, MPI_INT64_T, MPI_MIN, MPI_COMM_WORLD);
    uint8_t u8 = (uint8_t)(1 << (rank % 8)), u8_or, u8_max;
    MPI_Allreduce(&u8, &u8_or, 1, MPI_UINT8_T, MPI_BOR, MPI_COMM_WORLD);
    MPI_Allreduce(&u8, &u8_max, 1, MPI_UNSIGNED_CHAR, MPI_MAX, MPI_COMM_WORLD);
    short sv = (short)(rank * 3 - 4), s_sum;
    MPI_Allreduce(&sv, &s_sum, 1, MPI_SHORT, MPI_SUM, MPI_COMM_WORLD);
    uint16_t u16 = (uint16_t)(rank + 1), u16_prod;
    MPI_Allreduce(&u16, &u16_prod, 1, MPI_UINT16_T, MPI_PROD, MPI_COMM_WORLD);
    uint32_t u32 = 0xF0F0u | rank, u32_xor;
    MPI_Allreduce(&u32, &u32_xor, 1, MPI_UINT32_T, MPI_BXOR, MPI_COMM_WORLD);
    uint64_t u64 = (uint64_t)rank << 40, u64_max;
    MPI_Allreduce(&u64, &u64_max, 1, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD);
    int8_t i8 = (int8_t)(-rank), i8_min;
    MPI_Allreduce(&i8, &i8_min, 1, MPI_INT8_T, MPI_MIN, MPI_COMM_WORLD);
    int16_t i16 = (int16_t)(rank * 100), i16_sum;
    MPI_Allreduce(&i16, &i16_sum, 1, MPI_INT16_T, MPI_SUM, MPI_COMM_WORLD);
    int32_t i32 = rank, i32_max;
    MPI_Allreduce(&i32, &i32_max, 1, MPI_INT32_T, MPI_MAX, MPI_COMM_WORLD);
    long lv = rank * 2 + 1, l_sum;
    MPI_Allreduce(&lv, &l_sum, 1, MPI_LONG, MPI_SUM, MPI_COMM_WORLD);
    bool flag = rank != 1, b_and, b_or;
    MPI_Allreduce(&flag, &b_and, 1, MPI_C_BOOL, MPI_LAND, MPI_COMM_WORLD);
    MPI_Allreduce(&flag, &b_or, 1, MPI_C_BOOL, MPI_LOR, MPI_COMM_WORLD);
    char c = (char)('a' + rank), c_max;
    MPI_Allreduce(&c, &c_max, 1, MPI_CHAR, MPI_MAX, MPI_COMM_WORLD);
    if (rank == 0) {
        printf("types: ll %lld i64 %lld u8 %d/%d short %d u16 %d u32 %u u64 %llu i8 %d i16 %d i32 %d long %ld bool %d/%d char %c\n",
               big_sum, (long long)i64_min, u8_or, u8_max, s_sum, u16_prod, u32_xor,
               (unsigned long long)u64_max, i8_min, i16_sum, i32_max, l_sum, b_and, b_or, c_max);
    }

    // A large Allreduce (a ring over more than two ranks): every value once per rank.
    {
        const int n = 30001;
        int* big_in = malloc(sizeof(int) * n);
        int* big_out = malloc(sizeof(int) * n);
        double* dbig_in = malloc(sizeof(double) * n);
        double* dbig_out = malloc(sizeof(double) * n);
        for (int i = 0; i < n; i++) {
            big_in[i] = (i * 7 + rank * 13) % 1000;
            dbig_in[i] = (i % 17) * 0.5 + rank;
        }
        MPI_Allreduce(big_in, big_out, n, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
        MPI_Allreduce(dbig_in, dbig_out, n, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
        long long check = 0;
        double dcheck = 0;
        for (int i = 0; i < n; i++) {
            check += (long long)big_out[i] * (i % 11 + 1);
            dcheck += dbig_out[i] * (i % 3 + 1);
        }
        int big[3] = { (int)(check % 1000000007), (int)(check / 1000000007), (int)dcheck };
        show_ints("allreduce_large", big, 3);
        free(big_in);
        free(big_out);
        free(dbig_in);
        free(dbig_out);
    }

    // Allreduce and Reduce in place.
    int acc[3] = { rank, 1, rank % 2 };
    MPI_Allreduce(MPI_IN_PLACE, acc, 3, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    show_ints("allreduce_in_place", acc, 3);
    double dacc = rank + 1.0;
    if (rank == 0) {
        MPI_Reduce(MPI_IN_PLACE, &dacc, 1, MPI_DOUBLE, MPI_PROD, 0, MPI_COMM_WORLD);
        printf("reduce in place: %.1f\n", dacc);
    } else {
        MPI_Reduce(&dacc, NULL, 1, MPI_DOUBLE, MPI_PROD, 0, MPI_COMM_WORLD);
    }

    // Scan.
    int scanned[2];
    int sv2[2] = { rank + 1, 2 };
    MPI_Scan(sv2, scanned, 2, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    double dscan, dmine = 1.5;
    MPI_Scan(&dmine, &dscan, 1, MPI_DOUBLE, MPI_PROD, MPI_COMM_WORLD);
    int scan_all[3] = { scanned[0], scanned[1], (int)(dscan * 1000) };
    show_ints("scan", scan_all, 3);

    // Alltoall and Alltoallv.
    int* out = malloc(sizeof(int) * size * size);
    int* in = malloc(sizeof(int) * size * size);
    for (int i = 0; i < size; i++) out[i] = rank * 100 + i;
    MPI_Alltoall(out, 1, MPI_INT, in, 1, MPI_INT, MPI_COMM_WORLD);
    int a2a = 0;
    for (int i = 0; i < size; i++) a2a += in[i] * (i + 1);
    show_ints("alltoall", &a2a, 1);
    // Rank r sends j + 1 items to rank j; receives r + 1 from each.
    int* scounts = malloc(sizeof(int) * size);
    int* sdispls = malloc(sizeof(int) * size);
    int* rcounts = malloc(sizeof(int) * size);
    int* rdispls = malloc(sizeof(int) * size);
    for (int j = 0, at = 0; j < size; j++) {
        scounts[j] = j + 1;
        sdispls[j] = at;
        at += j + 1;
        rcounts[j] = rank + 1;
        rdispls[j] = j * (rank + 1);
    }
    for (int i = 0; i < size * (size + 1) / 2; i++) out[i] = rank * 1000 + i;
    MPI_Alltoallv(out, scounts, sdispls, MPI_INT, in, rcounts, rdispls, MPI_INT, MPI_COMM_WORLD);
    int a2av = 0;
    for (int i = 0; i < size * (rank + 1); i++) a2av += in[i] * (i % 3 + 1);
    show_ints("alltoallv", &a2av, 1);
    // Blocks large enough to be lent, and the same in place.
    {
        enum { BLOCK = 12000 };
        int* big_out = malloc(sizeof(int) * BLOCK * size);
        int* big_in = malloc(sizeof(int) * BLOCK * size);
        for (int i = 0; i < BLOCK * size; i++) big_out[i] = rank * 7919 + i;
        MPI_Alltoall(big_out, BLOCK, MPI_INT, big_in, BLOCK, MPI_INT, MPI_COMM_WORLD);
        int sums[2] = { checksum(big_in, BLOCK * size), 0 };
        MPI_Alltoall(MPI_IN_PLACE, BLOCK, MPI_INT, big_out, BLOCK, MPI_INT, MPI_COMM_WORLD);
        sums[1] = checksum(big_out, BLOCK * size);
        show_ints("alltoall_large", sums, 2);
        free(big_out);
        free(big_in);
    }

    // Reduce_scatter: rank i gets i + 1 items of the sum.
    int total = size * (size + 1) / 2;
    int* rs_in = malloc(sizeof(int) * total);
    for (int i = 0; i < total; i++) rs_in[i] = i + rank;
    int rs_out[64];
    MPI_Reduce_scatter(rs_in, rs_out, counts, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    int rs_sum = 0;
    for (int i = 0; i <= rank; i++) rs_sum += rs_out[i] * (i + 1);
    show_ints("reduce_scatter", &rs_sum, 1);

    // MAXLOC / MINLOC.
    struct { double value; int index; } dloc = { (rank % 3) * 1.5, rank }, dmax, dmin;
    MPI_Allreduce(&dloc, &dmax, 1, MPI_DOUBLE_INT, MPI_MAXLOC, MPI_COMM_WORLD);
    MPI_Allreduce(&dloc, &dmin, 1, MPI_DOUBLE_INT, MPI_MINLOC, MPI_COMM_WORLD);
    int iloc[4] = { (rank * 7) % 5, rank, -(rank % 2), rank }, imax[4], imin[4];
    MPI_Allreduce(iloc, imax, 2, MPI_2INT, MPI_MAXLOC, MPI_COMM_WORLD);
    MPI_Reduce(iloc, imin, 2, MPI_2INT, MPI_MINLOC, 0, MPI_COMM_WORLD);
    if (rank == 0) {
        printf("maxloc %.1f@%d minloc %.1f@%d 2int max %d@%d %d@%d min %d@%d %d@%d\n",
               dmax.value, dmax.index, dmin.value, dmin.index, imax[0], imax[1], imax[2], imax[3],
               imin[0], imin[1], imin[2], imin[3]);
    }

    // User operations: in rank order when not commutative.
    MPI_Op concat_op, absmax_op;
    MPI_Op_create(concat, 0, &concat_op);
    MPI_Op_create(absmax, 1, &absmax_op);
    int digit[2] = { rank % 9 + 1, (size - rank) % 9 + 1 }, joined[2], joined_all[2];
    MPI_Reduce(digit, joined, 2, MPI_INT, concat_op, 0, MPI_COMM_WORLD);
    MPI_Allreduce(digit, joined_all, 2, MPI_INT, concat_op, MPI_COMM_WORLD);
    // At a root on another host than rank 0's, still in rank order.
    int joined_last[2] = { 0 };
    MPI_Reduce(digit, joined_last, 2, MPI_INT, concat_op, root, MPI_COMM_WORLD);
    if (size > 8) {
        joined_last[0] = joined_last[1] = 0; // more digits than an int holds
    }
    show_ints("user_reduce_at_last", joined_last, 2);
    int signed_value = rank % 2 ? -rank * 3 : rank, largest;
    MPI_Allreduce(&signed_value, &largest, 1, MPI_INT, absmax_op, MPI_COMM_WORLD);
    int user_scan;
    MPI_Scan(&digit[0], &user_scan, 1, MPI_INT, concat_op, MPI_COMM_WORLD);
    if (rank == 0) {
        printf("user ops: concat %d %d\n", joined[0], joined[1]);
    }
    int user_all[4] = { joined_all[0], joined_all[1], largest, user_scan };
    if (size > 8) {
        user_all[0] = user_all[1] = user_all[3] = 0; // more digits than an int holds
    }
    show_ints("user_ops", user_all, 4);
    MPI_Op_free(&concat_op);
    MPI_Op_free(&absmax_op);

    // A contiguous derived type.
    MPI_Datatype triple;
    MPI_Type_contiguous(3, MPI_INT, &triple);
    MPI_Type_commit(&triple);
    int type_size;
    MPI_Type_size(triple, &type_size);
    int tri[3] = { rank, rank + 1, rank + 2 };
    int* tris = malloc(sizeof(int) * 3 * size);
    MPI_Allgather(tri, 1, triple, tris, 3, MPI_INT, MPI_COMM_WORLD);
    int tri_bcast[6] = { 0 };
    if (rank == 0) {
        for (int i = 0; i < 6; i++) tri_bcast[i] = (i + 1) * 11;
    }
    MPI_Bcast(tri_bcast, 2, triple, 0, MPI_COMM_WORLD);
    MPI_Type_free(&triple);
    int tri_all[3] = { tris[3 * size - 1], tri_bcast[5], type_size * 10 + (triple == MPI_DATATYPE_NULL) };
    show_ints("contiguous", tri_all, 3);

    // A duplicate of MPI_COMM_WORLD: its traffic is its own.
    MPI_Comm dup;
    MPI_Comm_dup(MPI_COMM_WORLD, &dup);
    int dup_rank, dup_size, dup_sum;
    MPI_Comm_rank(dup, &dup_rank);
    MPI_Comm_size(dup, &dup_size);
    if (rank == 1) {
        int a = 1, b = 2;
        MPI_Send(&a, 1, MPI_INT, 0, 0, MPI_COMM_WORLD);
        MPI_Send(&b, 1, MPI_INT, 0, 0, dup);
    } else if (rank == 0) {
        int a, b;
        MPI_Recv(&b, 1, MPI_INT, 1, 0, dup, MPI_STATUS_IGNORE);
        MPI_Recv(&a, 1, MPI_INT, 1, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        printf("dup: world got %d, dup got %d\n", a, b);
    }
    MPI_Allreduce(&dup_rank, &dup_sum, 1, MPI_INT, MPI_SUM, dup);
    MPI_Comm_free(&dup);
    MPI_Barrier(MPI_COMM_WORLD);
    int dup_all[3] = { dup_rank, dup_size, dup_sum + (dup == MPI_COMM_NULL) };
    show_ints("dup", dup_all, 3);

    // The environment.
    int initialized, finalized, version, subversion, name_len;
    char name[MPI_MAX_PROCESSOR_NAME];
    MPI_Initialized(&initialized);
    MPI_Get_version(&version, &subversion);
    MPI_Get_processor_name(name, &name_len);
    double t0 = MPI_Wtime(), t1 = MPI_Wtime();
    if (rank == 0) {
        printf("env: initialized %d version>=3 %d name %d time %d tick %d\n", initialized, version >= 3,
               name_len > 0 && (int)strlen(name) == name_len, t1 >= t0, MPI_Wtick() > 0);
    }
    MPI_Finalize();
    MPI_Finalized(&finalized);
    if (rank == 0) printf("finalized %d\n", finalized);
    return 0;
}
