// Never returns: a runaway loop for timeout tests.
int main(void)
{
    volatile unsigned long n = 0;
    for (;;) {
        n++;
    }
}
