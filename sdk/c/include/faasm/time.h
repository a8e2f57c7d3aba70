/*
 * faasm-rs guest SDK: Faasm's timing helpers.
 *
 * FAASM_PROF_START(name) ... FAASM_PROF_END(name) time a block and print
 * "TIME: name <milliseconds>" on stdout. As in Faasm, in wasm they only do so
 * when compiled with -DWASM_PROF=1, and expand to nothing otherwise. They use
 * clock(), which `faasm cc` enables (wasi-libc's process-clock emulation).
 *
 * C++: faasm::getSecondsSinceEpoch(), the wall-clock time in seconds.
 */
#ifndef FAASM_TIME_H
#define FAASM_TIME_H

#include <stdio.h>
#include <time.h>

#if (defined(WASM_PROF) && WASM_PROF == 1) || !defined(__wasm__)
#define FAASM_PROF_START(profVar) clock_t profVar = clock();
#define FAASM_PROF_END(profVar)                                              \
    printf("TIME: %s %f\n", #profVar,                                        \
           (double)(clock() - (profVar)) * 1000.0 / CLOCKS_PER_SEC);
#else
#define FAASM_PROF_START(profVar)
#define FAASM_PROF_END(profVar)
#endif

#ifdef __cplusplus
namespace faasm {

/* Seconds since the Unix epoch, with sub-second precision. */
inline double getSecondsSinceEpoch()
{
    struct timespec now;
    if (clock_gettime(CLOCK_REALTIME, &now) != 0) {
        return 0.0;
    }
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

} // namespace faasm
#endif /* __cplusplus */

#endif /* FAASM_TIME_H */
