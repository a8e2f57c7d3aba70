// Every state call, driven by the input: "<op> <key> [args...]" (space-separated; data
// arguments are text). The output is what the op read, or "ok".
#include <faasm/faasm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char input[4096];
static char* args[8];
static int nargs;

static void out(const void* data, long len) { faasmSetOutput((const uint8_t*)data, len); }
static void ok(void) { out("ok", 2); }
static long num(int i) { return strtol(args[i], NULL, 10); }

int main(void)
{
    long n = faasmGetInputSize();
    if (n >= (long)sizeof(input)) return 2;
    faasmGetInput((uint8_t*)input, n);
    input[n] = '\0';
    for (char* t = strtok(input, " "); t && nargs < 8; t = strtok(NULL, " ")) args[nargs++] = t;
    if (nargs < 2) return 3;
    const char* op = args[0];
    const char* key = args[1];

    if (!strcmp(op, "size")) {
        char text[16];
        out(text, snprintf(text, sizeof(text), "%zu", faasmReadStateSize(key)));
    } else if (!strcmp(op, "read")) {
        // read KEY: the whole value
        long size = faasmReadStateSize(key);
        uint8_t* buf = malloc(size + 1);
        long got = faasmReadState(key, buf, size);
        out(buf, got);
    } else if (!strcmp(op, "write")) {
        // write KEY DATA [nopush]
        faasmWriteState(key, (uint8_t*)args[2], strlen(args[2]));
        if (nargs < 4) faasmPushState(key);
        ok();
    } else if (!strcmp(op, "write_offset")) {
        // write_offset KEY TOTAL OFF DATA full|partial|none
        faasmWriteStateOffset(key, num(2), num(3), (uint8_t*)args[4], strlen(args[4]));
        if (!strcmp(args[5], "full")) faasmPushState(key);
        if (!strcmp(args[5], "partial")) faasmPushStatePartial(key);
        ok();
    } else if (!strcmp(op, "push")) {
        faasmPushState(key);
        ok();
    } else if (!strcmp(op, "read_offset")) {
        // read_offset KEY TOTAL OFF LEN
        uint8_t buf[256];
        faasmReadStateOffset(key, num(2), num(3), buf, num(4));
        out(buf, num(4));
    } else if (!strcmp(op, "read_ptr")) {
        // read_ptr KEY TOTAL: the value read through the pointer
        out(faasmReadStatePtr(key, num(2)), num(2));
    } else if (!strcmp(op, "read_offset_ptr")) {
        // read_offset_ptr KEY TOTAL OFF LEN
        out(faasmReadStateOffsetPtr(key, num(2), num(3), num(4)), num(4));
    } else if (!strcmp(op, "ptr_write")) {
        // ptr_write KEY TOTAL OFF DATA flag|flag_all|noflag [push]
        uint8_t* p = faasmReadStatePtr(key, num(2));
        memcpy(p + num(3), args[4], strlen(args[4]));
        if (!strcmp(args[5], "flag")) faasmFlagStateOffsetDirty(key, num(2), num(3), strlen(args[4]));
        if (!strcmp(args[5], "flag_all")) faasmFlagStateDirty(key, num(2));
        if (nargs > 6) faasmPushStatePartial(key);
        ok();
    } else if (!strcmp(op, "offset_ptr_write")) {
        // offset_ptr_write KEY TOTAL OFF DATA: write through an offset pointer, flag, push partial
        long len = strlen(args[4]);
        uint8_t* p = faasmReadStateOffsetPtr(key, num(2), num(3), len);
        memcpy(p, args[4], len);
        faasmFlagStateOffsetDirty(key, num(2), num(3), len);
        faasmPushStatePartial(key);
        ok();
    } else if (!strcmp(op, "mask_push")) {
        // mask_push KEY MASKKEY TOTAL OFF DATA: write DATA at OFF and mark bytes [OFF, OFF+1) in
        // the mask; push the value through the mask
        long total = num(3);
        faasmWriteStateOffset(key, total, num(4), (uint8_t*)args[5], strlen(args[5]));
        uint8_t* mask = faasmReadStatePtr(args[2], total);
        memset(mask, 0, total);
        mask[num(4)] = 1;
        faasmPushStatePartialMask(key, args[2]);
        ok();
    } else if (!strcmp(op, "pull")) {
        // pull KEY LEN: refresh from the global tier, then output the value
        faasmPullState(key, num(2));
        long size = faasmReadStateSize(key);
        uint8_t* buf = malloc(size + 1);
        out(buf, faasmReadState(key, buf, size));
    } else if (!strcmp(op, "append")) {
        // append KEY DATA...
        for (int i = 2; i < nargs; i++) faasmAppendState(key, (uint8_t*)args[i], strlen(args[i]));
        ok();
    } else if (!strcmp(op, "read_appended")) {
        // read_appended KEY LEN N
        uint8_t buf[256];
        faasmReadAppendedState(key, buf, num(2), num(3));
        out(buf, num(2));
    } else if (!strcmp(op, "clear_appended")) {
        faasmClearAppendedState(key);
        ok();
    } else if (!strcmp(op, "locks")) {
        // Read locks nest; a write lock after them is taken once they are released.
        faasmLockStateRead(key);
        faasmLockStateRead(key);
        faasmUnlockStateRead(key);
        faasmUnlockStateRead(key);
        faasmLockStateWrite(key);
        faasmUnlockStateWrite(key);
        ok();
    } else if (!strcmp(op, "hold_write")) {
        // Takes the write lock and returns without releasing it: the end of the call does.
        faasmLockStateWrite(key);
        ok();
    } else if (!strcmp(op, "unlock_unheld")) {
        faasmUnlockStateWrite(key);
    } else if (!strcmp(op, "bad_pointer")) {
        // A buffer far outside linear memory.
        __faasm_read_state(key, (unsigned char*)0x7ffffff0, 64);
    } else if (!strcmp(op, "bad_key")) {
        faasmReadStateSize("a/b");
    } else if (!strcmp(op, "empty_key")) {
        faasmReadStateSize("");
    } else if (!strcmp(op, "not_nul_terminated")) {
        __faasm_read_state((const char*)0x7fffffff, NULL, 0);
    } else {
        return 4;
    }
    return 0;
}
