// A zygote that reports failure (non-zero): the upload must fail with 400 and the reason.
#include <faasm/faasm.h>
#include <stdio.h>

FAASM_ZYGOTE()
{
    printf("initialisation failed\n");
    return 2;
}

int main(void)
{
    return 0;
}
