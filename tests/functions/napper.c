// Sleeps for a second (a WASI clock wait; the worker is free meanwhile).
#include <unistd.h>

int main(void)
{
    sleep(1);
    return 0;
}
