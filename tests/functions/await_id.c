// Awaits the call whose number is the input, as a guest scanning for others' calls would, and
// outputs what that call wrote.
#include <faasm/faasm.h>
#include <stdlib.h>

int main(void)
{
    char text[32] = { 0 };
    faasmGetInput((uint8_t*)text, sizeof(text) - 1);
    unsigned int id = (unsigned int)strtoul(text, NULL, 10);
    char* output = NULL;
    int len = 0;
    faasmAwaitCallOutput(id, &output, &len);
    faasmSetOutput((const uint8_t*)output, len);
    return 0;
}
