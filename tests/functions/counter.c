// Increments a global and outputs it: every call must see a fresh instance, so always "1".
#include <faasm/faasm.h>
#include <stdio.h>

static int calls = 0;

int main(void)
{
    calls++;
    char out[16];
    int n = snprintf(out, sizeof(out), "%d", calls);
    faasmSetOutput((const uint8_t*)out, n);
    return 0;
}
