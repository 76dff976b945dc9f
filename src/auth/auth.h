/* Credentials: Argon2id password hashes, random login tokens stored only as SHA-256,
 * CSRF tokens, cookie parsing and the same-origin check of login and register. */
#ifndef PW_AUTH_H
#define PW_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#define PW_TOKEN_LEN 43 /* 32 random bytes, base64url without padding */
#define PW_TOKEN_HASH_LEN 64

/* Must be called once before anything else here (wraps sodium_init). */
bool pw_auth_init(void);

/* Argon2id (libsodium's interactive limits). out must hold 128 bytes. Slow (tens of ms,
 * 64 MiB): call from a worker thread, never from the event loop. */
bool pw_auth_password_hash(const char *password, char out[128]);
bool pw_auth_password_verify(const char *hash, const char *password);

/* A fresh random token for a cookie or a CSRF check: PW_TOKEN_LEN chars + NUL. */
void pw_auth_token_new(char out[PW_TOKEN_LEN + 1]);
/* The SHA-256 of a token in hex, which is what the database keeps. */
void pw_auth_token_hash(const char *token, char out[PW_TOKEN_HASH_LEN + 1]);
/* Constant-time equality of two tokens (false for NULL or different lengths). */
bool pw_auth_token_equal(const char *a, const char *b);

/* Finds cookie `name` in a Cookie header; copies its value into out. False when absent,
 * empty, or longer than outsz - 1. */
bool pw_auth_cookie_get(const char *header, const char *name, char *out, size_t outsz);

/* Login and register accept a request whose Origin is absent or is the server's own:
 * the public URL's origin or http://<Host>. */
bool pw_auth_origin_allowed(const char *origin, const char *public_url, const char *host);

#endif
