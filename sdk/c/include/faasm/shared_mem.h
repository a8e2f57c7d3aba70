/*
 * faasm-rs guest SDK: Faasm's shared-memory markup for OpenMP code.
 *
 * In Faasm these calls tell the runtime how to merge the memory of threads
 * that ran on other hosts (FAASM_REDUCE before an OpenMP reduction) and
 * guard host-local critical sections. A faasm-rs call runs in one instance
 * with one thread, so there is nothing to merge or guard: they are no-ops and
 * the code around them runs as written.
 */
#ifndef FAASM_SHARED_MEM_H
#define FAASM_SHARED_MEM_H

#include "faasm/host_interface.h"

/* Variable types (Faasm's numbering). */
#define FAASM_TYPE_RAW 0
#define FAASM_TYPE_BOOL 1
#define FAASM_TYPE_INT 2
#define FAASM_TYPE_LONG 3
#define FAASM_TYPE_FLOAT 4
#define FAASM_TYPE_DOUBLE 5

/* Reduction operations (Faasm's numbering). */
#define FAASM_OP_OVERWRITE 0
#define FAASM_OP_SUM 1
#define FAASM_OP_PRODUCT 2
#define FAASM_OP_SUBTRACT 3
#define FAASM_OP_MAX 4
#define FAASM_OP_MIN 5

#ifdef __cplusplus
extern "C" {
#endif

/* Declare that threads reduce `var` with reduceOp: nothing to merge here. */
static inline void __faasm_sm_reduce(void* var, int varType, int reduceOp,
                                     int currentBatch)
{
    (void)var;
    (void)varType;
    (void)reduceOp;
    (void)currentBatch;
}

/* Enter / leave a host-local critical section: one thread, nothing to lock. */
static inline void __faasm_sm_critical_local(void) {}

static inline void __faasm_sm_critical_local_end(void) {}

#ifdef __cplusplus
}
#endif

/* Like Faasm's, these macros end in their own semicolon. */
#define FAASM_REDUCE(var, type, op)                                          \
    __faasm_sm_reduce((void*)&(var), (type), (op), 0);

#define FAASM_REDUCE_INNER(var, type, op)                                    \
    __faasm_sm_reduce((void*)&(var), (type), (op), 1);

#define FAASM_START_CRITICAL_LOCAL() __faasm_sm_critical_local();

#define FAASM_END_CRITICAL_LOCAL() __faasm_sm_critical_local_end();

#define FAASM_CRITICAL_LOCAL(op)                                             \
    __faasm_sm_critical_local();                                             \
    {                                                                        \
        op;                                                                  \
    }                                                                        \
    __faasm_sm_critical_local_end();

#define FAASM_ATOMIC_INCR(var)                                               \
    __faasm_sm_reduce((void*)&(var), FAASM_TYPE_INT, FAASM_OP_SUM, 1);       \
    FAASM_CRITICAL_LOCAL((var)++)

#define FAASM_ATOMIC_INCR_BY(var, value)                                     \
    __faasm_sm_reduce((void*)&(var), FAASM_TYPE_INT, FAASM_OP_SUM, 1);       \
    FAASM_CRITICAL_LOCAL((var) += (value))

#endif /* FAASM_SHARED_MEM_H */
