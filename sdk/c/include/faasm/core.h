/*
 * faasm-rs guest SDK: Faasm's C API.
 *
 * Same names and signatures as Faasm's libfaasm, so Faasm function sources
 * compile unchanged. Everything is `static inline` over the host imports in
 * <faasm/host_interface.h>: there is no guest library to link.
 */
#ifndef FAASM_CORE_H
#define FAASM_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "faasm/host_interface.h"

#ifdef __cplusplus
#define BYTES(arr) reinterpret_cast<uint8_t*>(arr)
#define FAASM_C_LINKAGE extern "C"
#else
#define BYTES(arr) ((uint8_t*)(arr))
#define FAASM_C_LINKAGE
#endif

/* A function of this module that can be chained with faasmChain. */
typedef int (*FaasmFuncPtr)();

/*
 * FAASM_ZYGOTE() { ...; return 0; } defines the Proto-Faaslet initialiser:
 * it runs once at upload and every call starts from the memory it leaves.
 */
#define FAASM_ZYGOTE()                                                   \
    FAASM_C_LINKAGE __attribute__((export_name("_faasm_zygote"))) int    \
    _faasm_zygote(void)

/* Older Faasm entry-point macros: `FAASM_MAIN_FUNC() { ... }` is main. */
#define FAASM_MAIN_FUNC int main
#define FAASM_FUNC(name, idx) int name(void)

/* ---- Input and output ---- */

/* Size of this call's input in bytes (0 if none). */
static inline long faasmGetInputSize(void)
{
    unsigned char unused[1];
    return __faasm_read_input(unused, 0);
}

/* Copy up to bufferLen bytes of the input into buffer; return the count. */
static inline long faasmGetInput(uint8_t* buffer, long bufferLen)
{
    if (bufferLen <= 0) {
        return 0;
    }
    return __faasm_read_input(buffer, (int)bufferLen);
}

/* Set this call's output (replaces any earlier output). */
static inline void faasmSetOutput(const uint8_t* output, long outputLen)
{
    __faasm_write_output(output, (int)outputLen);
}

/* ---- Chaining ---- */

/* Call another function of the same user; return the call id. */
static inline unsigned int faasmChainNamed(const char* name,
                                           const uint8_t* inputData,
                                           long inputDataSize)
{
    return __faasm_chain_name(name, inputData, (int)inputDataSize);
}

/* Call funcPtr of this same module in a new call; return the call id. On
 * wasm32 a function pointer's value is its index in the function table. */
static inline unsigned int faasmChain(FaasmFuncPtr funcPtr,
                                      const uint8_t* inputData,
                                      long inputDataSize)
{
    return __faasm_chain_ptr((int)(intptr_t)funcPtr, inputData,
                             (int)inputDataSize);
}

/* Block until the call ends; return its return value. */
static inline unsigned int faasmAwaitCall(unsigned int callId)
{
    return (unsigned int)__faasm_await_call(callId);
}

/* Block until the call ends, then hand back its output in a malloc'd,
 * NUL-terminated buffer (free it yourself). Returns the call's return value. */
static inline unsigned int faasmAwaitCallOutput(unsigned int callId,
                                                char** output,
                                                int* outputLen)
{
    int ret = __faasm_await_call(callId);
    unsigned char unused[1];
    int size = __faasm_read_call_output(callId, unused, 0);
    if (size < 0) {
        size = 0;
    }
    char* buf = (char*)malloc((size_t)size + 1);
    int n = 0;
    if (buf != NULL && size > 0) {
        n = __faasm_read_call_output(callId, (unsigned char*)buf, size);
    }
    if (buf != NULL) {
        buf[n] = '\0';
    }
    if (output != NULL) {
        *output = buf;
    } else {
        free(buf);
    }
    if (outputLen != NULL) {
        *outputLen = n;
    }
    return (unsigned int)ret;
}

/* Chain funcPtr nFuncs times with the string as input and await them all.
 * Returns 0 if every call succeeded, else 1. */
static inline unsigned int faasmChainBatch(FaasmFuncPtr funcPtr,
                                           const char* inputData,
                                           int nFuncs)
{
    if (nFuncs <= 0) {
        return 0;
    }
    unsigned int* ids = (unsigned int*)malloc(sizeof(unsigned int) * (size_t)nFuncs);
    if (ids == NULL) {
        return 1;
    }
    long len = (long)strlen(inputData);
    for (int i = 0; i < nFuncs; i++) {
        ids[i] = faasmChain(funcPtr, (const uint8_t*)inputData, len);
    }
    unsigned int failed = 0;
    for (int i = 0; i < nFuncs; i++) {
        if (faasmAwaitCall(ids[i]) != 0) {
            failed = 1;
        }
    }
    free(ids);
    return failed;
}

/* ---- State ---- */

/* Size of the value at key (0 if absent). */
static inline size_t faasmReadStateSize(const char* key)
{
    unsigned char unused[1];
    return (size_t)__faasm_read_state(key, unused, 0);
}

/* Copy the value into buffer; return its full size. */
static inline long faasmReadState(const char* key, unsigned char* buffer,
                                  long bufferLen)
{
    return __faasm_read_state(key, buffer, (int)bufferLen);
}

/* Pointer to the host-local copy of the whole value. */
static inline uint8_t* faasmReadStatePtr(const char* key, long totalLen)
{
    return __faasm_read_state_ptr(key, (int)totalLen);
}

static inline void faasmReadStateOffset(const char* key, long totalLen,
                                        long offset, uint8_t* buffer,
                                        long bufferLen)
{
    __faasm_read_state_offset(key, (int)totalLen, (int)offset, buffer,
                              (int)bufferLen);
}

static inline uint8_t* faasmReadStateOffsetPtr(const char* key, long totalLen,
                                               long offset, long len)
{
    return __faasm_read_state_offset_ptr(key, (int)totalLen, (int)offset,
                                         (int)len);
}

/* Overwrite the local value (dirty until pushed). */
static inline void faasmWriteState(const char* key, const uint8_t* data,
                                   long dataLen)
{
    __faasm_write_state(key, data, (int)dataLen);
}

static inline void faasmWriteStateOffset(const char* key, long totalLen,
                                         long offset, const uint8_t* data,
                                         long dataLen)
{
    __faasm_write_state_offset(key, (int)totalLen, (int)offset, data,
                               (int)dataLen);
}

/* Set the value to a file's bytes; return its length. */
static inline unsigned long faasmWriteStateFromFile(const char* key,
                                                    const char* filePath)
{
    return (unsigned long)__faasm_write_state_from_file(key, filePath);
}

/* Mark a value (or a range of it) written through a pointer as dirty. */
static inline void faasmFlagStateDirty(const char* key, long totalLen)
{
    __faasm_flag_state_dirty(key, (int)totalLen);
}

static inline void faasmFlagStateOffsetDirty(const char* key, long totalLen,
                                             long offset, long len)
{
    __faasm_flag_state_offset_dirty(key, (int)totalLen, (int)offset, (int)len);
}

/* Send the local value (or just its dirty ranges) to the global tier. */
static inline void faasmPushState(const char* key)
{
    __faasm_push_state(key);
}

static inline void faasmPushStatePartial(const char* key)
{
    __faasm_push_state_partial(key);
}

static inline void faasmPushStatePartialMask(const char* key,
                                             const char* maskKey)
{
    __faasm_push_state_partial_mask(key, maskKey);
}

/* Refresh the local copy from the global tier. */
static inline void faasmPullState(const char* key, long stateLen)
{
    __faasm_pull_state(key, (int)stateLen);
}

/* Append-only state: add one element, read the first nElems, clear. */
static inline void faasmAppendState(const char* key, const uint8_t* data,
                                    long dataLen)
{
    __faasm_append_state(key, data, (int)dataLen);
}

static inline void faasmReadAppendedState(const char* key, uint8_t* buffer,
                                          long bufferLen, long nElems)
{
    __faasm_read_appended_state(key, buffer, (int)bufferLen, (int)nElems);
}

static inline void faasmClearAppendedState(const char* key)
{
    __faasm_clear_appended_state(key);
}

/* Reader/writer locks on a key. */
static inline void faasmLockStateRead(const char* key)
{
    __faasm_lock_state_read(key);
}

static inline void faasmUnlockStateRead(const char* key)
{
    __faasm_unlock_state_read(key);
}

static inline void faasmLockStateWrite(const char* key)
{
    __faasm_lock_state_write(key);
}

static inline void faasmUnlockStateWrite(const char* key)
{
    __faasm_unlock_state_write(key);
}

/* Older Faasm's "global" lock: the write lock is exclusive across hosts. */
static inline void faasmLockStateGlobal(const char* key)
{
    __faasm_lock_state_write(key);
}

static inline void faasmUnlockStateGlobal(const char* key)
{
    __faasm_unlock_state_write(key);
}

/* ---- Python runner ---- */

#define FAASM_PY_NAME_MAX 256

/* The host writes a NUL-terminated name into a zeroed, malloc'd buffer. */
static inline char* faasmGetPythonUser(void)
{
    char* buf = (char*)calloc(FAASM_PY_NAME_MAX, 1);
    if (buf != NULL) {
        __faasm_get_py_user((unsigned char*)buf, FAASM_PY_NAME_MAX - 1);
    }
    return buf;
}

static inline char* faasmGetPythonFunc(void)
{
    char* buf = (char*)calloc(FAASM_PY_NAME_MAX, 1);
    if (buf != NULL) {
        __faasm_get_py_func((unsigned char*)buf, FAASM_PY_NAME_MAX - 1);
    }
    return buf;
}

static inline char* faasmGetPythonEntry(void)
{
    char* buf = (char*)calloc(FAASM_PY_NAME_MAX, 1);
    if (buf != NULL) {
        __faasm_get_py_entry((unsigned char*)buf, FAASM_PY_NAME_MAX - 1);
    }
    return buf;
}

/* Chain this Python function, running entry(input); return the call id. */
static inline unsigned int faasmChainPy(const char* entry,
                                        const uint8_t* inputData,
                                        long inputDataSize)
{
    return __faasm_chain_py(entry, inputData, (int)inputDataSize);
}

/* ---- Misc ---- */

/* 1 if the configuration flag is on, else 0. */
static inline unsigned int getConfFlag(const char* key)
{
    return (unsigned int)__faasm_conf_flag(key);
}

/* Ask the host to log the current call stack (see __faasm_backtrace). */
static inline void faasmBacktrace(const int depth)
{
    __faasm_backtrace(depth);
}

#ifdef __cplusplus
/* C++ convenience: Faasm's newer API takes char buffers for input/output. */
static inline long faasmGetInput(char* buffer, long bufferLen)
{
    return faasmGetInput(reinterpret_cast<uint8_t*>(buffer), bufferLen);
}

static inline void faasmSetOutput(const char* output, long outputLen)
{
    faasmSetOutput(reinterpret_cast<const uint8_t*>(output), outputLen);
}

static inline void faasmSetOutput(decltype(nullptr), long outputLen)
{
    faasmSetOutput(static_cast<const uint8_t*>(nullptr), outputLen);
}
#endif

#endif /* FAASM_CORE_H */
