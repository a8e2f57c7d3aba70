// Writes the input to /tmp/blob, sets state "from_tmp" from that file and state "from_shared"
// from the shared file faasm://data/in.txt, pushes both, and outputs the two lengths.
#include <faasm/faasm.h>
#include <stdio.h>

int main(void)
{
    char in[256] = { 0 };
    long n = faasmGetInput((uint8_t*)in, sizeof(in) - 1);
    FILE* f = fopen("/tmp/blob", "w");
    if (f == NULL) {
        return 2;
    }
    fwrite(in, 1, n, f);
    fclose(f);
    unsigned long a = faasmWriteStateFromFile("from_tmp", "/tmp/blob");
    unsigned long b = faasmWriteStateFromFile("from_shared", "faasm://data/in.txt");
    faasmPushState("from_tmp");
    faasmPushState("from_shared");
    char out[64];
    int len = snprintf(out, sizeof(out), "%lu %lu", a, b);
    faasmSetOutput((const uint8_t*)out, len);
    return 0;
}
