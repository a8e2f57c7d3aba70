/*
 * faasm-rs guest SDK: Faasm's file helpers (C++, namespace faasm).
 * They work on any path a call can open (its scratch `/`, `faasm://`).
 */
#ifndef FAASM_FILES_H
#define FAASM_FILES_H

#ifdef __cplusplus

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

namespace faasm {

/* The file's size in bytes, or -1 if it cannot be opened. */
inline long getFileLength(const char* path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        return -1;
    }
    return (long)st.st_size;
}

/* The whole file as a malloc'd, NUL-terminated string (free it yourself),
 * or NULL if it cannot be read or is empty. */
inline char* readFileToString(const char* path)
{
    FILE* f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }
    long length = getFileLength(path);
    char* buffer = length > 0 ? (char*)malloc((size_t)length + 1) : NULL;
    size_t n = 0;
    if (buffer != NULL) {
        n = fread(buffer, 1, (size_t)length, f);
        buffer[n] = '\0';
    }
    fclose(f);
    if (n == 0) {
        free(buffer);
        return NULL;
    }
    return buffer;
}

} // namespace faasm

#endif /* __cplusplus */

#endif /* FAASM_FILES_H */
