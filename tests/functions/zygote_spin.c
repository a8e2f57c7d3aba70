// A zygote that never finishes: the upload must fail at the call timeout.
#include <faasm/faasm.h>

static volatile int forever = 1;

FAASM_ZYGOTE()
{
    while (forever) {
    }
    return 0;
}

int main(void)
{
    return 0;
}
