// Faasm's debugging host calls. "backtrace": faasmBacktrace / __faasm_backtrace log the guest's
// stack and the function carries on. "host_error": __faasm_host_interface_test(
// ExceptionPropagationTest) fails the call from inside the host call (it never returns).
#include <faasm/faasm.h>
#include <faasm/host_interface_test.h>
#include <stdio.h>
#include <string.h>

__attribute__((noinline)) static int deep(int level)
{
    if (level == 0) {
        __faasm_backtrace(0);
        faasmBacktrace(3);
        return 0;
    }
    return deep(level - 1) + level;
}

int main(void)
{
    char what[32] = { 0 };
    long len = faasmGetInputSize();
    faasmGetInput((uint8_t*)what, len < 31 ? len : 31);
    const char* result = "unknown";
    if (!strcmp(what, "backtrace")) {
        result = deep(3) == 6 ? "after backtrace" : "wrong";
    } else if (!strcmp(what, "host_error")) {
        printf("before host error\n");
        fflush(stdout);
        __faasm_host_interface_test(ExceptionPropagationTest);
        result = "after host error";
    }
    faasmSetOutput((const uint8_t*)result, (long)strlen(result));
    return 0;
}
