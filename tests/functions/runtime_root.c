// What Faasm's runtime gives a C function besides its API, used the way Faasm's demo functions
// use it: stdout and stderr are terminals (isatty, fstat), Faasm's fixed environment variables,
// and a read-only /etc (hosts, passwd, resolv.conf, localtime). One "name=value" line each in
// the output; stdout gets "out", then stderr "err", then stdout "out2" (a terminal's stdout is
// line-buffered, so they arrive in that order). Compiled with ZYGOTE defined (see
// runtime_root_zygote.c), the zygote reads the environment and /etc first.
#include <dirent.h>
#include <errno.h>
#include <faasm/faasm.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "report.h"

extern char** environ;

// The first line of a file, without its newline; "" if it cannot be read.
static void first_line(const char* path, char* buf, int size)
{
    buf[0] = '\0';
    FILE* f = fopen(path, "r");
    if (!f) {
        return;
    }
    if (fgets(buf, size, f) == NULL) {
        buf[0] = '\0';
    }
    fclose(f);
    buf[strcspn(buf, "\n")] = '\0';
}

#ifdef ZYGOTE
static char zygote_env[32] = "unset";
static char zygote_hosts[64] = "unread";

FAASM_ZYGOTE()
{
    const char* wasm = getenv("PYTHONWASM");
    snprintf(zygote_env, sizeof(zygote_env), "%s", wasm ? wasm : "(null)");
    first_line("/etc/hosts", zygote_hosts, sizeof(zygote_hosts));
    return 0;
}
#endif

static int compare_names(const void* a, const void* b)
{
    return strcmp(*(const char* const*)a, *(const char* const*)b);
}

static void terminals(void)
{
    put("isatty_stdin", "%d", isatty(STDIN_FILENO));
    put("isatty_stdout", "%d", isatty(STDOUT_FILENO));
    put("isatty_stderr", "%d", isatty(STDERR_FILENO));
    struct stat st;
    put("stdout_chr", "%d", fstat(STDOUT_FILENO, &st) == 0 && S_ISCHR(st.st_mode));
    put("stderr_chr", "%d", fstat(STDERR_FILENO, &st) == 0 && S_ISCHR(st.st_mode));
}

static void environment(void)
{
    const char* names[] = { "PYTHONWASM",     "PYTHONHOME",      "PYTHON_PATH",
                            "PYTHONHASHSEED", "PYTHONNOUSERSITE", "MKL_NUM_THREADS",
                            "OPENBLAS_NUM_THREADS" };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        const char* value = getenv(names[i]);
        put(names[i], "%s", value ? value : "(null)");
    }
    int count = 0;
    for (char** e = environ; *e; e++) {
        count++;
    }
    put("env_count", "%d", count);
    // As Faasm's getenv demo: unset, then set by the function itself.
    put("FOOBAR_before", "%s", getenv("FOOBAR") ? "set" : "unset");
    setenv("FOOBAR", "BAZ", 0);
    put("FOOBAR_after", "%s", getenv("FOOBAR"));
}

static void etc(void)
{
    char line[128];
    first_line("/etc/hosts", line, sizeof(line));
    put("hosts", "%s", line);
    first_line("/etc/passwd", line, sizeof(line));
    put("passwd_root", "%d", strncmp(line, "root:x:0:0:", 11) == 0);
    first_line("/etc/resolv.conf", line, sizeof(line));
    put("resolv_nameserver", "%d", strncmp(line, "nameserver ", 11) == 0);
    first_line("/etc/localtime", line, sizeof(line));
    put("localtime_magic", "%.5s", line);

    struct stat st;
    put("hosts_size", "%lld", stat("/etc/hosts", &st) == 0 ? (long long)st.st_size : -1LL);
    put("etc_is_dir", "%d", stat("/etc", &st) == 0 && S_ISDIR(st.st_mode));

    // As Faasm's mmap_file demo: the file mapped read-only.
    int fd = open("/etc/hosts", O_RDONLY);
    char* mapped = fd < 0 ? MAP_FAILED : mmap(NULL, 20, PROT_READ, MAP_SHARED, fd, 0);
    put("mmap_hosts", "%.9s", mapped == MAP_FAILED ? "failed" : mapped);
    if (mapped != MAP_FAILED) {
        munmap(mapped, 20);
    }
    if (fd >= 0) {
        close(fd);
    }

    // As Faasm's getdents demo: the listing.
    const char* names[16];
    int count = 0;
    DIR* dir = opendir("/etc/");
    struct dirent* entry;
    while (dir && (entry = readdir(dir)) != NULL && count < 16) {
        if (strcmp(entry->d_name, ".") != 0 && strcmp(entry->d_name, "..") != 0) {
            names[count++] = strdup(entry->d_name);
        }
    }
    if (dir) {
        closedir(dir);
    }
    qsort(names, count, sizeof(names[0]), compare_names);
    char listing[512] = "";
    for (int i = 0; i < count; i++) {
        size_t len = strlen(listing);
        snprintf(listing + len, sizeof(listing) - len, "%s%s", i ? "," : "", names[i]);
    }
    put("listing", "%s", listing);

    // Read-only, and nothing else of the host's /etc (Faasm's errors/open_blocked).
    put("write_hosts", "%s", fopen("/etc/hosts", "w") ? "opened" : strerror(errno));
    put("create_file", "%s", fopen("/etc/new", "w") ? "opened" : strerror(errno));
    put("shadow", "%s", fopen("/etc/shadow", "r") ? "opened" : strerror(errno));

    // The time zone is UTC.
    time_t now = time(NULL);
    struct tm local;
    localtime_r(&now, &local);
    put("utc_offset", "%ld", (long)local.tm_gmtoff);
}

int main(void)
{
    printf("out\n");
    fprintf(stderr, "err\n");
    printf("out2\n");
    terminals();
    environment();
    etc();
#ifdef ZYGOTE
    put("zygote_env", "%s", zygote_env);
    put("zygote_hosts", "%s", zygote_hosts);
#endif
    report();
    return 0;
}
