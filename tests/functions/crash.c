// Traps: input "trap" hits unreachable; "python" calls an import of Faasm's C Python runner,
// which faasm-rs links but does not provide; "oob" hands the host a pointer outside memory.
#include <faasm/faasm.h>
#include <string.h>

int main(void)
{
    char mode[16] = { 0 };
    faasmGetInput((uint8_t*)mode, sizeof(mode) - 1);
    if (strcmp(mode, "trap") == 0) {
        __builtin_trap();
    }
    if (strcmp(mode, "python") == 0) {
        return (int)faasmChainPy("entry", NULL, 0);
    }
    if (strcmp(mode, "oob") == 0) {
        faasmSetOutput((const uint8_t*)0x7ffffff0, 4096);
    }
    return 0;
}
