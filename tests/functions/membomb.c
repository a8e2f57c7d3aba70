// Allocates and touches memory until something gives: for memory-cap tests. The blocks are
// chained from a volatile global so the compiler cannot drop the allocations.
#include <stdlib.h>
#include <string.h>

static void* volatile head;

int main(void)
{
    for (;;) {
        char* block = malloc(1 << 20);
        if (block == NULL) {
            return 2;
        }
        memset(block, 1, 1 << 20);
        *(void**)block = head;
        head = block;
    }
}
