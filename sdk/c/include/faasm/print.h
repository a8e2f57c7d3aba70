/*
 * faasm-rs guest SDK: Faasm's array printing (C++, namespace faasm).
 *
 * faasm::printArray(data, size) prints "[a, b, c]" on stdout (no newline):
 * integers with %i (%lli for 64-bit), floating point with %f.
 */
#ifndef FAASM_PRINT_H
#define FAASM_PRINT_H

#include <stdio.h>

#ifdef __cplusplus

#include <stddef.h>

#include <type_traits>

namespace faasm {

template<typename T>
void printArray(T* data, size_t size)
{
    static_assert(std::is_arithmetic<T>::value,
                  "faasm::printArray prints arrays of numbers");
    printf("[");
    for (size_t i = 0; i < size; i++) {
        if (i > 0) {
            printf(", ");
        }
        if (std::is_floating_point<T>::value) {
            printf("%f", (double)data[i]);
        } else if (sizeof(T) > sizeof(int)) {
            printf("%lli", (long long)data[i]);
        } else {
            printf("%i", (int)data[i]);
        }
    }
    printf("]");
}

} // namespace faasm

#endif /* __cplusplus */

#endif /* FAASM_PRINT_H */
