/*
 * faasm-rs MPI: the MPI C API for functions compiled with `faasm cc` (SPEC section 9,
 * docs/mpi.md). Each function is a host call imported from module "faasm_mpi" under its
 * standard name; the host runs the world (ranks are calls of the same function).
 *
 * Handles are integers (as in MPICH). Errors are fatal (MPI_ERRORS_ARE_FATAL): a call the
 * host cannot honour fails the whole world with a message naming it. Functions declared at
 * the end under "not supported" compile, and fail the world if they are called.
 */
#ifndef FAASM_MPI_H
#define FAASM_MPI_H

#include <stddef.h>
#include <stdlib.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MPI_VERSION 3
#define MPI_SUBVERSION 1

typedef int MPI_Comm;
typedef int MPI_Datatype;
typedef int MPI_Op;
typedef int MPI_Request;
typedef int MPI_Errhandler;
typedef int MPI_Info;
typedef int MPI_Group;
typedef long MPI_Aint;
typedef long long MPI_Offset;
typedef long long MPI_Count;

typedef struct MPI_Status {
    int MPI_SOURCE;
    int MPI_TAG;
    int MPI_ERROR;
    int _count_bytes;
    int _cancelled;
} MPI_Status;

typedef void MPI_User_function(void* invec, void* inoutvec, int* len, MPI_Datatype* datatype);

/* Return codes (every call returns MPI_SUCCESS; errors end the world). */
#define MPI_SUCCESS 0
#define MPI_ERR_BUFFER 1
#define MPI_ERR_COUNT 2
#define MPI_ERR_TYPE 3
#define MPI_ERR_TAG 4
#define MPI_ERR_COMM 5
#define MPI_ERR_RANK 6
#define MPI_ERR_ROOT 7
#define MPI_ERR_OP 9
#define MPI_ERR_ARG 12
#define MPI_ERR_UNKNOWN 13
#define MPI_ERR_OTHER 15
#define MPI_ERR_INTERN 16
#define MPI_ERR_LASTCODE 100

/* Special values. */
#define MPI_ANY_SOURCE (-1)
#define MPI_ANY_TAG (-1)
#define MPI_PROC_NULL (-2)
#define MPI_ROOT (-3)
#define MPI_UNDEFINED (-32766)
#define MPI_TAG_UB_VALUE 0x7fffffff
#define MPI_MAX_PROCESSOR_NAME 256
#define MPI_MAX_ERROR_STRING 256
#define MPI_STATUS_IGNORE ((MPI_Status*)0)
#define MPI_STATUSES_IGNORE ((MPI_Status*)0)
#define MPI_IN_PLACE ((void*)-1)
#define MPI_BOTTOM ((void*)0)

#define MPI_THREAD_SINGLE 0
#define MPI_THREAD_FUNNELED 1
#define MPI_THREAD_SERIALIZED 2
#define MPI_THREAD_MULTIPLE 3

/* Communicators. */
#define MPI_COMM_NULL 0
#define MPI_COMM_WORLD 1
#define MPI_IDENT 0
#define MPI_CONGRUENT 1
#define MPI_SIMILAR 2
#define MPI_UNEQUAL 3
#define MPI_CART 1
#define MPI_GRAPH 2

#define MPI_REQUEST_NULL 0
#define MPI_INFO_NULL 0
#define MPI_ERRORS_ARE_FATAL 1
#define MPI_ERRORS_RETURN 2

/* Datatypes (sizes are wasm32's: long is 4 bytes). */
#define MPI_DATATYPE_NULL 0
#define MPI_CHAR 1
#define MPI_SIGNED_CHAR 2
#define MPI_UNSIGNED_CHAR 3
#define MPI_BYTE 4
#define MPI_SHORT 5
#define MPI_UNSIGNED_SHORT 6
#define MPI_INT 7
#define MPI_UNSIGNED 8
#define MPI_LONG 9
#define MPI_UNSIGNED_LONG 10
#define MPI_LONG_LONG 11
#define MPI_LONG_LONG_INT MPI_LONG_LONG
#define MPI_UNSIGNED_LONG_LONG 12
#define MPI_FLOAT 13
#define MPI_DOUBLE 14
#define MPI_C_BOOL 15
#define MPI_INT8_T 16
#define MPI_INT16_T 17
#define MPI_INT32_T 18
#define MPI_INT64_T 19
#define MPI_UINT8_T 20
#define MPI_UINT16_T 21
#define MPI_UINT32_T 22
#define MPI_UINT64_T 23
#define MPI_FLOAT_INT 24
#define MPI_DOUBLE_INT 25
#define MPI_LONG_INT 26
#define MPI_2INT 27
#define MPI_SHORT_INT 28
#define MPI_WCHAR 29
#define MPI_LONG_DOUBLE 30
#define MPI_PACKED 31

/* Reduction operations. */
#define MPI_OP_NULL 0
#define MPI_MAX 1
#define MPI_MIN 2
#define MPI_SUM 3
#define MPI_PROD 4
#define MPI_LAND 5
#define MPI_BAND 6
#define MPI_LOR 7
#define MPI_BOR 8
#define MPI_LXOR 9
#define MPI_BXOR 10
#define MPI_MAXLOC 11
#define MPI_MINLOC 12

#define FAASM_MPI(name) __attribute__((import_module("faasm_mpi"), import_name(#name)))

/* Scratch the host borrows from the guest to run user-defined reduction operations. */
__attribute__((weak, export_name("__faasm_mpi_alloc"))) void* __faasm_mpi_alloc(int size)
{
    return malloc((size_t)size);
}
__attribute__((weak, export_name("__faasm_mpi_free"))) void __faasm_mpi_free(void* ptr)
{
    free(ptr);
}

/* ---- Environment ---- */
FAASM_MPI(MPI_Init) int MPI_Init(int* argc, char*** argv);
FAASM_MPI(MPI_Init_thread) int MPI_Init_thread(int* argc, char*** argv, int required, int* provided);
FAASM_MPI(MPI_Initialized) int MPI_Initialized(int* flag);
FAASM_MPI(MPI_Finalize) int MPI_Finalize(void);
FAASM_MPI(MPI_Finalized) int MPI_Finalized(int* flag);
FAASM_MPI(MPI_Abort) int MPI_Abort(MPI_Comm comm, int errorcode);
FAASM_MPI(MPI_Get_processor_name) int MPI_Get_processor_name(char* name, int* resultlen);
FAASM_MPI(MPI_Get_version) int MPI_Get_version(int* version, int* subversion);
FAASM_MPI(MPI_Query_thread) int MPI_Query_thread(int* provided);
FAASM_MPI(MPI_Wtime) double MPI_Wtime(void);
FAASM_MPI(MPI_Wtick) double MPI_Wtick(void);

/* ---- Communicators ---- */
FAASM_MPI(MPI_Comm_size) int MPI_Comm_size(MPI_Comm comm, int* size);
FAASM_MPI(MPI_Comm_rank) int MPI_Comm_rank(MPI_Comm comm, int* rank);
FAASM_MPI(MPI_Comm_dup) int MPI_Comm_dup(MPI_Comm comm, MPI_Comm* newcomm);
FAASM_MPI(MPI_Comm_free) int MPI_Comm_free(MPI_Comm* comm);

/* ---- Point to point ---- */
FAASM_MPI(MPI_Send) int MPI_Send(const void* buf, int count, MPI_Datatype datatype, int dest, int tag, MPI_Comm comm);
FAASM_MPI(MPI_Ssend) int MPI_Ssend(const void* buf, int count, MPI_Datatype datatype, int dest, int tag, MPI_Comm comm);
FAASM_MPI(MPI_Rsend) int MPI_Rsend(const void* buf, int count, MPI_Datatype datatype, int dest, int tag, MPI_Comm comm);
FAASM_MPI(MPI_Recv) int MPI_Recv(void* buf, int count, MPI_Datatype datatype, int source, int tag, MPI_Comm comm, MPI_Status* status);
FAASM_MPI(MPI_Sendrecv) int MPI_Sendrecv(const void* sendbuf, int sendcount, MPI_Datatype sendtype, int dest, int sendtag,
                                         void* recvbuf, int recvcount, MPI_Datatype recvtype, int source, int recvtag,
                                         MPI_Comm comm, MPI_Status* status);
FAASM_MPI(MPI_Sendrecv_replace) int MPI_Sendrecv_replace(void* buf, int count, MPI_Datatype datatype, int dest, int sendtag,
                                                         int source, int recvtag, MPI_Comm comm, MPI_Status* status);
FAASM_MPI(MPI_Isend) int MPI_Isend(const void* buf, int count, MPI_Datatype datatype, int dest, int tag, MPI_Comm comm, MPI_Request* request);
FAASM_MPI(MPI_Irecv) int MPI_Irecv(void* buf, int count, MPI_Datatype datatype, int source, int tag, MPI_Comm comm, MPI_Request* request);
FAASM_MPI(MPI_Wait) int MPI_Wait(MPI_Request* request, MPI_Status* status);
FAASM_MPI(MPI_Waitall) int MPI_Waitall(int count, MPI_Request requests[], MPI_Status statuses[]);
FAASM_MPI(MPI_Waitany) int MPI_Waitany(int count, MPI_Request requests[], int* index, MPI_Status* status);
FAASM_MPI(MPI_Test) int MPI_Test(MPI_Request* request, int* flag, MPI_Status* status);
FAASM_MPI(MPI_Request_free) int MPI_Request_free(MPI_Request* request);
FAASM_MPI(MPI_Get_count) int MPI_Get_count(const MPI_Status* status, MPI_Datatype datatype, int* count);
FAASM_MPI(MPI_Probe) int MPI_Probe(int source, int tag, MPI_Comm comm, MPI_Status* status);
FAASM_MPI(MPI_Iprobe) int MPI_Iprobe(int source, int tag, MPI_Comm comm, int* flag, MPI_Status* status);

/* ---- Collectives ---- */
FAASM_MPI(MPI_Barrier) int MPI_Barrier(MPI_Comm comm);
FAASM_MPI(MPI_Bcast) int MPI_Bcast(void* buffer, int count, MPI_Datatype datatype, int root, MPI_Comm comm);
FAASM_MPI(MPI_Scatter) int MPI_Scatter(const void* sendbuf, int sendcount, MPI_Datatype sendtype,
                                       void* recvbuf, int recvcount, MPI_Datatype recvtype, int root, MPI_Comm comm);
FAASM_MPI(MPI_Scatterv) int MPI_Scatterv(const void* sendbuf, const int sendcounts[], const int displs[], MPI_Datatype sendtype,
                                         void* recvbuf, int recvcount, MPI_Datatype recvtype, int root, MPI_Comm comm);
FAASM_MPI(MPI_Gather) int MPI_Gather(const void* sendbuf, int sendcount, MPI_Datatype sendtype,
                                     void* recvbuf, int recvcount, MPI_Datatype recvtype, int root, MPI_Comm comm);
FAASM_MPI(MPI_Gatherv) int MPI_Gatherv(const void* sendbuf, int sendcount, MPI_Datatype sendtype,
                                       void* recvbuf, const int recvcounts[], const int displs[], MPI_Datatype recvtype,
                                       int root, MPI_Comm comm);
FAASM_MPI(MPI_Allgather) int MPI_Allgather(const void* sendbuf, int sendcount, MPI_Datatype sendtype,
                                           void* recvbuf, int recvcount, MPI_Datatype recvtype, MPI_Comm comm);
FAASM_MPI(MPI_Allgatherv) int MPI_Allgatherv(const void* sendbuf, int sendcount, MPI_Datatype sendtype,
                                             void* recvbuf, const int recvcounts[], const int displs[],
                                             MPI_Datatype recvtype, MPI_Comm comm);
FAASM_MPI(MPI_Reduce) int MPI_Reduce(const void* sendbuf, void* recvbuf, int count, MPI_Datatype datatype, MPI_Op op,
                                     int root, MPI_Comm comm);
FAASM_MPI(MPI_Allreduce) int MPI_Allreduce(const void* sendbuf, void* recvbuf, int count, MPI_Datatype datatype, MPI_Op op,
                                           MPI_Comm comm);
FAASM_MPI(MPI_Reduce_scatter) int MPI_Reduce_scatter(const void* sendbuf, void* recvbuf, const int recvcounts[],
                                                     MPI_Datatype datatype, MPI_Op op, MPI_Comm comm);
FAASM_MPI(MPI_Scan) int MPI_Scan(const void* sendbuf, void* recvbuf, int count, MPI_Datatype datatype, MPI_Op op, MPI_Comm comm);
FAASM_MPI(MPI_Alltoall) int MPI_Alltoall(const void* sendbuf, int sendcount, MPI_Datatype sendtype,
                                         void* recvbuf, int recvcount, MPI_Datatype recvtype, MPI_Comm comm);
FAASM_MPI(MPI_Alltoallv) int MPI_Alltoallv(const void* sendbuf, const int sendcounts[], const int sdispls[], MPI_Datatype sendtype,
                                           void* recvbuf, const int recvcounts[], const int rdispls[], MPI_Datatype recvtype,
                                           MPI_Comm comm);
FAASM_MPI(MPI_Op_create) int MPI_Op_create(MPI_User_function* function, int commute, MPI_Op* op);
FAASM_MPI(MPI_Op_free) int MPI_Op_free(MPI_Op* op);

/* ---- Datatypes ---- */
FAASM_MPI(MPI_Type_size) int MPI_Type_size(MPI_Datatype datatype, int* size);
FAASM_MPI(MPI_Type_contiguous) int MPI_Type_contiguous(int count, MPI_Datatype oldtype, MPI_Datatype* newtype);
FAASM_MPI(MPI_Type_commit) int MPI_Type_commit(MPI_Datatype* datatype);
FAASM_MPI(MPI_Type_free) int MPI_Type_free(MPI_Datatype* datatype);

/* ---- Cartesian topologies (any number of dimensions) ---- */
FAASM_MPI(MPI_Dims_create) int MPI_Dims_create(int nnodes, int ndims, int dims[]);
FAASM_MPI(MPI_Cart_create) int MPI_Cart_create(MPI_Comm comm, int ndims, const int dims[], const int periods[], int reorder,
                                               MPI_Comm* comm_cart);
FAASM_MPI(MPI_Cart_rank) int MPI_Cart_rank(MPI_Comm comm, const int coords[], int* rank);
FAASM_MPI(MPI_Cart_coords) int MPI_Cart_coords(MPI_Comm comm, int rank, int maxdims, int coords[]);
FAASM_MPI(MPI_Cart_get) int MPI_Cart_get(MPI_Comm comm, int maxdims, int dims[], int periods[], int coords[]);
FAASM_MPI(MPI_Cart_shift) int MPI_Cart_shift(MPI_Comm comm, int direction, int disp, int* rank_source, int* rank_dest);
FAASM_MPI(MPI_Cartdim_get) int MPI_Cartdim_get(MPI_Comm comm, int* ndims);

/* ---- Not supported: these compile, and fail the world, naming themselves, if called ---- */
FAASM_MPI(MPI_Comm_split) int MPI_Comm_split(MPI_Comm comm, int color, int key, MPI_Comm* newcomm);
FAASM_MPI(MPI_Comm_create) int MPI_Comm_create(MPI_Comm comm, MPI_Group group, MPI_Comm* newcomm);
FAASM_MPI(MPI_Comm_group) int MPI_Comm_group(MPI_Comm comm, MPI_Group* group);
FAASM_MPI(MPI_Comm_compare) int MPI_Comm_compare(MPI_Comm comm1, MPI_Comm comm2, int* result);
FAASM_MPI(MPI_Comm_set_errhandler) int MPI_Comm_set_errhandler(MPI_Comm comm, MPI_Errhandler errhandler);
FAASM_MPI(MPI_Bsend) int MPI_Bsend(const void* buf, int count, MPI_Datatype datatype, int dest, int tag, MPI_Comm comm);
FAASM_MPI(MPI_Issend) int MPI_Issend(const void* buf, int count, MPI_Datatype datatype, int dest, int tag, MPI_Comm comm, MPI_Request* request);
FAASM_MPI(MPI_Testall) int MPI_Testall(int count, MPI_Request requests[], int* flag, MPI_Status statuses[]);
FAASM_MPI(MPI_Testany) int MPI_Testany(int count, MPI_Request requests[], int* index, int* flag, MPI_Status* status);
FAASM_MPI(MPI_Waitsome) int MPI_Waitsome(int incount, MPI_Request requests[], int* outcount, int indices[], MPI_Status statuses[]);
FAASM_MPI(MPI_Cancel) int MPI_Cancel(MPI_Request* request);
FAASM_MPI(MPI_Exscan) int MPI_Exscan(const void* sendbuf, void* recvbuf, int count, MPI_Datatype datatype, MPI_Op op, MPI_Comm comm);
FAASM_MPI(MPI_Ibcast) int MPI_Ibcast(void* buffer, int count, MPI_Datatype datatype, int root, MPI_Comm comm, MPI_Request* request);
FAASM_MPI(MPI_Iallreduce) int MPI_Iallreduce(const void* sendbuf, void* recvbuf, int count, MPI_Datatype datatype, MPI_Op op,
                                             MPI_Comm comm, MPI_Request* request);
FAASM_MPI(MPI_Type_vector) int MPI_Type_vector(int count, int blocklength, int stride, MPI_Datatype oldtype, MPI_Datatype* newtype);
FAASM_MPI(MPI_Type_indexed) int MPI_Type_indexed(int count, const int blocklengths[], const int displs[], MPI_Datatype oldtype,
                                                 MPI_Datatype* newtype);
FAASM_MPI(MPI_Type_create_struct) int MPI_Type_create_struct(int count, const int blocklengths[], const MPI_Aint displs[],
                                                             const MPI_Datatype types[], MPI_Datatype* newtype);
FAASM_MPI(MPI_Pack) int MPI_Pack(const void* inbuf, int incount, MPI_Datatype datatype, void* outbuf, int outsize, int* position,
                                 MPI_Comm comm);
FAASM_MPI(MPI_Unpack) int MPI_Unpack(const void* inbuf, int insize, int* position, void* outbuf, int outcount,
                                     MPI_Datatype datatype, MPI_Comm comm);
FAASM_MPI(MPI_Win_create) int MPI_Win_create(void* base, MPI_Aint size, int disp_unit, MPI_Info info, MPI_Comm comm, int* win);
FAASM_MPI(MPI_Win_fence) int MPI_Win_fence(int assert_, int win);
FAASM_MPI(MPI_Win_free) int MPI_Win_free(int* win);
FAASM_MPI(MPI_Put) int MPI_Put(const void* origin, int origin_count, MPI_Datatype origin_type, int target_rank, MPI_Aint target_disp,
                               int target_count, MPI_Datatype target_type, int win);
FAASM_MPI(MPI_Get) int MPI_Get(void* origin, int origin_count, MPI_Datatype origin_type, int target_rank, MPI_Aint target_disp,
                               int target_count, MPI_Datatype target_type, int win);

#undef FAASM_MPI

#ifdef __cplusplus
}
#endif

#endif
