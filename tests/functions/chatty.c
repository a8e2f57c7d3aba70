// Prints forever: for stdout-cap tests.
#include <stdio.h>

int main(void)
{
    for (;;) {
        printf("all work and no play makes jack a dull boy\n");
    }
}
