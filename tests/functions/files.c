// Exercises a call's filesystem (SPEC §6). The input names the scenario; the output is one
// line per check, "name=value", so tests can compare it exactly.
#include <dirent.h>
#include <errno.h>
#include <faasm/faasm.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <wasi/api.h>

#include "report.h"


// The whole content of a file, or "ERR:<errno name>".
static const char* slurp(const char* path)
{
    static char buf[1024];
    FILE* f = fopen(path, "r");
    if (!f) {
        snprintf(buf, sizeof(buf), "ERR:%s", strerror(errno));
        return buf;
    }
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

static int spit(const char* path, const char* mode, const char* text)
{
    FILE* f = fopen(path, mode);
    if (!f) {
        return -errno;
    }
    size_t n = fwrite(text, 1, strlen(text), f);
    if (fclose(f) != 0 || n != strlen(text)) {
        return -EIO;
    }
    return 0;
}

// Sorted, comma-separated entries of a directory (without . and ..), or "ERR:...".
static const char* listing(const char* path)
{
    static char buf[1024];
    DIR* dir = opendir(path);
    if (!dir) {
        snprintf(buf, sizeof(buf), "ERR:%s", strerror(errno));
        return buf;
    }
    char names[32][64];
    int count = 0;
    struct dirent* entry;
    while ((entry = readdir(dir)) && count < 32) {
        if (strcmp(entry->d_name, ".") && strcmp(entry->d_name, "..")) {
            snprintf(names[count++], 64, "%s", entry->d_name);
        }
    }
    closedir(dir);
    qsort(names, count, 64, (int (*)(const void*, const void*))strcmp);
    buf[0] = 0;
    for (int i = 0; i < count; i++) {
        strcat(buf, i ? "," : "");
        strcat(buf, names[i]);
    }
    return buf;
}

static const char* reachable(const char* path)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        return "no";
    }
    close(fd);
    return "YES";
}

static void scratch(void)
{
    put("tmp_write", "%d", spit("/tmp/note.txt", "w", "scratch data"));
    put("tmp_read", "%s", slurp("/tmp/note.txt"));
    put("relative_write", "%d", spit("rel.txt", "w", "relative"));
    put("root_read", "%s", slurp("/rel.txt"));
    put("mkdir", "%d", mkdir("/tmp/sub", 0755));
    put("nested_write", "%d", spit("/tmp/sub/deep.txt", "w", "deep"));
    put("append", "%d", spit("/tmp/note.txt", "a", "+more"));
    put("appended", "%s", slurp("/tmp/note.txt"));
    put("root_listing", "%s", listing("/"));
    put("tmp_listing", "%s", listing("/tmp"));
    char cwd[64];
    put("cwd", "%s", getcwd(cwd, sizeof(cwd)) ? cwd : "ERR");
}

static void fresh(void)
{
    put("tmp_note", "%s", reachable("/tmp/note.txt"));
    put("rel", "%s", reachable("/rel.txt"));
    put("tmp_listing", "%s", listing("/tmp"));
}

static void shared(void)
{
    FILE* f = fopen("faasm://data/in.txt", "rb");
    if (!f) {
        put("open", "ERR:%s", strerror(errno));
        return;
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 6, SEEK_SET);
    char part[64] = { 0 };
    size_t n = fread(part, 1, sizeof(part) - 1, f);
    fclose(f);
    put("ftell", "%ld", size);
    put("from6", "%.*s", (int)n, part);
    struct stat st;
    put("stat", "%d", stat("faasm://data/in.txt", &st));
    put("stat_size", "%lld", (long long)st.st_size);
    put("stat_dir", "%d", stat("faasm://data", &st) == 0 && S_ISDIR(st.st_mode));
    put("listing", "%s", listing("faasm://data"));
    put("top_listing", "%s", listing("faasm://"));
    put("one_slash", "%s", slurp("faasm:/data/in.txt"));
    put("nested", "%s", slurp("faasm://data/sub/nested.txt"));
    int fd = open("faasm://data/in.txt", O_RDONLY);
    char head[5] = { 0 };
    put("pread", "%zd", pread(fd, head, 4, 0));
    put("head", "%s", head);
    put("lseek", "%lld", (long long)lseek(fd, 0, SEEK_END));
    close(fd);
    put("missing", "%s", slurp("faasm://data/nope.txt"));
}

static void shared_write(void)
{
    // The shared copy itself cannot be removed, linked, re-timed or written through a
    // directory descriptor.
    put("unlink_shared", "%s", unlink("faasm://data/in.txt") == 0 ? "0" : strerror(errno));
    put("link_shared", "%s", link("faasm://data/in.txt", "faasm://data/l.txt") == 0 ? "0" : strerror(errno));
    struct timespec times[2] = { { 0, 0 }, { 0, 0 } };
    put("utimens_shared", "%s", utimensat(AT_FDCWD, "faasm://data/in.txt", times, 0) == 0 ? "0" : strerror(errno));
    int dir = open("faasm://data", O_RDONLY | O_DIRECTORY);
    int through = openat(dir, "in.txt", O_WRONLY);
    const char* result = through < 0 ? strerror(errno)
        : write(through, "EVIL", 4) == 4 ? "0"
                                          : strerror(errno);
    put("openat_write", "%s", result);
    close(dir);
    put("overwrite", "%d", spit("faasm://data/in.txt", "w", "changed"));
    put("own_copy", "%s", slurp("faasm://data/in.txt"));
    struct stat st;
    stat("faasm://data/in.txt", &st);
    put("own_size", "%lld", (long long)st.st_size);
    // Read-write without truncation starts from the shared content.
    int fd = open("faasm://data/other.txt", O_RDWR);
    char buf[64] = { 0 };
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    put("rdwr_read", "%.*s", (int)(n < 0 ? 0 : n), buf);
    lseek(fd, 0, SEEK_SET);
    put("rdwr_write", "%zd", write(fd, "OTHER", 5));
    close(fd);
    put("rdwr_result", "%s", slurp("faasm://data/other.txt"));
    put("append", "%d", spit("faasm://data/sub/nested.txt", "a", "+tail"));
    put("appended", "%s", slurp("faasm://data/sub/nested.txt"));
    put("create", "%d", spit("faasm://data/new.txt", "w", "brand new"));
    put("created", "%s", slurp("faasm://data/new.txt"));
    put("mkdir", "%d", mkdir("faasm://out", 0755));
    put("in_new_dir", "%d", spit("faasm://out/result.txt", "w", "result"));
    put("new_dir_file", "%s", slurp("faasm://out/result.txt"));
    put("excl", "%d", open("faasm://data/in.txt", O_WRONLY | O_CREAT | O_EXCL, 0644) < 0 ? errno == EEXIST : -1);
    put("missing_dir", "%d", spit("faasm://nodir/x.txt", "w", "x"));
    put("unlink_own", "%d", unlink("faasm://data/new.txt"));
    put("after_unlink", "%s", reachable("faasm://data/new.txt"));
    // Removing the call's own copy makes the shared one visible again.
    put("unlink_copy", "%d", unlink("faasm://data/in.txt"));
    put("after_unlink_copy", "%s", slurp("faasm://data/in.txt"));
}

static void escapes(void)
{
    // What is inside is reachable, links included.
    spit("/tmp/inside.txt", "w", "inside");
    put("inside", "%s", reachable("/tmp/inside.txt"));
    symlink("inside.txt", "/tmp/inside_link");
    put("inside_symlink", "%s", slurp("/tmp/inside_link"));
    put("dotdot", "%s", reachable("../../etc/passwd"));
    // The call's /etc holds Faasm's files, not the host's.
    put("absolute", "%s", reachable("/etc/shadow"));
    put("etc_dotdot", "%s", reachable("/etc/../../etc/shadow"));
    put("tmp_dotdot", "%s", reachable("/tmp/../../../etc/passwd"));
    put("faasm_dotdot", "%s", reachable("faasm://../../etc/passwd"));
    put("faasm_deep_dotdot", "%s", reachable("faasm://data/../../../../etc/passwd"));
    put("dev_dotdot", "%s", reachable("/dev/../../etc/passwd"));
    put("proc", "%s", reachable("/proc/self/environ"));
    put("abs_symlink_made", "%s", symlink("/etc/passwd", "/tmp/abs_link") == 0 ? "0" : strerror(errno));
    put("abs_symlink", "%s", reachable("/tmp/abs_link"));
    put("rel_symlink_made", "%s", symlink("../../../../../../../etc", "/tmp/rel_link") == 0 ? "0" : strerror(errno));
    put("rel_symlink", "%s", reachable("/tmp/rel_link/passwd"));
    put("faasm_write_escape", "%d", spit("faasm://../escaped.txt", "w", "x") == 0);
    put("dotdot_errno", "%s", slurp("/tmp/../../etc/passwd"));
    put("rel_symlink_errno", "%s", slurp("/tmp/rel_link/passwd"));
    put("shared_rename", "%s", rename("faasm://data/in.txt", "faasm://data/moved.txt") == 0 ? "0" : strerror(errno));
    put("dev_create", "%d", spit("/dev/evil", "w", "x") == 0);
    put("etc_create", "%d", spit("/etc/evil", "w", "x") == 0);

    // Raw WASI, past wasi-libc's rights masking: a directory opened under faasm:// stays
    // read-only, and the descriptors behind the preopens give nothing more.
    __wasi_fd_t raw;
    int dir = open("faasm://data", O_RDONLY | O_DIRECTORY);
    __wasi_rights_t rw = __WASI_RIGHTS_FD_READ | __WASI_RIGHTS_FD_WRITE;
    put("raw_derived_write", "%d", __wasi_path_open(dir, 0, "in.txt", 0, rw, 0, 0, &raw));
    put("raw_derived_trunc", "%d", __wasi_path_open(dir, 0, "in.txt", __WASI_OFLAGS_TRUNC, rw, 0, 0, &raw));
    put("raw_derived_create", "%d", __wasi_path_open(dir, 0, "x.txt", __WASI_OFLAGS_CREAT, rw, 0, 0, &raw));
    close(dir);
    put("raw_faasm_escape", "%d", __wasi_path_open(4, 0, "../x", __WASI_OFLAGS_CREAT, rw, 0, 0, &raw));
    put("raw_dev_escape", "%d", __wasi_path_open(5, 0, "../lock", 0, rw, 0, 0, &raw));
    put("raw_etc_escape", "%d", __wasi_path_open(6, 0, "../lock", 0, rw, 0, 0, &raw));
    put("raw_etc_write", "%d", __wasi_path_open(6, 0, "hosts", 0, rw, 0, 0, &raw));
    __wasi_prestat_t prestat;
    put("hidden_prestat", "%d", __wasi_fd_prestat_get(7, &prestat));
}

static void devices(void)
{
    FILE* null = fopen("/dev/null", "w");
    put("null_open", "%d", null != NULL);
    if (null) {
        char big[10000];
        memset(big, 'x', sizeof(big));
        put("null_fwrite", "%zu", fwrite(big, 1, sizeof(big), null));
        put("null_close", "%d", fclose(null));
    }
    int fd = open("/dev/null", O_RDWR);
    char c;
    put("null_write", "%zd", write(fd, "abc", 3));
    put("null_read", "%zd", read(fd, &c, 1));
    close(fd);

    unsigned char a[32], b[32];
    FILE* random = fopen("/dev/urandom", "rb");
    put("urandom_open", "%d", random != NULL);
    if (!random) {
        return;
    }
    size_t na = fread(a, 1, sizeof(a), random);
    size_t nb = fread(b, 1, sizeof(b), random);
    fclose(random);
    int zeros = 0;
    for (int i = 0; i < 32; i++) {
        zeros += a[i] == 0;
    }
    put("urandom_read", "%zu,%zu", na, nb);
    put("urandom_differs", "%d", memcmp(a, b, sizeof(a)) != 0);
    put("urandom_not_zero", "%d", zeros < 8);
    char hex[65];
    for (int i = 0; i < 32; i++) {
        snprintf(hex + 2 * i, 3, "%02x", a[i]);
    }
    put("urandom_hex", "%s", hex);
    fd = open("/dev/random", O_RDONLY);
    unsigned char big[100000];
    ssize_t n = read(fd, big, sizeof(big));
    close(fd);
    int distinct[256] = { 0 };
    int kinds = 0;
    for (ssize_t i = 0; i < n; i++) {
        kinds += !distinct[big[i]]++;
    }
    put("random_big", "%zd", n);
    put("random_kinds", "%d", kinds == 256);
    fd = open("/dev/zero", O_RDONLY);
    memset(a, 7, sizeof(a));
    put("zero_read", "%zd", read(fd, a, sizeof(a)));
    put("zero_is_zero", "%d", a[0] == 0 && a[31] == 0);
    close(fd);
    put("dev_listing", "%s", listing("/dev"));
}

int main(void)
{
    char what[64] = { 0 };
    int len = faasmGetInputSize();
    faasmGetInput((uint8_t*)what, len < 63 ? len : 63);
    if (!strcmp(what, "scratch")) {
        scratch();
    } else if (!strcmp(what, "fresh")) {
        fresh();
    } else if (!strcmp(what, "shared")) {
        shared();
    } else if (!strcmp(what, "shared_write")) {
        shared_write();
    } else if (!strcmp(what, "escapes")) {
        escapes();
    } else if (!strcmp(what, "devices")) {
        devices();
    } else {
        put("unknown", "%s", what);
    }
    report();
    return 0;
}
