/*
 * weekday_retention.c — the `c-weekday` retention plugin for otto-hooks, in C99.
 *
 * The same policy as the Rust example (examples/weekday-retention), written
 * against plugin-api/include/otto_hooks.h only:
 *
 *   Keep the newest finished run of each selected weekday for N weeks, plus
 *   pinned and running runs.
 *
 * Settings (the TOML table the host passes to `create`):
 *
 *   weeks            = 8      how many weeks of days keep a run (at least 1)
 *   weekdays         = [...]  which days count ("mon" or "monday", any case);
 *                             all seven when left out
 *   utc_offset_hours = 0      where a day starts, -12 to 14 in quarter hours
 *
 * Decisions, one per input run and in input order, with the reasons the Rust
 * example gives, word for word:
 *
 *   keep    "weekday Tue 2026-11-17"  the newest finished run of a selected
 *                                     day in the window
 *           "pinned"                  the host marked it pinned
 *           "running"                 it is still running
 *   delete  "older than 8 weeks"      its day is before the window
 *           "Sat not in weekdays"     its weekday is not selected
 *           "not the newest of Tue 2026-11-17"
 *
 * A kept run lists every reason that applies; a deleted run the first.
 * `decide` is a pure function of its input: no I/O, no clock, no globals
 * that change, so one instance may be called from many threads at once.
 *
 * Build:  cc -std=c99 -shared -fPIC -O2 -Wall -Wextra -Werror \
 *            -I plugin-api/include -o libc_weekday_retention.so \
 *            examples/c-weekday-retention/weekday_retention.c
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "otto_hooks.h"

#define PLUGIN_NAME "c-weekday"
#define PLUGIN_VERSION "0.1.0"

#define SECS_PER_DAY INT64_C(86400)

/* Longest message this plugin writes (they are one line each). */
#define MESSAGE_MAX 512
/* Longest quoted setting value in a message; longer ones are cut. */
#define QUOTE_MAX 64

/* ------------------------------------------------------------------------
 * Calendar: days and weekdays from epoch seconds, integer arithmetic only.
 * A day is 86 400 seconds from midnight UTC, shifted by a fixed offset; no
 * time-zone database and no summer time, so a decision never depends on the
 * machine it runs on.
 * ------------------------------------------------------------------------ */

/* Monday is 0, Sunday is 6. */
static const char *const SHORT_NAMES[7] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
static const char *const FULL_NAMES[7] = {"monday", "tuesday", "wednesday", "thursday",
                                          "friday", "saturday", "sunday"};

/* Floor division and its remainder, for negative numbers too. */
static int64_t div_floor(int64_t a, int64_t b) {
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static int64_t mod_floor(int64_t a, int64_t b) {
    return a - div_floor(a, b) * b;
}

/* a + b, clamped to the range of int64_t instead of overflowing. */
static int64_t add_saturating(int64_t a, int64_t b) {
    if (b > 0 && a > INT64_MAX - b) {
        return INT64_MAX;
    }
    if (b < 0 && a < INT64_MIN - b) {
        return INT64_MIN;
    }
    return a + b;
}

/* The day (days since 1970-01-01) containing `secs` at `offset` from UTC. */
static int64_t day_containing(int64_t secs, int64_t offset) {
    return div_floor(add_saturating(secs, offset), SECS_PER_DAY);
}

/* The weekday of a day, Monday 0: 1970-01-01 was a Thursday (3). */
static int weekday_of(int64_t day) {
    return (int)((mod_floor(day, 7) + 3) % 7);
}

/* Writes "Tue 2026-11-17" into `buf`: the proleptic Gregorian date of `day`
 * (Howard Hinnant's civil_from_days). `day` comes from epoch seconds divided
 * by 86 400, so |day| < 2^47 and nothing below overflows. */
static void format_day(int64_t day, char *buf, size_t size) {
    int64_t z = day + 719468;
    int64_t era = div_floor(z, 146097);
    int64_t doe = z - era * 146097;                                    /* [0, 146096] */
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* [0, 399] */
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);             /* [0, 365] */
    int64_t mp = (5 * doy + 2) / 153;                                  /* [0, 11] */
    int64_t d = doy - (153 * mp + 2) / 5 + 1;                          /* [1, 31] */
    int64_t m = mp < 10 ? mp + 3 : mp - 9;                             /* [1, 12] */
    int64_t y = yoe + era * 400 + (m <= 2 ? 1 : 0);
    snprintf(buf, size, "%s %04lld-%02d-%02d", SHORT_NAMES[weekday_of(day)], (long long)y,
             (int)m, (int)d);
}

/* ------------------------------------------------------------------------
 * Strings
 * ------------------------------------------------------------------------ */

static otto_str str_of(const char *s) {
    otto_str out = {(const uint8_t *)s, strlen(s)};
    return out;
}

static bool ascii_equal_nocase(const uint8_t *a, size_t len, const char *b) {
    size_t i;
    if (len != strlen(b)) {
        return false;
    }
    for (i = 0; i < len; i++) {
        uint8_t x = a[i], y = (uint8_t)b[i];
        if (x >= 'A' && x <= 'Z') {
            x = (uint8_t)(x - 'A' + 'a');
        }
        if (y >= 'A' && y <= 'Z') {
            y = (uint8_t)(y - 'A' + 'a');
        }
        if (x != y) {
            return false;
        }
    }
    return true;
}

/* The whitespace Rust's `str::trim` removes, within ASCII. */
static bool is_ascii_space(uint8_t c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/* Replaces control characters in a NUL-terminated string with `?`, so that
 * a quoted value cannot break a one-line message. */
static void make_printable(char *s) {
    for (; *s != '\0'; s++) {
        if ((uint8_t)*s < 0x20 || (uint8_t)*s == 0x7f) {
            *s = '?';
        }
    }
}

/* The weekday named `mon` or `monday`, any case, surrounding whitespace allowed;
 * -1 for anything else. */
static int parse_weekday(const uint8_t *name, size_t len) {
    int d;
    while (len > 0 && is_ascii_space(*name)) {
        name++;
        len--;
    }
    while (len > 0 && is_ascii_space(name[len - 1])) {
        len--;
    }
    for (d = 0; d < 7; d++) {
        if (ascii_equal_nocase(name, len, SHORT_NAMES[d]) ||
            ascii_equal_nocase(name, len, FULL_NAMES[d])) {
            return d;
        }
    }
    return -1;
}

/* Copies at most QUOTE_MAX bytes of `s` into `buf` (NUL-terminated), cut at a
 * UTF-8 character boundary, for quoting a value in a message. */
static void quote_into(char *buf, size_t size, const uint8_t *s, size_t len) {
    size_t n = len < size - 1 ? len : size - 1;
    if (n > QUOTE_MAX) {
        n = QUOTE_MAX;
    }
    if (n < len) {
        while (n > 0 && (s[n] & 0xC0) == 0x80) { /* do not split a character */
            n--;
        }
    }
    memcpy(buf, s, n);
    buf[n] = '\0';
}

/* ------------------------------------------------------------------------
 * Errors
 * ------------------------------------------------------------------------ */

/* Lets the compiler check report()'s format strings against their arguments. */
#if defined(__GNUC__) || defined(__clang__)
#define PRINTF_LIKE(fmt, first) __attribute__((format(printf, fmt, first)))
#else
#define PRINTF_LIKE(fmt, first)
#endif

/* Reports a one-line error through the host's callback. */
static void report(const otto_out *out, otto_error_code code, const char *fmt, ...)
    PRINTF_LIKE(3, 4);

static void report(const otto_out *out, otto_error_code code, const char *fmt, ...) {
    char message[MESSAGE_MAX];
    va_list args;
    int n;
    va_start(args, fmt);
    n = vsnprintf(message, sizeof message, fmt, args);
    va_end(args);
    if (n < 0) {
        snprintf(message, sizeof message, "%s: cannot format an error message", PLUGIN_NAME);
    } else if ((size_t)n >= sizeof message) {
        /* Cut, at a character boundary: the host rejects broken UTF-8. */
        size_t end = sizeof message - 1;
        while (end > 0 && ((uint8_t)message[end] & 0xC0) == 0x80) {
            end--;
        }
        message[end] = '\0';
    }
    out->error(out->ctx, code, str_of(message));
}

/* ------------------------------------------------------------------------
 * Settings: the TOML table the host passes, which it writes itself from the
 * configuration (`key = value` lines, strings, numbers and arrays). This
 * reads exactly that: a comment, a blank line, or `key = value`, where the
 * value is what the key needs. Anything else is refused with one line that
 * names the key or quotes the text, never guessed at.
 * ------------------------------------------------------------------------ */

typedef struct settings {
    uint32_t weeks;
    bool selected[7]; /* indexed by weekday, Monday 0 */
    int64_t offset_secs;
} settings;

typedef struct parser {
    const uint8_t *p;
    const uint8_t *end;
    char instance[QUOTE_MAX + 1]; /* for messages */
    const otto_out *out;
} parser;

static void skip_blanks(parser *ps) {
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t')) {
        ps->p++;
    }
}

/* Skips blanks, newlines and comments (inside arrays and between lines). */
static void skip_space(parser *ps) {
    while (ps->p < ps->end) {
        uint8_t c = *ps->p;
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
            ps->p++;
        } else if (c == '#') {
            while (ps->p < ps->end && *ps->p != '\n') {
                ps->p++;
            }
        } else {
            break;
        }
    }
}

/* The rest of the current line, without a trailing comment or blanks: what
 * an error message quotes. */
static void rest_of_line(const parser *ps, char *buf, size_t size) {
    const uint8_t *e = ps->p;
    while (e < ps->end && *e != '\n' && *e != '#') {
        e++;
    }
    while (e > ps->p && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r')) {
        e--;
    }
    quote_into(buf, size, ps->p, (size_t)(e - ps->p));
    make_printable(buf);
}

/* After a value: blanks, an optional comment, then a newline or the end. */
static bool end_of_line(parser *ps) {
    skip_blanks(ps);
    if (ps->p < ps->end && *ps->p == '#') {
        while (ps->p < ps->end && *ps->p != '\n') {
            ps->p++;
        }
    }
    if (ps->p < ps->end && *ps->p == '\r') {
        ps->p++;
    }
    if (ps->p == ps->end) {
        return true;
    }
    if (*ps->p == '\n') {
        ps->p++;
        return true;
    }
    return false;
}

static bool is_bare_key_char(uint8_t c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-';
}

/* The code point of a `\uXXXX` (digits = 4) or `\UXXXXXXXX` (8) escape
 * after its letter, as one byte when it is ASCII (the host's TOML writer
 * spells control characters this way), else `?`: no setting of this plugin
 * has a use for other characters. */
static uint8_t read_unicode_escape(parser *ps, int digits) {
    uint32_t code = 0;
    int i;
    for (i = 0; i < digits && ps->p < ps->end; i++, ps->p++) {
        uint8_t h = *ps->p;
        uint32_t v;
        if (h >= '0' && h <= '9') {
            v = (uint32_t)(h - '0');
        } else if (h >= 'a' && h <= 'f') {
            v = (uint32_t)(h - 'a' + 10);
        } else if (h >= 'A' && h <= 'F') {
            v = (uint32_t)(h - 'A' + 10);
        } else {
            return '?';
        }
        code = (code << 4) | v;
    }
    return i == digits && code < 0x80 ? (uint8_t)code : '?';
}

/* Whether the cursor is at three `quote`s: a multi-line string's delimiter. */
static bool at_triple(const parser *ps, uint8_t quote) {
    return ps->end - ps->p >= 3 && ps->p[0] == quote && ps->p[1] == quote && ps->p[2] == quote;
}

/* Reads a TOML string at the cursor: basic ("...", with escapes) or literal
 * ('...'), on one line or multi-line ("""..."""), into `buf` (NUL-terminated,
 * cut at `size - 1` bytes; `*len` is the full length). An escape this plugin
 * has no use for leaves a `?`: the name is then simply unknown. Returns
 * false when the text is not a complete string. */
static bool read_string(parser *ps, char *buf, size_t size, size_t *len) {
    uint8_t quote;
    bool multiline;
    size_t n = 0;
    if (ps->p >= ps->end || (*ps->p != '"' && *ps->p != '\'')) {
        return false;
    }
    quote = *ps->p;
    /* The host writes a string holding a newline as `"""..."""`, whose
     * first newline right after the delimiter is not part of it. */
    multiline = at_triple(ps, quote);
    if (multiline) {
        ps->p += 3;
        if (ps->end - ps->p >= 2 && ps->p[0] == '\r' && ps->p[1] == '\n') {
            ps->p += 2;
        } else if (ps->p < ps->end && *ps->p == '\n') {
            ps->p++;
        }
    } else {
        ps->p++;
    }
    while (ps->p < ps->end && (multiline ? !at_triple(ps, quote)
                                         : *ps->p != quote && *ps->p != '\n')) {
        uint8_t c = *ps->p++;
        if (quote == '"' && c == '\\') {
            if (ps->p >= ps->end) {
                return false;
            }
            if (multiline && (is_ascii_space(*ps->p))) {
                /* A line-ending backslash: the whitespace up to the next
                 * character is not part of the string. */
                while (ps->p < ps->end && is_ascii_space(*ps->p)) {
                    ps->p++;
                }
                continue;
            }
            switch (*ps->p++) {
            case '"': c = '"'; break;
            case '\\': c = '\\'; break;
            case 'b': c = '\b'; break;
            case 't': c = '\t'; break;
            case 'n': c = '\n'; break;
            case 'f': c = '\f'; break;
            case 'r': c = '\r'; break;
            case 'u': c = read_unicode_escape(ps, 4); break;
            case 'U': c = read_unicode_escape(ps, 8); break;
            default: c = '?'; break;
            }
        }
        if (n + 1 < size) {
            buf[n] = (char)c;
        }
        n++;
    }
    if (multiline ? !at_triple(ps, quote) : ps->p >= ps->end || *ps->p != quote) {
        return false;
    }
    ps->p += multiline ? 3 : 1;
    if (n + 1 < size) {
        buf[n] = '\0';
    } else {
        /* Cut: drop the last character, which may have lost its tail, so
         * that a message quoting it stays valid UTF-8. */
        size_t cut = size - 1;
        while (cut > 0 && ((uint8_t)buf[cut - 1] & 0xC0) == 0x80) {
            cut--;
        }
        if (cut > 0 && (uint8_t)buf[cut - 1] >= 0xC0) {
            cut--;
        }
        buf[cut] = '\0';
    }
    *len = n;
    return true;
}

/* `weeks`: a whole number from 1 to 4 294 967 295. */
static bool parse_weeks(parser *ps, settings *s) {
    uint64_t value = 0;
    const uint8_t *start = ps->p;
    char quoted[QUOTE_MAX + 1];
    if (ps->p < ps->end && *ps->p == '+') {
        ps->p++;
    }
    while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9' && value <= UINT32_MAX) {
        value = value * 10 + (uint64_t)(*ps->p++ - '0');
    }
    if (ps->p == start || value > UINT32_MAX || !end_of_line(ps)) {
        ps->p = start;
        rest_of_line(ps, quoted, sizeof quoted);
        report(ps->out, OTTO_ERROR_INVALID,
               "settings of `%s`: `weeks = %s` must be a whole number of weeks, at least 1",
               ps->instance, quoted);
        return false;
    }
    if (value == 0) {
        report(ps->out, OTTO_ERROR_INVALID,
               "settings of `%s`: `weeks` must be at least 1 (0 would delete every run that is "
               "not pinned)",
               ps->instance);
        return false;
    }
    s->weeks = (uint32_t)value;
    return true;
}

/* `weekdays`: an array of weekday names, at least one. */
static bool parse_weekdays(parser *ps, settings *s) {
    const uint8_t *start = ps->p;
    char quoted[QUOTE_MAX + 1];
    bool any = false;
    int d;
    for (d = 0; d < 7; d++) {
        s->selected[d] = false;
    }
    if (ps->p >= ps->end || *ps->p != '[') {
        goto not_an_array;
    }
    ps->p++;
    skip_space(ps);
    while (ps->p < ps->end && *ps->p != ']') {
        char name[QUOTE_MAX + 1];
        size_t len;
        if (!read_string(ps, name, sizeof name, &len)) {
            goto not_an_array;
        }
        d = len < sizeof name ? parse_weekday((const uint8_t *)name, len) : -1;
        if (d < 0) {
            make_printable(name);
            report(ps->out, OTTO_ERROR_INVALID,
                   "settings of `%s`: unknown weekday `%s` in `weekdays` (expected mon, tue, "
                   "wed, thu, fri, sat or sun)",
                   ps->instance, name);
            return false;
        }
        s->selected[d] = true;
        any = true;
        skip_space(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            skip_space(ps);
        } else if (ps->p < ps->end && *ps->p != ']') {
            goto not_an_array;
        }
    }
    if (ps->p >= ps->end) {
        goto not_an_array;
    }
    ps->p++; /* the ']' */
    if (!end_of_line(ps)) {
        goto not_an_array;
    }
    if (!any) {
        report(ps->out, OTTO_ERROR_INVALID,
               "settings of `%s`: `weekdays` is empty; list at least one day, or leave it out "
               "to keep all seven",
               ps->instance);
        return false;
    }
    return true;

not_an_array:
    ps->p = start;
    rest_of_line(ps, quoted, sizeof quoted);
    report(ps->out, OTTO_ERROR_INVALID,
           "settings of `%s`: `weekdays = %s` must be a list of weekday names, e.g. [\"mon\", "
           "\"fri\"]",
           ps->instance, quoted);
    return false;
}

/* `utc_offset_hours`: a decimal number of whole quarter hours, -12 to 14.
 * Read as decimal text, never through a float, so 5.75 is exact and no
 * locale's decimal separator matters. */
static bool parse_offset(parser *ps, settings *s) {
    const uint8_t *start = ps->p;
    char quoted[QUOTE_MAX + 1];
    bool negative = false, digits = false;
    int64_t hours = 0, quarters;
    int fraction = 0; /* hundredths of an hour, from the first two decimals */
    int decimals = 0;
    bool fraction_rest_zero = true;
    if (ps->p < ps->end && (*ps->p == '+' || *ps->p == '-')) {
        negative = *ps->p++ == '-';
    }
    while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') {
        if (hours < 1000) { /* far enough out of range to refuse */
            hours = hours * 10 + (*ps->p - '0');
        }
        ps->p++;
        digits = true;
    }
    if (digits && ps->p < ps->end && *ps->p == '.') {
        ps->p++;
        digits = false;
        while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') {
            if (decimals < 2) {
                fraction = fraction * 10 + (*ps->p - '0');
            } else if (*ps->p != '0') {
                fraction_rest_zero = false;
            }
            decimals++;
            ps->p++;
            digits = true;
        }
        if (decimals == 1) {
            fraction *= 10;
        }
    }
    if (!digits || !end_of_line(ps)) {
        /* Not a plain decimal: nan, inf, an exponent, a string... */
        ps->p = start;
        rest_of_line(ps, quoted, sizeof quoted);
        goto refuse;
    }
    quarters = hours * 4 + fraction / 25;
    if (!fraction_rest_zero || fraction % 25 != 0 || quarters > (negative ? 48 : 56)) {
        ps->p = start;
        rest_of_line(ps, quoted, sizeof quoted);
        goto refuse;
    }
    s->offset_secs = (negative ? -quarters : quarters) * 900;
    return true;

refuse:
    report(ps->out, OTTO_ERROR_INVALID,
           "settings of `%s`: `utc_offset_hours = %s` must be between -12 and 14 in quarter "
           "hours (e.g. 1, -8, 5.5, 5.75)",
           ps->instance, quoted);
    return false;
}

/* Reads the settings; on failure reports one line and returns false. */
static bool parse_settings(const otto_create_args *args, const otto_out *out, settings *s) {
    parser ps;
    bool seen[3] = {false, false, false};
    static const char *const KEYS[3] = {"weeks", "weekdays", "utc_offset_hours"};
    int d;

    s->weeks = 8;
    for (d = 0; d < 7; d++) {
        s->selected[d] = true;
    }
    s->offset_secs = 0;

    ps.p = args->config_toml.ptr;
    ps.end = ps.p ? ps.p + args->config_toml.len : ps.p;
    ps.out = out;
    if (args->instance.ptr) {
        quote_into(ps.instance, sizeof ps.instance, args->instance.ptr, args->instance.len);
    } else {
        quote_into(ps.instance, sizeof ps.instance, (const uint8_t *)PLUGIN_NAME,
                   strlen(PLUGIN_NAME));
    }

    for (;;) {
        char key[QUOTE_MAX + 1];
        size_t key_len = 0;
        int k;
        skip_space(&ps);
        if (ps.p >= ps.end) {
            return true;
        }
        if (*ps.p == '"' || *ps.p == '\'') {
            if (!read_string(&ps, key, sizeof key, &key_len)) {
                break;
            }
        } else {
            const uint8_t *start = ps.p;
            while (ps.p < ps.end && is_bare_key_char(*ps.p)) {
                ps.p++;
            }
            key_len = (size_t)(ps.p - start);
            if (key_len == 0) {
                break; /* a `[table]`, or something that is no key */
            }
            quote_into(key, sizeof key, start, key_len);
        }
        for (k = 0; k < 3; k++) {
            if (key_len == strlen(KEYS[k]) && strcmp(key, KEYS[k]) == 0) {
                break;
            }
        }
        if (k == 3) {
            make_printable(key);
            report(out, OTTO_ERROR_INVALID,
                   "settings of `%s`: unknown field `%s`, expected one of `weeks`, `weekdays`, "
                   "`utc_offset_hours`",
                   ps.instance, key);
            return false;
        }
        skip_blanks(&ps);
        if (ps.p >= ps.end || *ps.p != '=') {
            break;
        }
        ps.p++;
        skip_blanks(&ps);
        if (seen[k]) {
            report(out, OTTO_ERROR_INVALID, "settings of `%s`: `%s` is given twice", ps.instance,
                   KEYS[k]);
            return false;
        }
        seen[k] = true;
        if (!(k == 0   ? parse_weeks(&ps, s)
              : k == 1 ? parse_weekdays(&ps, s)
                       : parse_offset(&ps, s))) {
            return false;
        }
    }
    {
        char quoted[QUOTE_MAX + 1];
        rest_of_line(&ps, quoted, sizeof quoted);
        report(out, OTTO_ERROR_INVALID,
               "settings of `%s`: expected `key = value`, found `%s` (this plugin takes weeks, "
               "weekdays and utc_offset_hours)",
               ps.instance, quoted);
    }
    return false;
}

/* ------------------------------------------------------------------------
 * The policy
 * ------------------------------------------------------------------------ */

/* otto names a second run started in the same second `<ts>-1`, then `<ts>-2`:
 * that suffix as a number when the id is `<digits>-<number>`, else 0 (as
 * Rust's `u32::from_str`: an optional `+`, then digits, no overflow). */
static uint32_t same_second_suffix(otto_str id) {
    size_t dash, i;
    uint64_t n = 0;
    if (id.ptr == NULL) {
        return 0;
    }
    for (dash = id.len; dash > 0 && id.ptr[dash - 1] != '-'; dash--) {
    }
    if (dash < 2) { /* no dash, or nothing before it */
        return 0;
    }
    for (i = 0; i + 1 < dash; i++) {
        if (id.ptr[i] < '0' || id.ptr[i] > '9') {
            return 0;
        }
    }
    i = dash;
    if (i < id.len && id.ptr[i] == '+') {
        i++;
    }
    if (i == id.len) {
        return 0;
    }
    for (; i < id.len; i++) {
        if (id.ptr[i] < '0' || id.ptr[i] > '9') {
            return 0;
        }
        n = n * 10 + (uint64_t)(id.ptr[i] - '0');
        if (n > UINT32_MAX) {
            return 0;
        }
    }
    return (uint32_t)n;
}

/* Byte-wise comparison of two strings, shorter first on a common prefix
 * (the order of Rust's `str`). */
static int compare_str(otto_str a, otto_str b) {
    size_t n = a.len < b.len ? a.len : b.len;
    int c = n > 0 ? memcmp(a.ptr, b.ptr, n) : 0;
    if (c != 0) {
        return c;
    }
    return (a.len > b.len) - (a.len < b.len);
}

/* < 0 when `a` is older than `b`, > 0 when newer: start time, then the
 * same-second suffix, then the id, so exactly one run is the newest. */
static int compare_age(const otto_run *a, const otto_run *b) {
    uint32_t sa, sb;
    if (a->started_at.secs != b->started_at.secs) {
        return a->started_at.secs < b->started_at.secs ? -1 : 1;
    }
    if (a->started_at.nanos != b->started_at.nanos) {
        return a->started_at.nanos < b->started_at.nanos ? -1 : 1;
    }
    sa = same_second_suffix(a->id);
    sb = same_second_suffix(b->id);
    if (sa != sb) {
        return sa < sb ? -1 : 1;
    }
    return compare_str(a->id, b->id);
}

/* A candidate to hold a day: a finished run of a selected day in the window. */
typedef struct candidate {
    int64_t day;
    const otto_run *run;
    size_t index;
} candidate;

/* Groups candidates by day, newest first within a day. */
static int compare_candidates(const void *pa, const void *pb) {
    const candidate *a = pa, *b = pb;
    if (a->day != b->day) {
        return a->day < b->day ? -1 : 1;
    }
    return compare_age(b->run, a->run);
}

/* Emits one decision. The strings live on the caller's stack: the host
 * copies them before `emit` returns. */
static void emit_decision(const otto_out *out, otto_str run_id, uint32_t action,
                          const otto_str *reasons, size_t count) {
    otto_decision decision;
    decision.run_id = run_id;
    decision.action = action;
    decision.reasons.ptr = reasons;
    decision.reasons.len = count;
    out->emit(out->ctx, &decision);
}

static otto_call_status decide(void *instance, const otto_retention_input *input,
                               const otto_out *out) {
    const settings *s = instance;
    const otto_run *runs = input->runs.ptr;
    size_t n = input->runs.ptr ? input->runs.len : 0;
    int64_t today = day_containing(input->now.secs, s->offset_secs);
    int64_t first_day = today - ((int64_t)s->weeks * 7 - 1);
    candidate *candidates;
    bool *holds; /* holds[i]: run i is the newest finished run of its day */
    size_t count = 0, i;

    if (n == 0) {
        return OTTO_CALL_OK;
    }
    /* calloc checks n * size for overflow itself. */
    candidates = calloc(n, sizeof *candidates);
    holds = calloc(n, sizeof *holds);
    if (candidates == NULL || holds == NULL) {
        free(candidates);
        free(holds);
        report(out, OTTO_ERROR_FAILED, "%s: out of memory for %zu runs", PLUGIN_NAME, n);
        return OTTO_CALL_ERROR;
    }

    for (i = 0; i < n; i++) {
        int64_t day = day_containing(runs[i].started_at.secs, s->offset_secs);
        if (runs[i].status == OTTO_RUN_STATUS_RUNNING || day < first_day ||
            !s->selected[weekday_of(day)]) {
            continue;
        }
        candidates[count].day = day;
        candidates[count].run = &runs[i];
        candidates[count].index = i;
        count++;
    }
    qsort(candidates, count, sizeof *candidates, compare_candidates);
    for (i = 0; i < count; i++) {
        if (i == 0 || candidates[i].day != candidates[i - 1].day) {
            holds[candidates[i].index] = true;
        }
    }
    free(candidates);

    for (i = 0; i < n; i++) {
        const otto_run *run = &runs[i];
        int64_t day = day_containing(run->started_at.secs, s->offset_secs);
        char date[32], reason[64];
        otto_str reasons[3];
        size_t kept = 0;

        format_day(day, date, sizeof date);
        if (holds[i]) {
            snprintf(reason, sizeof reason, "weekday %s", date);
            reasons[kept++] = str_of(reason);
        }
        if (run->pinned) {
            reasons[kept++] = str_of("pinned");
        }
        if (run->status == OTTO_RUN_STATUS_RUNNING) {
            reasons[kept++] = str_of("running");
        }
        if (kept > 0) {
            emit_decision(out, run->id, OTTO_ACTION_KEEP, reasons, kept);
            continue;
        }
        if (day < first_day) {
            if (s->weeks == 1) {
                snprintf(reason, sizeof reason, "older than 1 week");
            } else {
                snprintf(reason, sizeof reason, "older than %lu weeks", (unsigned long)s->weeks);
            }
        } else if (!s->selected[weekday_of(day)]) {
            snprintf(reason, sizeof reason, "%s not in weekdays", SHORT_NAMES[weekday_of(day)]);
        } else {
            snprintf(reason, sizeof reason, "not the newest of %s", date);
        }
        reasons[0] = str_of(reason);
        emit_decision(out, run->id, OTTO_ACTION_DELETE, reasons, 1);
    }
    free(holds);
    return OTTO_CALL_OK;
}

/* ------------------------------------------------------------------------
 * Instances, tables and the entry point
 * ------------------------------------------------------------------------ */

static void *create(const otto_create_args *args, const otto_out *out) {
    settings parsed, *instance;
    if (!parse_settings(args, out, &parsed)) {
        return NULL;
    }
    instance = malloc(sizeof *instance);
    if (instance == NULL) {
        report(out, OTTO_ERROR_FAILED, "%s: out of memory", PLUGIN_NAME);
        return NULL;
    }
    *instance = parsed;
    return instance;
}

static void destroy(void *instance) {
    free(instance);
}

/* No lifecycle hooks: a retention policy has nothing to record. */
static const otto_lifecycle_table LIFECYCLE = {sizeof(otto_lifecycle_table), NULL, NULL,
                                               NULL, NULL, NULL, NULL};

static const otto_retention_table RETENTION = {sizeof(otto_retention_table), decide};

static const otto_plugin_decl PLUGINS[1] = {{
    sizeof(otto_plugin_decl),
    OTTO_KIND_RETENTION,
    OTTO_STR_LIT(PLUGIN_NAME),
    OTTO_STR_LIT(PLUGIN_VERSION),
    OTTO_STR_LIT("Keeps the newest run of each selected weekday for N weeks (default 8), plus "
                 "pinned and running runs (written in C)"),
    create,
    destroy,
    &LIFECYCLE,
    &RETENTION,
}};

static const otto_plugin_module MODULE = {OTTO_MODULE_HEADER, {PLUGINS, 1}};

OTTO_HOOKS_EXPORT const otto_plugin_module *otto_hooks_plugin_entry(void) {
    return &MODULE;
}
