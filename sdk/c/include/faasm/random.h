/*
 * faasm-rs guest SDK: Faasm's random helpers (C++, namespace faasm).
 *
 * One generator per call, seeded from the host's entropy (WASI random_get)
 * the first time it is used.
 */
#ifndef FAASM_RANDOM_H
#define FAASM_RANDOM_H

#ifdef __cplusplus

#include <stddef.h>

#include <algorithm>
#include <random>
#include <string>

namespace faasm {

/* The shared generator behind the functions below. */
inline std::mt19937& randomGenerator()
{
    static std::mt19937 generator(std::random_device{}());
    return generator;
}

/* A uniformly distributed integer in [iStart, iEnd] (both included). */
inline int randomInteger(int iStart, int iEnd)
{
    std::uniform_int_distribution<int> dist(iStart, iEnd);
    return dist(randomGenerator());
}

/* A uniformly distributed float in [0, 1). */
inline float randomFloat()
{
    std::uniform_real_distribution<float> dist(0.0f, 1.0f);
    return dist(randomGenerator());
}

/* Shuffle the array in place. */
inline void shuffleArray(int* arrayIn, size_t arrayLen)
{
    std::shuffle(arrayIn, arrayIn + arrayLen, randomGenerator());
}

/* 0 .. rangeLen-1 in random order (new[]'d: delete[] it). */
inline int* randomIntRange(int rangeLen)
{
    int* range = new int[rangeLen > 0 ? rangeLen : 1];
    for (int i = 0; i < rangeLen; i++) {
        range[i] = i;
    }
    shuffleArray(range, rangeLen > 0 ? (size_t)rangeLen : 0);
    return range;
}

/* len random characters from [1-9A-Za-z] (Faasm's alphabet has no '0'). */
inline std::string randomString(int len)
{
    static const char alphabet[] = "123456789"
                                   "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                   "abcdefghijklmnopqrstuvwxyz";
    std::uniform_int_distribution<int> dist(0, (int)sizeof(alphabet) - 2);
    std::string result;
    for (int i = 0; i < len; i++) {
        result += alphabet[dist(randomGenerator())];
    }
    return result;
}

} // namespace faasm

#endif /* __cplusplus */

#endif /* FAASM_RANDOM_H */
