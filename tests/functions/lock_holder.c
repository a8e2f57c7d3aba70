// Takes the write lock of state "shared", chains `napper` and awaits it while holding the
// lock, then unlocks. With input "just-lock" it only takes and releases the lock.
#include <faasm/faasm.h>
#include <string.h>

int main(void)
{
    char mode[16] = { 0 };
    faasmGetInput((uint8_t*)mode, sizeof(mode) - 1);
    faasmLockStateWrite("shared");
    if (strcmp(mode, "just-lock") != 0) {
        unsigned int id = faasmChainNamed("napper", NULL, 0);
        if (faasmAwaitCall(id) != 0) {
            return 1;
        }
    }
    faasmUnlockStateWrite("shared");
    faasmSetOutput((const uint8_t*)mode, strlen(mode));
    return 0;
}
