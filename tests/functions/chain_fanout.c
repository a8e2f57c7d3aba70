// Fans out: chains `square` (a function-table entry of this module) once per number 1..N
// (N is the input, default 50), awaits every child, and outputs the sum of their outputs.
#include <faasm/faasm.h>
#include <stdio.h>
#include <stdlib.h>

int square(void)
{
    char in[16] = { 0 };
    faasmGetInput((uint8_t*)in, sizeof(in) - 1);
    int n = atoi(in);
    char out[16];
    int len = snprintf(out, sizeof(out), "%d", n * n);
    faasmSetOutput((const uint8_t*)out, len);
    return 0;
}

int main(void)
{
    char in[16] = { 0 };
    faasmGetInput((uint8_t*)in, sizeof(in) - 1);
    int n = in[0] ? atoi(in) : 50;
    unsigned int* ids = malloc(sizeof(unsigned int) * n);
    for (int i = 0; i < n; i++) {
        char arg[16];
        int len = snprintf(arg, sizeof(arg), "%d", i + 1);
        ids[i] = faasmChain(square, (const uint8_t*)arg, len);
    }
    long sum = 0;
    for (int i = 0; i < n; i++) {
        char* out = NULL;
        int len = 0;
        if (faasmAwaitCallOutput(ids[i], &out, &len) != 0) {
            return 1;
        }
        sum += atol(out);
        free(out);
    }
    printf("parent of %d\n", n);
    char out[32];
    int len = snprintf(out, sizeof(out), "%ld", sum);
    faasmSetOutput((const uint8_t*)out, len);
    return 0;
}
