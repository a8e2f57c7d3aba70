/*
 * faasm-rs guest SDK: Faasm's C++ input/output helpers (namespace faasm).
 * Header-only; in C this header only pulls in <faasm/core.h>.
 */
#ifndef FAASM_INPUT_H
#define FAASM_INPUT_H

#include "faasm/core.h"

#ifdef __cplusplus

namespace faasm {

/* The input as a NUL-terminated string (malloc'd), or defaultValue if empty. */
inline const char* getStringInput(const char* defaultValue)
{
    long size = faasmGetInputSize();
    if (size <= 0) {
        return defaultValue;
    }
    char* buf = static_cast<char*>(malloc(static_cast<size_t>(size) + 1));
    if (buf == nullptr) {
        return defaultValue;
    }
    long n = faasmGetInput(reinterpret_cast<uint8_t*>(buf), size);
    buf[n < 0 ? 0 : n] = '\0';
    return buf;
}

/* Set the output to the string's bytes (without the NUL). */
inline void setStringOutput(const char* val)
{
    faasmSetOutput(reinterpret_cast<const uint8_t*>(val),
                   static_cast<long>(strlen(val)));
}

/* The input parsed as a decimal int (0 if empty or not a number). */
inline int getIntInput()
{
    return static_cast<int>(strtol(getStringInput("0"), nullptr, 10));
}

/* The input's raw bytes as a T, or defaultValue if there is no input. */
template<typename T>
T getTypedInput(T defaultValue)
{
    if (faasmGetInputSize() == 0) {
        return defaultValue;
    }
    T value = defaultValue;
    faasmGetInput(reinterpret_cast<uint8_t*>(&value), sizeof(T));
    return value;
}

/* Parse up to `expected` space-separated ints (new[]'d array, zero-filled). */
inline int* parseStringToIntArray(const char* inStr, int expected)
{
    int* result = new int[expected > 0 ? expected : 1]();
    const char* p = inStr;
    for (int i = 0; i < expected; i++) {
        char* end = nullptr;
        long v = strtol(p, &end, 10);
        if (end == p) {
            break;
        }
        result[i] = static_cast<int>(v);
        p = end;
    }
    return result;
}

} // namespace faasm

#endif /* __cplusplus */

#endif /* FAASM_INPUT_H */
