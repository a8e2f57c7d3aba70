/*
 * faasm-rs guest SDK: Faasm's state helpers (C++, namespace faasm).
 */
#ifndef FAASM_STATE_H
#define FAASM_STATE_H

#include <stddef.h>

#include "faasm/core.h"

#define BIT_MASK_8 0xFF
#define BIT_MASK_32 0xFFFFFFFF

#ifdef __cplusplus

namespace faasm {

/* In a mask of 32-bit words (for faasmPushStatePartialMask), mark the
 * double at index idx of the masked value as changed (both of its words). */
inline void maskDouble(unsigned int* maskArray, unsigned long idx)
{
    maskArray[2 * idx] |= BIT_MASK_32;
    maskArray[2 * idx + 1] |= BIT_MASK_32;
}

/* Set the value at key to stateLen zero bytes and push it. */
inline void zeroState(const char* key, size_t stateLen)
{
    uint8_t* zeros = (uint8_t*)calloc(stateLen > 0 ? stateLen : 1, 1);
    if (zeros == NULL) {
        return;
    }
    faasmWriteState(key, zeros, (long)stateLen);
    faasmPushState(key);
    free(zeros);
}

} // namespace faasm

#endif /* __cplusplus */

#endif /* FAASM_STATE_H */
