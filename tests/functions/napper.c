// Sleeps for a second (a WASI clock wait), holding its worker while it runs.
#include <unistd.h>

int main(void)
{
    sleep(1);
    return 0;
}
