// Fail: prints a line, then returns non-zero, so the call fails with
// "Call failed (return value=3)".
#include <faasm/faasm.h>

#include <stdio.h>

int main(void)
{
    printf("About to fail\n");
    return 3;
}
