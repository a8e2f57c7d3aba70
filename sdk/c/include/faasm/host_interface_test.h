/*
 * faasm-rs guest SDK: test numbers for __faasm_host_interface_test
 * (declared in <faasm/host_interface.h>), as in Faasm.
 */
#ifndef FAASM_HOST_INTERFACE_TEST_H
#define FAASM_HOST_INTERFACE_TEST_H

enum HostInterfaceTest {
    NoTest = 0,
    /* An error raised inside the host call ends the call (it fails). */
    ExceptionPropagationTest = 1,
};

#endif /* FAASM_HOST_INTERFACE_TEST_H */
