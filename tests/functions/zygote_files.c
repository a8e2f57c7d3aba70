// A Proto-Faaslet with files: the zygote loads a shared file (faasm://zygote/model.txt) and
// writes a scratch file of its own; each call must see the loaded text, not the zygote's
// scratch file, and its own working filesystem (a /tmp file written and read back, and the
// shared file read again).
#include <faasm/faasm.h>
#include <stdio.h>
#include <string.h>

static char model[64] = "not loaded";

static int read_line(const char* path, char* buf, int size)
{
    FILE* f = fopen(path, "r");
    if (!f) {
        return 0;
    }
    int ok = fgets(buf, size, f) != NULL;
    fclose(f);
    return ok;
}

FAASM_ZYGOTE()
{
    if (!read_line("faasm://zygote/model.txt", model, sizeof(model))) {
        printf("cannot read the model\n");
        return 1;
    }
    FILE* f = fopen("/tmp/zygote-scratch", "w");
    if (f) {
        fputs("zygote", f);
        fclose(f);
    }
    return 0;
}

int main(void)
{
    char scratch[16] = "absent";
    read_line("/tmp/zygote-scratch", scratch, sizeof(scratch));

    FILE* f = fopen("/tmp/x", "w");
    if (!f) {
        faasmSetOutput((const uint8_t*)"open failed", 11);
        return 1;
    }
    fputs("round trip", f);
    fclose(f);
    char tmp[32] = "failed";
    read_line("/tmp/x", tmp, sizeof(tmp));

    char again[64] = "failed";
    read_line("faasm://zygote/model.txt", again, sizeof(again));

    char out[256];
    int n = snprintf(out, sizeof(out), "model=%s scratch=%s tmp=%s again=%s", model, scratch,
        tmp, again);
    faasmSetOutput((const uint8_t*)out, n);
    // Scribble: no later call may see this.
    strcpy(model, "scribbled");
    return 0;
}
