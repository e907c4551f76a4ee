/*
 * Small helpers shared by the C files of mosnode's native addon: throwing JS errors that
 * look like Node's system errors (code = errno name, errno, syscall), and reading
 * arguments with clear TypeErrors. Plain C on N-API only (node_api.h), so the built
 * addon loads in any Node version that has NAPI_VERSION 8.
 */
#ifndef MOSNODE_NAPI_UTIL_H
#define MOSNODE_NAPI_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <node_api.h>

/* The name of an errno value ("EAGAIN"), or "EUNKNOWN" for one not in the table. */
const char *mosnode_errno_name(int err);

/*
 * Throws an Error with message "<syscall> <subject>: <ENAME> (<strerror>)" (subject may
 * be NULL) and the properties code (errno name), errno (positive number) and syscall.
 * Always returns NULL, so a function can `return mosnode_throw_errno(...)`.
 */
napi_value mosnode_throw_errno(napi_env env, int err, const char *syscall, const char *subject);

/*
 * Throws an Error with the given code and message, plus an errno property when err != 0
 * and a syscall property when syscall != NULL. Returns NULL.
 */
napi_value mosnode_throw_code(napi_env env, const char *code, int err, const char *syscall,
                              const char *message);

/* Throws TypeError (code ERR_INVALID_ARG_TYPE) or RangeError (ERR_OUT_OF_RANGE). Return NULL. */
napi_value mosnode_throw_type(napi_env env, const char *message);
napi_value mosnode_throw_range(napi_env env, const char *message);

/*
 * Reads an integer argument in [min, max]; throws (and returns false) when it is not a
 * number, not an integer, or out of range. `name` is used in the message.
 */
bool mosnode_get_int(napi_env env, napi_value value, const char *name, int64_t min, int64_t max,
                     int64_t *out);

/*
 * Reads a string argument into buf (NUL-terminated). Throws ENAMETOOLONG (as a system
 * error of `syscall`) when it does not fit in buf_size - 1 bytes, and ERR_INVALID_ARG_VALUE
 * when it is empty or holds a NUL character. Returns false after throwing.
 */
bool mosnode_get_path(napi_env env, napi_value value, const char *syscall, char *buf,
                      size_t buf_size);

/* Sets exports[name] = value (a function or an int32 constant). False if N-API failed. */
bool mosnode_export_function(napi_env env, napi_value exports, const char *name, napi_callback cb);
bool mosnode_export_int(napi_env env, napi_value exports, const char *name, int32_t value);

/* Returns NULL from the calling function when an N-API call fails (an exception is pending
 * or N-API itself failed; in the latter case a generic error is thrown). */
#define MOSNODE_CALL(env, call)                                                              \
  do {                                                                                       \
    if ((call) != napi_ok) {                                                                 \
      mosnode_throw_pending_or_generic(env, #call);                                          \
      return NULL;                                                                           \
    }                                                                                        \
  } while (0)

void mosnode_throw_pending_or_generic(napi_env env, const char *what);

/* In a napi_callback: declares argc and argv[n] holding the call's first n arguments
 * (missing ones are undefined); returns NULL on failure. */
#define MOSNODE_ARGS(n)                                                                      \
  size_t argc = (n);                                                                         \
  napi_value argv[(n)];                                                                      \
  MOSNODE_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL))

#endif
