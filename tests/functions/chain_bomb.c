// A chain bomb: every call chains two calls of itself and awaits both, without end.
#include <faasm/faasm.h>

int main(void)
{
    unsigned int a = faasmChainNamed("bomb", (const uint8_t*)"", 0);
    unsigned int b = faasmChainNamed("bomb", (const uint8_t*)"", 0);
    return faasmAwaitCall(a) | faasmAwaitCall(b);
}
