/*
 * faasm-rs guest ABI: the host calls a function imports from module "env".
 *
 * Every pointer and length is an i32 on wasm32; a `()` result in the spec's
 * table is `void` here. Strings are NUL-terminated. Most code should use the
 * Faasm C API in <faasm/core.h> instead of calling these directly.
 */
#ifndef FAASM_HOST_INTERFACE_H
#define FAASM_HOST_INTERFACE_H

#define FAASM_IMPORT(name) \
    __attribute__((import_module("env"), import_name(name)))

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Input and output ---- */

/* len == 0: return the input size; else copy min(len, size) bytes, return the count. */
FAASM_IMPORT("__faasm_read_input")
int __faasm_read_input(unsigned char* buf, int len);

/* Replace the call's output with these bytes. */
FAASM_IMPORT("__faasm_write_output")
void __faasm_write_output(const unsigned char* data, int len);

/* ---- Chaining ---- */

/* Call {user}/{name} with this input; return the new call's id. */
FAASM_IMPORT("__faasm_chain_name")
unsigned int __faasm_chain_name(const char* name, const unsigned char* in, int len);

/* Call this module again, running function-table entry `idx` (an int f(void)). */
FAASM_IMPORT("__faasm_chain_ptr")
unsigned int __faasm_chain_ptr(int idx, const unsigned char* in, int len);

/* Block until the call ends; return its return value (1 on failure or timeout). */
FAASM_IMPORT("__faasm_await_call")
int __faasm_await_call(unsigned int id);

/* Like __faasm_read_input, for the output of a finished chained call. */
FAASM_IMPORT("__faasm_read_call_output")
int __faasm_read_call_output(unsigned int id, unsigned char* buf, int len);

/* ---- State ---- */

/* len == 0: return the value's size (0 if absent); else copy it and return the size. */
FAASM_IMPORT("__faasm_read_state")
int __faasm_read_state(const char* key, unsigned char* buf, int len);

/* Pointer to the host-local copy of the value, inside this module's memory. */
FAASM_IMPORT("__faasm_read_state_ptr")
unsigned char* __faasm_read_state_ptr(const char* key, int total);

FAASM_IMPORT("__faasm_read_state_offset")
void __faasm_read_state_offset(const char* key, int total, int off,
                               unsigned char* buf, int len);

FAASM_IMPORT("__faasm_read_state_offset_ptr")
unsigned char* __faasm_read_state_offset_ptr(const char* key, int total,
                                             int off, int len);

/* Set the local value and mark it dirty (pushed to the global tier later). */
FAASM_IMPORT("__faasm_write_state")
void __faasm_write_state(const char* key, const unsigned char* data, int len);

FAASM_IMPORT("__faasm_write_state_offset")
void __faasm_write_state_offset(const char* key, int total, int off,
                                const unsigned char* data, int len);

/* Set the value to the bytes of a file; return the file's length. */
FAASM_IMPORT("__faasm_write_state_from_file")
int __faasm_write_state_from_file(const char* key, const char* path);

/* Mark (a range of) a value written through a pointer as dirty. */
FAASM_IMPORT("__faasm_flag_state_dirty")
void __faasm_flag_state_dirty(const char* key, int total);

FAASM_IMPORT("__faasm_flag_state_offset_dirty")
void __faasm_flag_state_offset_dirty(const char* key, int total, int off, int len);

/* Send the (dirty parts of the) local value to the global tier. */
FAASM_IMPORT("__faasm_push_state")
void __faasm_push_state(const char* key);

FAASM_IMPORT("__faasm_push_state_partial")
void __faasm_push_state_partial(const char* key);

FAASM_IMPORT("__faasm_push_state_partial_mask")
void __faasm_push_state_partial_mask(const char* key, const char* mask_key);

/* Refresh the local copy from the global tier. */
FAASM_IMPORT("__faasm_pull_state")
void __faasm_pull_state(const char* key, int len);

/* Append-only list per key: add one element / read the first n concatenated / clear. */
FAASM_IMPORT("__faasm_append_state")
void __faasm_append_state(const char* key, const unsigned char* data, int len);

FAASM_IMPORT("__faasm_read_appended_state")
void __faasm_read_appended_state(const char* key, unsigned char* buf, int len,
                                 int n_elems);

FAASM_IMPORT("__faasm_clear_appended_state")
void __faasm_clear_appended_state(const char* key);

/* Reader/writer lock on a key. */
FAASM_IMPORT("__faasm_lock_state_read")
void __faasm_lock_state_read(const char* key);

FAASM_IMPORT("__faasm_unlock_state_read")
void __faasm_unlock_state_read(const char* key);

FAASM_IMPORT("__faasm_lock_state_write")
void __faasm_lock_state_write(const char* key);

FAASM_IMPORT("__faasm_unlock_state_write")
void __faasm_unlock_state_write(const char* key);

/* ---- Python runner ---- */

FAASM_IMPORT("__faasm_get_py_user")
void __faasm_get_py_user(unsigned char* buf, int len);

FAASM_IMPORT("__faasm_get_py_func")
void __faasm_get_py_func(unsigned char* buf, int len);

FAASM_IMPORT("__faasm_get_py_entry")
void __faasm_get_py_entry(unsigned char* buf, int len);

/* Chain this Python function, running entry(input); return the call id. */
FAASM_IMPORT("__faasm_chain_py")
unsigned int __faasm_chain_py(const char* entry, const unsigned char* in, int len);

/* ---- Configuration and debugging ---- */

/* 1 if the flag is ALWAYS_ON, else 0. */
FAASM_IMPORT("__faasm_conf_flag")
int __faasm_conf_flag(const char* key);

/* Log the guest's current call stack (the host decides how many frames;
 * `depth` is a hint, 0 = all). The function carries on. */
FAASM_IMPORT("__faasm_backtrace")
void __faasm_backtrace(int depth);

/* Faasm's hook for testing how a host call's error ends the call
 * (<faasm/host_interface_test.h>): the host fails the call from inside this
 * function (test 1, ExceptionPropagationTest; any other number is rejected as
 * an unknown test, which fails the call too). It never returns. */
FAASM_IMPORT("__faasm_host_interface_test")
void __faasm_host_interface_test(int testNum);

#ifdef __cplusplus
}
#endif

#undef FAASM_IMPORT

#endif /* FAASM_HOST_INTERFACE_H */
