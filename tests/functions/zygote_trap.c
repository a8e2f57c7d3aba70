// A zygote that traps: the upload must fail with 400 and the reason.
#include <faasm/faasm.h>

FAASM_ZYGOTE()
{
    __builtin_trap();
}

int main(void)
{
    return 0;
}
