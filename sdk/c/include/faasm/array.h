/*
 * faasm-rs guest SDK: Faasm's AsyncArray (C++, namespace faasm): a typed
 * view of a state value, read through a pointer into the host-local copy;
 * every element accessed with [] is flagged dirty and push() sends only the
 * dirty ranges.
 */
#ifndef FAASM_ARRAY_H
#define FAASM_ARRAY_H

#include "faasm/core.h"
#include "faasm/state.h"

#ifdef __cplusplus

#include <stddef.h>

namespace faasm {

template<typename T>
class AsyncArray
{
  public:
    AsyncArray(const char* keyIn, size_t nElemsIn)
      : key(keyIn)
      , nElems(nElemsIn)
      , bytesSize(nElems * sizeof(T))
      , contents(nullptr)
    {}

    /* Set every element to zero (pushed), then point at the local copy. */
    void zero()
    {
        zeroState(key, bytesSize);
        pullLazy();
    }

    /* An element, flagged dirty (it may be written through the reference). */
    T& operator[](int idx)
    {
        faasmFlagStateOffsetDirty(key, (long)bytesSize,
                                  (long)(idx * sizeof(T)), (long)sizeof(T));
        return contents[idx];
    }

    /* Point at the local copy, pulling it only if it is not local yet. */
    void pullLazy()
    {
        contents = reinterpret_cast<T*>(faasmReadStatePtr(key, (long)bytesSize));
    }

    /* Refresh the local copy from the global tier, then point at it. */
    void pull()
    {
        faasmPullState(key, (long)bytesSize);
        pullLazy();
    }

    /* Send the dirty elements to the global tier. */
    void push() { faasmPushStatePartial(key); }

    T* data() { return contents; }

  private:
    const char* key;
    size_t nElems;
    size_t bytesSize;
    T* contents;
};

} // namespace faasm

#endif /* __cplusplus */

#endif /* FAASM_ARRAY_H */
