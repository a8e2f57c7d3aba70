// The "name=value" lines a test function reports as its output: put() appends one line, and
// report() sets the output to all of them. The end-to-end tests parse them by name.
#ifndef FAASM_TEST_REPORT_H
#define FAASM_TEST_REPORT_H

#include <faasm/faasm.h>
#include <stdarg.h>
#include <stdio.h>

static char report_lines[8192];
static size_t report_used = 0;

__attribute__((format(printf, 2, 3))) static void put(const char* name, const char* fmt, ...)
{
    size_t room = sizeof(report_lines) - report_used;
    report_used += snprintf(report_lines + report_used, room, "%s=", name);
    va_list args;
    va_start(args, fmt);
    room = sizeof(report_lines) - report_used;
    report_used += vsnprintf(report_lines + report_used, room, fmt, args);
    va_end(args);
    room = sizeof(report_lines) - report_used;
    report_used += snprintf(report_lines + report_used, room, "\n");
}

static void report(void)
{
    faasmSetOutput((const uint8_t*)report_lines, (long)report_used);
}

#endif
