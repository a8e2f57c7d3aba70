// Compile-only test of the SDK headers: calls every function of the C API once.
// It is built by the tests but never run (its calls make no sense together).
#include <faasm/faasm.h>

#include <stdlib.h>

static int chained(void)
{
    return 0;
}

FAASM_ZYGOTE()
{
    return 0;
}

int main(void)
{
    uint8_t buf[16] = { 0 };
    const char* key = "key";
    long n = 0;

    // Input and output
    n += faasmGetInputSize();
    n += faasmGetInput(buf, sizeof(buf));
    faasmSetOutput(buf, sizeof(buf));

    // Chaining
    unsigned int id = faasmChainNamed("other", buf, sizeof(buf));
    id += faasmChain(chained, buf, sizeof(buf));
    n += faasmChainBatch(chained, "input", 2);
    n += faasmAwaitCall(id);
    char* out = NULL;
    int outLen = 0;
    n += faasmAwaitCallOutput(id, &out, &outLen);
    free(out);

    // State
    n += (long)faasmReadStateSize(key);
    n += faasmReadState(key, buf, sizeof(buf));
    uint8_t* ptr = faasmReadStatePtr(key, 16);
    faasmReadStateOffset(key, 16, 4, buf, 4);
    ptr = faasmReadStateOffsetPtr(key, 16, 4, 4);
    faasmWriteState(key, buf, sizeof(buf));
    faasmWriteStateOffset(key, 16, 4, buf, 4);
    n += (long)faasmWriteStateFromFile(key, "faasm://data.bin");
    faasmFlagStateDirty(key, 16);
    faasmFlagStateOffsetDirty(key, 16, 4, 4);
    faasmPushState(key);
    faasmPushStatePartial(key);
    faasmPushStatePartialMask(key, "mask");
    faasmPullState(key, 16);
    faasmAppendState(key, buf, 4);
    faasmReadAppendedState(key, buf, 8, 2);
    faasmClearAppendedState(key);
    faasmLockStateRead(key);
    faasmUnlockStateRead(key);
    faasmLockStateWrite(key);
    faasmUnlockStateWrite(key);
    faasmLockStateGlobal(key);
    faasmUnlockStateGlobal(key);

    // Python runner
    free(faasmGetPythonUser());
    free(faasmGetPythonFunc());
    free(faasmGetPythonEntry());
    id += faasmChainPy("entry", buf, sizeof(buf));

    // Misc
    n += getConfFlag("FLAG");
    faasmBacktrace(4);

    return (int)(n + id + (ptr != NULL));
}
