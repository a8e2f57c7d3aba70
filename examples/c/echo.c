// Echo: the output is the input, byte for byte.
#include <faasm/faasm.h>

#include <stdlib.h>

int main(void)
{
    long size = faasmGetInputSize();
    if (size == 0) {
        return 0;
    }

    uint8_t* buf = malloc(size);
    if (buf == NULL) {
        return 1;
    }
    faasmGetInput(buf, size);
    faasmSetOutput(buf, size);
    free(buf);
    return 0;
}
