// Chains itself by name (upload it as `levels`): input "n" chains `levels` with n-1 until 0,
// and each level outputs "n:" followed by its child's output.
#include <faasm/faasm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void)
{
    char in[16] = { 0 };
    faasmGetInput((uint8_t*)in, sizeof(in) - 1);
    int n = atoi(in);
    char out[512];
    int len = snprintf(out, sizeof(out), "%d:", n);
    if (n > 0) {
        char arg[16];
        int argLen = snprintf(arg, sizeof(arg), "%d", n - 1);
        unsigned int id = faasmChainNamed("levels", (const uint8_t*)arg, argLen);
        char* child = NULL;
        int childLen = 0;
        if (faasmAwaitCallOutput(id, &child, &childLen) != 0) {
            return 1;
        }
        len += snprintf(out + len, sizeof(out) - len, "%s", child);
        free(child);
    }
    faasmSetOutput((const uint8_t*)out, len);
    return 0;
}
