// Faasm's guest helper headers beyond core.h/input.h, used the way Faasm's own functions use
// them (func/demo, func/mpi, func/omp in faasm/cpp). The output is one "name=value" line per
// check; compareArrays/printArray and the FAASM_PROF macros print on stdout.
#define WASM_PROF 1 // turn on FAASM_PROF_START/END, as Faasm's float_perf build does

#include <faasm/array.h>
#include <faasm/compare.h>
#include <faasm/emscripten.h>
#include <faasm/faasm.h>
#include <faasm/files.h>
#include <faasm/migrate.h>
#include <faasm/print.h>
#include <faasm/random.h>
#include <faasm/shared_mem.h>
#include <faasm/state.h>
#include <faasm/time.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>

static std::string out;

template<typename T>
static void put(const char* name, T value)
{
    out += name;
    out += "=";
    out += std::to_string(value);
    out += "\n";
}

static void put(const char* name, const std::string& value)
{
    out += std::string(name) + "=" + value + "\n";
}

static void time_helpers()
{
    double first = faasm::getSecondsSinceEpoch();
    double second = faasm::getSecondsSinceEpoch();
    put("epoch_sane", first > 1.6e9 && first < 4.1e9);
    put("epoch_monotone", second >= first);

    FAASM_PROF_START(work)
    volatile double x = 1.0;
    for (int i = 1; i < 100000; i++) {
        x = x * 1.000001;
    }
    FAASM_PROF_END(work)
}

static void random_helpers()
{
    bool inRange = true;
    bool seen[3] = { false, false, false };
    for (int i = 0; i < 1000; i++) {
        int r = faasm::randomInteger(3, 5);
        inRange = inRange && r >= 3 && r <= 5;
        if (r >= 3 && r <= 5) {
            seen[r - 3] = true;
        }
    }
    put("int_in_range", inRange);
    put("int_all_seen", seen[0] && seen[1] && seen[2]);

    double sum = 0;
    bool unit = true;
    for (int i = 0; i < 10000; i++) {
        float f = faasm::randomFloat();
        unit = unit && f >= 0.0f && f < 1.0f;
        sum += f;
    }
    put("float_in_unit", unit);
    put("float_mean_ok", sum / 10000 > 0.45 && sum / 10000 < 0.55);

    int* range = faasm::randomIntRange(50);
    std::sort(range, range + 50);
    bool permutation = true;
    for (int i = 0; i < 50; i++) {
        permutation = permutation && range[i] == i;
    }
    delete[] range;
    put("int_range_is_permutation", permutation);

    int values[10] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9 };
    faasm::shuffleArray(values, 10);
    std::sort(values, values + 10);
    put("shuffle_keeps_values", values[0] == 0 && values[9] == 9);

    std::string s = faasm::randomString(32);
    bool alphabet = s.find_first_not_of(
                      "123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") ==
                    std::string::npos;
    put("string_len", s.size());
    put("string_alphabet", alphabet);
}

static void compare_and_print()
{
    int a[3] = { 1, 2, 3 };
    int b[3] = { 1, 2, 3 };
    int c[3] = { 1, 2, 4 };
    uint8_t bytesA[4] = { 0, 1, 254, 255 };
    uint8_t bytesB[4] = { 0, 1, 254, 255 };
    double dA[2] = { 1.5, 2.5 };
    double dB[2] = { 1.5, 2.75 };
    put("equal_int", faasm::compareArrays<int>(a, b, 3));
    put("equal_uint8", faasm::compareArrays<uint8_t>(bytesA, bytesB, 4));
    put("unequal_int", faasm::compareArrays<int>(a, c, 3));
    put("unequal_double", faasm::compareArrays<double>(dA, dB, 2));
    faasm::printArray<uint8_t>(bytesA, 4);
    printf("\n");
    faasm::printArray<double>(dA, 2);
    printf("\n");
}

static void file_helpers()
{
    FILE* f = fopen("/tmp/helpers.txt", "w");
    fputs("hello files", f);
    fclose(f);
    fclose(fopen("/tmp/empty.txt", "w"));
    put("length", faasm::getFileLength("/tmp/helpers.txt"));
    char* text = faasm::readFileToString("/tmp/helpers.txt");
    put("contents", std::string(text ? text : "NULL"));
    free(text);
    put("missing_length", faasm::getFileLength("/tmp/nope.txt"));
    put("missing_contents", faasm::readFileToString("/tmp/nope.txt") == nullptr);
    put("empty_contents", faasm::readFileToString("/tmp/empty.txt") == nullptr);
}

static void state_helpers()
{
    faasm::zeroState("helpers_zero", 8);
    uint8_t zeros[8];
    memset(zeros, 0xAA, sizeof(zeros));
    faasmReadState("helpers_zero", zeros, 8);
    int sum = 0;
    for (uint8_t z : zeros) {
        sum += z;
    }
    put("zero_state_size", faasmReadStateSize("helpers_zero"));
    put("zero_state_sum", sum);

    faasm::AsyncArray<int> array("helpers_array", 4);
    array.zero();
    array[1] = 7;
    array[3] = 9;
    array.push();
    array.pull();
    int* data = array.data();
    put("async_array", std::to_string(data[0]) + "," + std::to_string(data[1]) + "," +
                         std::to_string(data[2]) + "," + std::to_string(data[3]));

    unsigned int mask[4] = { 0, 0, 0, 0 };
    faasm::maskDouble(mask, 1);
    char text[64];
    snprintf(text, sizeof(text), "%x,%x,%x,%x", mask[0], mask[1], mask[2], mask[3]);
    put("mask_double", std::string(text));
}

static void shared_memory_markup()
{
    // As in func/omp: markup around what would be OpenMP regions; here they run as written.
    int count = 0;
    FAASM_REDUCE(count, FAASM_TYPE_INT, FAASM_OP_SUM)
    for (int i = 0; i < 10; i++) {
        count += i;
    }
    put("reduce", count);

    int counter = 0;
    FAASM_ATOMIC_INCR(counter)
    FAASM_ATOMIC_INCR_BY(counter, 5)
    FAASM_CRITICAL_LOCAL(counter *= 2)
    FAASM_START_CRITICAL_LOCAL()
    counter++;
    FAASM_END_CRITICAL_LOCAL()
    put("atomic_and_critical", counter);

    double total = 0.5;
    FAASM_REDUCE_INNER(total, FAASM_TYPE_DOUBLE, FAASM_OP_SUM)
    total += 1.25;
    put("reduce_double", std::to_string(total).substr(0, 4));
}

static int resumedWith = -1;

static void resume(int arg)
{
    resumedWith = arg;
}

static void migration()
{
    // As in func/mpi/migrate.cpp: a call never moves here, so the point just returns.
    __faasm_migrate_point(&resume, 5);
    put("migrate_continued", 1);
    put("migrate_resumed_with", resumedWith);
}

static void emscripten()
{
    char buf[32];
    int n = siprintf(buf, "Hi %s %i", "foobar", 123);
    put("siprintf", std::string(buf));
    put("siprintf_len", n);
}

int main()
{
    time_helpers();
    random_helpers();
    compare_and_print();
    file_helpers();
    state_helpers();
    shared_memory_markup();
    migration();
    emscripten();
    faasmSetOutput(out.data(), (long)out.size());
    return 0;
}
