// The POSIX calls WASI lacks that `faasm cc` enables through wasi-libc's emulations, as Faasm's
// toolchain does: mmap/munmap, clock(), getpid(), signal()/raise(), and long double printf.
// Input "" runs every check, one "name=value" line each (printf also writes to stdout);
// "raise_term" raises SIGTERM with its default action, which ends the call.
#include <errno.h>
#include <faasm/faasm.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "report.h"


static void memory_maps(void)
{
    // Anonymous memory, as Faasm's mmap/munmap demos use it.
    size_t len = 1 << 20;
    unsigned char* p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    put("mmap_anon", "%s", p == MAP_FAILED ? strerror(errno) : "ok");
    if (p == MAP_FAILED) {
        return;
    }
    int zeroed = 1;
    for (size_t i = 0; i < len; i++) {
        zeroed &= p[i] == 0;
    }
    put("mmap_zeroed", "%d", zeroed);
    for (size_t i = 0; i < len; i++) {
        p[i] = (unsigned char)i;
    }
    put("mmap_last_byte", "%d", p[len - 1]);
    put("munmap", "%d", munmap(p, len));

    int all = 1;
    for (int i = 0; i < 200; i++) {
        void* q = mmap(NULL, 64 * 1024, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        all &= q != MAP_FAILED && munmap(q, 64 * 1024) == 0;
    }
    put("mmap_munmap_200", "%d", all);

    // A private, read-only mapping of a file.
    FILE* f = fopen("/tmp/mapped.txt", "w");
    fputs("mapped file contents", f);
    fclose(f);
    int fd = open("/tmp/mapped.txt", O_RDONLY);
    char* text = mmap(NULL, 20, PROT_READ, MAP_PRIVATE, fd, 0);
    if (text == MAP_FAILED) {
        put("mmap_file", "ERR:%s", strerror(errno));
    } else {
        put("mmap_file", "%.20s", text);
        munmap(text, 20);
    }
    close(fd);
}

static void clocks(void)
{
    clock_t start = clock();
    put("clock_nonnegative", "%d", start >= 0);
    clock_t now = start;
    // Spin until clock() has moved by 10 ms (it would never move if it were broken).
    for (long i = 0; i < 1000000000L && now - start < CLOCKS_PER_SEC / 100; i++) {
        now = clock();
    }
    put("clock_advances", "%d", now - start >= CLOCKS_PER_SEC / 100);
    struct rusage usage;
    put("getrusage", "%d", getrusage(RUSAGE_SELF, &usage));
}

static void long_doubles(void)
{
    char buf[64];
    long double x = 1.5L;
    snprintf(buf, sizeof(buf), "%Lf", x);
    put("Lf", "%s", buf);
    snprintf(buf, sizeof(buf), "%.3Le", 12345.678L);
    put("Le", "%s", buf);
    put("strtold", "%Lg", strtold("2.5", NULL));
    long double scanned = 0;
    sscanf("7.125", "%Lf", &scanned);
    put("sscanf_Lf", "%.3Lf", scanned);
    put("sizeof", "%zu", sizeof(long double));
    printf("printf %%Lf: %Lf\n", (long double)3.25L);
}

static int handled = 0;

static void on_signal(int sig)
{
    handled = sig;
}

static void signals(void)
{
    put("getpid_positive", "%d", getpid() > 0);
    put("getpid_stable", "%d", getpid() == getpid());

    void (*previous)(int) = signal(SIGUSR1, on_signal);
    put("signal_previous_default", "%d", previous == SIG_DFL);
    put("raise_usr1", "%d", raise(SIGUSR1));
    put("handled", "%d", handled == SIGUSR1);
    signal(SIGINT, SIG_IGN);
    put("raise_ignored", "%d", raise(SIGINT));
}

int main(void)
{
    char what[32] = { 0 };
    long len = faasmGetInputSize();
    faasmGetInput((uint8_t*)what, len < 31 ? len : 31);
    if (!strcmp(what, "raise_term")) {
        printf("raising SIGTERM\n");
        fflush(stdout);
        raise(SIGTERM);
        printf("still running\n");
        return 0;
    }
    memory_maps();
    clocks();
    long_doubles();
    signals();
    report();
    return 0;
}
