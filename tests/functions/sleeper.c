// Sleeps for the number of milliseconds in its input with nanosleep (a WASI clock wait); the
// output is how long the sleep took by the guest's monotonic clock, in milliseconds.
#include <faasm/faasm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int main(void)
{
    char input[32] = { 0 };
    faasmGetInput((uint8_t*)input, sizeof(input) - 1);
    long ms = atol(input);

    struct timespec start, end;
    clock_gettime(CLOCK_MONOTONIC, &start);
    struct timespec nap = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };
    if (nanosleep(&nap, NULL) != 0) {
        return 1;
    }
    clock_gettime(CLOCK_MONOTONIC, &end);

    long slept = (end.tv_sec - start.tv_sec) * 1000 + (end.tv_nsec - start.tv_nsec) / 1000000;
    char out[32];
    snprintf(out, sizeof(out), "%ld", slept);
    faasmSetOutput((const uint8_t*)out, strlen(out));
    return 0;
}
