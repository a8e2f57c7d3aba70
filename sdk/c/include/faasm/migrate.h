/*
 * faasm-rs guest SDK: Faasm's migration points (used by MPI programs).
 *
 * In Faasm, __faasm_migrate_point(f, arg) lets the runtime move the rank to
 * another host, resuming there in f(arg). A faasm-rs call runs on one host
 * from start to end, so the point never migrates: it returns at once and the
 * function carries on where it is.
 */
#ifndef FAASM_MIGRATE_H
#define FAASM_MIGRATE_H

#include "faasm/host_interface.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Where a migrated function resumes. */
typedef void (*FaasmMigrateEntryPoint)(int);

static inline void __faasm_migrate_point(FaasmMigrateEntryPoint f, int arg)
{
    (void)f;
    (void)arg;
}

#ifdef __cplusplus
}
#endif

#endif /* FAASM_MIGRATE_H */
