// Chains the function named by the input (with input "ping"), awaits it and reports what
// the await returned and the child's output: "<await value>|<output>".
#include <faasm/faasm.h>
#include <stdio.h>
#include <stdlib.h>

int main(void)
{
    char name[64] = { 0 };
    faasmGetInput((uint8_t*)name, sizeof(name) - 1);
    unsigned int id = faasmChainNamed(name, (const uint8_t*)"ping", 4);
    printf("parent stdout\n");
    char* child = NULL;
    int childLen = 0;
    unsigned int result = faasmAwaitCallOutput(id, &child, &childLen);
    char out[256];
    int len = snprintf(out, sizeof(out), "%u|%s", result, child ? child : "");
    faasmSetOutput((const uint8_t*)out, len);
    return 0;
}
