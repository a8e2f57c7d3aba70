// A Proto-Faaslet: the zygote fills a table (computed ints and a malloc'd string) once at
// upload; main outputs what it finds and then scribbles over all of it. Every call must see
// the zygote's values, never an earlier call's scribbles. Input "stamp" outputs the time the
// zygote ran instead (it runs once per upload, not again after a restart).
#include <faasm/faasm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define N 1000

static int table[N];
static char* greeting = NULL;
static int zygote_runs = 0;
static int main_runs = 0;
static volatile int ctor_runs = 0;
static long long zygote_ns = 0;

// C constructors run once, before the zygote: calls start after them (main sees 1).
__attribute__((constructor)) static void count_ctor_runs(void)
{
    ctor_runs++;
}

FAASM_ZYGOTE()
{
    for (int i = 0; i < N; i++) {
        table[i] = i * i + 7;
    }
    greeting = malloc(64);
    strcpy(greeting, "hello from the zygote");
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    zygote_ns = (long long)now.tv_sec * 1000000000LL + now.tv_nsec;
    zygote_runs++;
    printf("zygote ran\n");
    return 0;
}

int main(void)
{
    char input[8] = { 0 };
    faasmGetInput((uint8_t*)input, sizeof(input) - 1);
    if (strcmp(input, "stamp") == 0) {
        char out[32];
        int n = snprintf(out, sizeof(out), "%lld", zygote_ns);
        faasmSetOutput((const uint8_t*)out, n);
        return 0;
    }

    long long sum = 0;
    for (int i = 0; i < N; i++) {
        sum += table[i];
    }
    main_runs++;
    // The heap the zygote left must still work.
    char* scratch = malloc(1 << 20);
    memset(scratch, 'x', 1 << 20);

    char out[256];
    int n = snprintf(out, sizeof(out),
        "sum=%lld first=%d last=%d greeting=%s zygote_runs=%d main_runs=%d ctor_runs=%d",
        sum, table[0], table[N - 1], greeting ? greeting : "(null)", zygote_runs, main_runs,
        ctor_runs);
    faasmSetOutput((const uint8_t*)out, n);
    printf("main ran\n");

    // Scribble over everything the zygote set up: no later call may see this.
    for (int i = 0; i < N; i++) {
        table[i] = -1;
    }
    strcpy(greeting, "scribbled");
    zygote_runs = 1000;
    zygote_ns = -1;
    free(scratch);
    return 0;
}
