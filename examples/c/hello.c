// Hello: prints to stdout, which the caller sees before the output.
#include <faasm/faasm.h>

#include <stdio.h>

int main(void)
{
    printf("Hello faasm!\n");
    return 0;
}
