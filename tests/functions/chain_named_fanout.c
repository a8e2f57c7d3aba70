// Fans out by name: chains the function `sleeper` N times (N is the input, default 8), each
// sleeping 300 ms, awaits every child and outputs how many succeeded.
#include <faasm/faasm.h>
#include <stdio.h>
#include <stdlib.h>

int main(void)
{
    char in[16] = { 0 };
    faasmGetInput((uint8_t*)in, sizeof(in) - 1);
    int n = in[0] ? atoi(in) : 8;
    unsigned int* ids = malloc(sizeof(unsigned int) * n);
    for (int i = 0; i < n; i++) {
        ids[i] = faasmChainNamed("sleeper", (const uint8_t*)"300", 3);
    }
    int succeeded = 0;
    for (int i = 0; i < n; i++) {
        if (faasmAwaitCall(ids[i]) == 0) {
            succeeded++;
        }
    }
    char out[32];
    int len = snprintf(out, sizeof(out), "%d of %d", succeeded, n);
    faasmSetOutput((const uint8_t*)out, len);
    return 0;
}
