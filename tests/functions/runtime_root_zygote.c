// runtime_root.c as a Proto-Faaslet: its zygote reads the environment and /etc at upload, and
// every call, started from the snapshot, must still see both (wasi-libc keeps its own copies).
#define ZYGOTE
#include "runtime_root.c"
