/* Small helpers shared by every module: time formatting, ids, text checks. */
#ifndef PW_UTIL_H
#define PW_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PW_ID_LEN 36  /* a UUID in text form, without the terminating NUL */
#define PW_ISO_LEN 24 /* "2026-11-25T15:34:37.123Z" */

/* Formats ms since the epoch as ISO 8601 UTC with milliseconds; out needs PW_ISO_LEN + 1. */
void pw_iso8601(int64_t ms, char out[PW_ISO_LEN + 1]);

/* Parses what pw_iso8601 writes (milliseconds optional); false on anything else. */
bool pw_iso8601_parse(const char *s, int64_t *ms);

/* A random (version 4) UUID from libsodium's CSPRNG; out needs PW_ID_LEN + 1. */
void pw_uuid_random(char out[PW_ID_LEN + 1]);
/* The same layout from 16 given bytes (deterministic demo data). */
void pw_uuid_from_bytes(const uint8_t b[16], char out[PW_ID_LEN + 1]);

/* Hex of n bytes into out (2n + 1 bytes). */
void pw_hex(const uint8_t *in, size_t n, char *out);

/* True when s is valid UTF-8 with no control characters (C0, DEL, C1). */
bool pw_text_is_clean(const char *s, size_t len);
/* True when s is valid UTF-8 (control characters allowed). */
bool pw_utf8_valid(const char *s, size_t len);
/* Replaces, in place, every byte of s that is not part of valid UTF-8 with '?': text that
 * came from a client may then be quoted in a JSON answer. */
void pw_utf8_scrub(char *s);

/* Characters (code points) in valid UTF-8 text of len bytes. */
size_t pw_utf8_chars(const char *s, size_t len);

/* Lower-cases ASCII letters of s into out (size outsz); returns false if it did not fit. */
bool pw_ascii_lower(const char *s, char *out, size_t outsz);

/* snprintf that reports truncation as false. */
bool pw_fmt(char *out, size_t outsz, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Parses a whole decimal integer (digits only, no sign or spaces). Returns false on
 * anything else; values beyond INT64_MAX saturate and set *overflow. */
bool pw_parse_digits(const char *s, int64_t *out, bool *overflow);

/* A small deterministic PRNG (splitmix64) for demo data and tests, never for secrets. */
struct pw_rng {
    uint64_t state;
};
uint64_t pw_rng_next(struct pw_rng *r);
/* Uniform in [0, n). */
uint32_t pw_rng_below(struct pw_rng *r, uint32_t n);

#endif
