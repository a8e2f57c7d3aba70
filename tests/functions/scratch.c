// Fills the call's scratch (its private `/`). The input names the scenario; the output is one
// line, and the return value is 0 when every write failed as expected (with ENOSPC).
#include <errno.h>
#include <faasm/faasm.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char chunk[64 << 10];
static char out[256];

// Writes chunks to `fd` until a write fails; returns the bytes written, errno tells why.
static long fill(int fd)
{
    long total = 0;
    errno = 0;
    for (;;) {
        ssize_t n = write(fd, chunk, sizeof(chunk));
        if (n < 0) {
            return total;
        }
        total += n;
    }
}

static long fill_file(const char* path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        return -1;
    }
    long total = fill(fd);
    int saved = errno;
    close(fd);
    errno = saved;
    return total;
}

static int finish(int ok)
{
    faasmSetOutput((const uint8_t*)out, strlen(out));
    return ok ? 0 : 1;
}

int main(void)
{
    char mode[16] = { 0 };
    faasmGetInput((uint8_t*)mode, sizeof(mode) - 1);
    memset(chunk, 'x', sizeof(chunk));

    if (strcmp(mode, "fill") == 0) {
        long n = fill_file("/tmp/fill");
        snprintf(out, sizeof(out), "wrote %ld bytes, then: %s", n, strerror(errno));
        return finish(errno == ENOSPC);
    }
    if (strcmp(mode, "refill") == 0) {
        // Space a removed file held is free again.
        long first = fill_file("/tmp/a");
        int ok = errno == ENOSPC && unlink("/tmp/a") == 0;
        long second = fill_file("/tmp/b");
        ok = ok && errno == ENOSPC;
        snprintf(out, sizeof(out), "%ld %ld", first, second);
        return finish(ok);
    }
    if (strcmp(mode, "unlinked") == 0) {
        // A removed file that is still open keeps its space until it is closed.
        int a = open("/tmp/a", O_WRONLY | O_CREAT | O_TRUNC, 0644);
        long first = fill(a);
        int ok = errno == ENOSPC && unlink("/tmp/a") == 0;
        long second = fill_file("/tmp/b");
        ok = ok && errno == ENOSPC;
        close(a);
        long third = fill_file("/tmp/c");
        ok = ok && errno == ENOSPC;
        snprintf(out, sizeof(out), "%ld %ld %ld", first, second, third);
        return finish(ok);
    }
    if (strcmp(mode, "files") == 0) {
        // Empty files are not free either.
        long count = 0;
        char path[64];
        for (;;) {
            snprintf(path, sizeof(path), "/tmp/f%ld", count);
            int fd = open(path, O_WRONLY | O_CREAT, 0644);
            if (fd < 0) {
                break;
            }
            close(fd);
            count++;
        }
        snprintf(out, sizeof(out), "%ld files, then: %s", count, strerror(errno));
        return finish(errno == ENOSPC);
    }
    if (strcmp(mode, "shared") == 0) {
        // Writing a shared file makes a private copy of it first: that counts too.
        FILE* f = fopen("faasm://big", "a");
        snprintf(out, sizeof(out), "%s", f ? "opened" : strerror(errno));
        return finish(f == NULL && errno == ENOSPC);
    }
    if (strcmp(mode, "keep") == 0 || strcmp(mode, "spin") == 0) {
        // Leaves a file behind (and, with "spin", runs into the timeout).
        FILE* f = fopen("/tmp/left-behind", "w");
        fwrite(chunk, 1, sizeof(chunk), f);
        fclose(f);
        mkdir("/tmp/dir", 0755);
        volatile unsigned long n = 0;
        while (strcmp(mode, "spin") == 0) {
            n++;
        }
        return 0;
    }
    return 2;
}
