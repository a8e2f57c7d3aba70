// A C++ Proto-Faaslet: the zygote fills global objects (constructed once, before it) and main
// outputs them, scribbles over them and exits normally, running their destructors and an
// atexit handler. Every call must see the zygote's values and exit cleanly.
#include <faasm/faasm.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

static std::vector<int> squares;
static std::map<std::string, int> index_of;
static std::string greeting = "constructed";
static int exits = 0;

static void count_exit()
{
    exits++;
}

FAASM_ZYGOTE()
{
    for (int i = 0; i < 1000; i++) {
        squares.push_back(i * i);
    }
    index_of["one"] = 1;
    index_of["two"] = 2;
    greeting += " then initialised";
    atexit(count_exit);
    std::printf("zygote ran\n");
    return 0;
}

int main()
{
    long long sum = 0;
    for (int s : squares) {
        sum += s;
    }
    std::string out = "squares=" + std::to_string(squares.size()) + " sum=" + std::to_string(sum)
        + " two=" + std::to_string(index_of["two"]) + " greeting=" + greeting
        + " exits=" + std::to_string(exits);
    faasmSetOutput(reinterpret_cast<const uint8_t*>(out.data()), out.size());

    squares.assign(5, -1);
    index_of.clear();
    greeting = "scribbled";
    return 0;
}
