// Monte-Carlo estimate of pi, Faasm's classic demo: the main call fans out to worker calls
// with faasmChainBatch; each worker throws random points at the unit square and appends its
// hit count to the appended state "pi_hits"; main reads every count back and combines them.
// Input: the number of workers (default 10).
#include <faasm/faasm.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define POINTS_PER_WORKER 2000000
#define MAX_WORKERS 1000

static const char* HITS_KEY = "pi_hits";

// xorshift64*: fast and good enough for a demo; seeded from WASI randomness.
static uint64_t next(uint64_t* s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1DULL;
}

static double unit(uint64_t* s)
{
    return (double)(next(s) >> 11) * 0x1.0p-53;
}

int worker(void)
{
    uint64_t seed = 0;
    if (getentropy(&seed, sizeof(seed)) != 0) {
        return 1;
    }
    seed |= 1;
    int64_t hits = 0;
    for (long i = 0; i < POINTS_PER_WORKER; i++) {
        double x = unit(&seed);
        double y = unit(&seed);
        if (x * x + y * y <= 1.0) {
            hits++;
        }
    }
    faasmAppendState(HITS_KEY, (const uint8_t*)&hits, sizeof(hits));
    return 0;
}

int main(void)
{
    char in[16] = { 0 };
    faasmGetInput((uint8_t*)in, sizeof(in) - 1);
    int workers = in[0] ? atoi(in) : 10;
    if (workers < 1 || workers > MAX_WORKERS) {
        printf("workers must be 1-%d\n", MAX_WORKERS);
        return 1;
    }

    faasmClearAppendedState(HITS_KEY);
    if (faasmChainBatch(worker, "", workers) != 0) {
        printf("a worker failed\n");
        return 1;
    }

    int64_t* hits = malloc(sizeof(int64_t) * workers);
    faasmReadAppendedState(HITS_KEY, (uint8_t*)hits, sizeof(int64_t) * workers, workers);
    int64_t total = 0;
    for (int i = 0; i < workers; i++) {
        total += hits[i];
    }
    free(hits);

    double pi = 4.0 * (double)total / ((double)POINTS_PER_WORKER * workers);
    char out[64];
    int len = snprintf(out, sizeof(out), "Pi estimate: %.6f", pi);
    faasmSetOutput((const uint8_t*)out, len);
    return 0;
}
