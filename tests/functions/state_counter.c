// A shared counter: lock, read, increment, write, push, unlock. The input names the key
// (default "counter"); the output is the value this call wrote.
#include <faasm/faasm.h>
#include <stdio.h>
#include <string.h>

int main(void)
{
    char key[64] = "counter";
    long n = faasmGetInputSize();
    if (n > 0 && n < (long)sizeof(key)) {
        faasmGetInput((uint8_t*)key, n);
        key[n] = '\0';
    }

    faasmLockStateWrite(key);
    int32_t value = 0;
    if (faasmReadStateSize(key) == sizeof(value)) {
        faasmReadState(key, (uint8_t*)&value, sizeof(value));
    }
    value++;
    faasmWriteState(key, (uint8_t*)&value, sizeof(value));
    faasmPushState(key);
    faasmUnlockStateWrite(key);

    char out[16];
    int len = snprintf(out, sizeof(out), "%d", value);
    faasmSetOutput((uint8_t*)out, len);
    return 0;
}
