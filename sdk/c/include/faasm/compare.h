/*
 * faasm-rs guest SDK: Faasm's array comparison (C++, namespace faasm).
 *
 * faasm::compareArrays(a, b, len) is true if the first len elements are
 * equal; otherwise it prints "Arrays not equal: A=[...] B=[...]" on stdout
 * and returns false.
 */
#ifndef FAASM_COMPARE_H
#define FAASM_COMPARE_H

#include "faasm/print.h"

#ifdef __cplusplus

namespace faasm {

template<typename T>
bool compareArrays(T* a, T* b, int len)
{
    for (int i = 0; i < len; i++) {
        if (!(a[i] == b[i])) {
            printf("Arrays not equal: A=");
            printArray<T>(a, (size_t)len);
            printf(" B=");
            printArray<T>(b, (size_t)len);
            printf("\n");
            return false;
        }
    }
    return true;
}

} // namespace faasm

#endif /* __cplusplus */

#endif /* FAASM_COMPARE_H */
