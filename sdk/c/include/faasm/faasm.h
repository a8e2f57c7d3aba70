/*
 * faasm-rs guest SDK: the one header a Faasm function needs.
 * C gets Faasm's C API (<faasm/core.h>); C++ also gets faasm::getStringInput
 * and friends (<faasm/input.h>).
 */
#ifndef FAASM_FAASM_H
#define FAASM_FAASM_H

#include "faasm/core.h"
#include "faasm/input.h"

#endif /* FAASM_FAASM_H */
