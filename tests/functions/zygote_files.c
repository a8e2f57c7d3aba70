// A Proto-Faaslet whose calls use files: the zygote has no filesystem (its fopen fails), and
// every call still gets its own (wasi-libc registers the call's preopens when the C
// constructors run again at `_start`). Outputs what main wrote to and read back from /tmp.
#include <faasm/faasm.h>
#include <stdio.h>
#include <string.h>

static char loaded[64] = "unset";

FAASM_ZYGOTE()
{
    FILE* f = fopen("/tmp/zygote", "w");
    strcpy(loaded, f ? "zygote saw a filesystem" : "from the zygote");
    if (f) {
        fclose(f);
    }
    return 0;
}

int main(void)
{
    FILE* f = fopen("/tmp/x", "w");
    if (!f) {
        faasmSetOutput((const uint8_t*)"open failed", 11);
        return 1;
    }
    fputs(loaded, f);
    fclose(f);
    char buf[64] = { 0 };
    f = fopen("/tmp/x", "r");
    if (!f || !fgets(buf, sizeof(buf), f)) {
        faasmSetOutput((const uint8_t*)"read failed", 11);
        return 1;
    }
    fclose(f);
    faasmSetOutput((const uint8_t*)buf, strlen(buf));
    return 0;
}
