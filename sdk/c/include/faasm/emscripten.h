/*
 * faasm-rs guest SDK: the Emscripten/newlib libc extras Faasm's toolchain
 * provides to ported code (Faasm's libemscripten).
 */
#ifndef FAASM_EMSCRIPTEN_H
#define FAASM_EMSCRIPTEN_H

#include <stdarg.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* newlib's integer-only sprintf: here simply sprintf. */
static inline int siprintf(char* dest, const char* format, ...)
{
    va_list args;
    va_start(args, format);
    int n = vsprintf(dest, format, args);
    va_end(args);
    return n;
}

#ifdef __cplusplus
}
#endif

#endif /* FAASM_EMSCRIPTEN_H */
