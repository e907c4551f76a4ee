/* See napi_util.h. */
#include "napi_util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

struct errno_entry {
  int value;
  const char *name;
};

/* The errnos the addon's system calls can report; Node's own names for them. */
#define E(x) {x, #x}
static const struct errno_entry errno_table[] = {
    E(EACCES),       E(EADDRINUSE),  E(EADDRNOTAVAIL), E(EAFNOSUPPORT), E(EAGAIN),
    E(EBADF),        E(EBUSY),       E(ECONNABORTED),  E(ECONNREFUSED), E(ECONNRESET),
    E(EDESTADDRREQ), E(EEXIST),      E(EFAULT),        E(EINTR),        E(EINVAL),
    E(EIO),          E(EISCONN),     E(EISDIR),        E(ELOOP),        E(EMFILE),
    E(EMSGSIZE),     E(ENAMETOOLONG), E(ENFILE),       E(ENOBUFS),      E(ENOENT),
    E(ENOMEM),       E(ENOSPC),      E(ENOTCONN),      E(ENOTDIR),      E(ENOTSOCK),
    E(EOPNOTSUPP),   E(EPERM),       E(EPIPE),         E(EPROTO),       E(EPROTONOSUPPORT),
    E(EPROTOTYPE),   E(EROFS),       E(ETIMEDOUT),     E(ETOOMANYREFS), E(EINPROGRESS),
    E(EALREADY),     E(ENOSYS),      E(ESOCKTNOSUPPORT), E(EFBIG),        E(ENODEV),
    E(EOVERFLOW),    E(ETXTBSY),     E(EDQUOT),      E(ENOPROTOOPT),
};
#undef E

const char *mosnode_errno_name(int err) {
  for (size_t i = 0; i < sizeof(errno_table) / sizeof(errno_table[0]); i++) {
    if (errno_table[i].value == err) return errno_table[i].name;
  }
  return "EUNKNOWN";
}

static void set_named(napi_env env, napi_value obj, const char *key, napi_value value) {
  if (value != NULL) napi_set_named_property(env, obj, key, value);
}

napi_value mosnode_throw_code(napi_env env, const char *code, int err, const char *syscall,
                              const char *message) {
  napi_value code_value = NULL, message_value = NULL, error = NULL, number = NULL, sc = NULL;
  if (napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &code_value) != napi_ok ||
      napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &message_value) != napi_ok ||
      napi_create_error(env, code_value, message_value, &error) != napi_ok) {
    napi_throw_error(env, code, message);
    return NULL;
  }
  if (err != 0 && napi_create_int32(env, err, &number) == napi_ok) {
    set_named(env, error, "errno", number);
  }
  if (syscall != NULL && napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &sc) == napi_ok) {
    set_named(env, error, "syscall", sc);
  }
  napi_throw(env, error);
  return NULL;
}

napi_value mosnode_throw_errno(napi_env env, int err, const char *syscall, const char *subject) {
  const char *name = mosnode_errno_name(err);
  char message[512];
  if (subject != NULL) {
    snprintf(message, sizeof(message), "%s %s: %s (%s)", syscall, subject, name, strerror(err));
  } else {
    snprintf(message, sizeof(message), "%s: %s (%s)", syscall, name, strerror(err));
  }
  return mosnode_throw_code(env, name, err, syscall, message);
}

napi_value mosnode_throw_type(napi_env env, const char *message) {
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", message);
  return NULL;
}

napi_value mosnode_throw_range(napi_env env, const char *message) {
  napi_throw_range_error(env, "ERR_OUT_OF_RANGE", message);
  return NULL;
}

bool mosnode_get_int(napi_env env, napi_value value, const char *name, int64_t min, int64_t max,
                     int64_t *out) {
  char message[160];
  napi_valuetype type;
  double d;
  if (napi_typeof(env, value, &type) != napi_ok || type != napi_number ||
      napi_get_value_double(env, value, &d) != napi_ok) {
    snprintf(message, sizeof(message), "%s must be a number", name);
    mosnode_throw_type(env, message);
    return false;
  }
  if (d != d || d < (double)min || d > (double)max || d != (double)(int64_t)d) {
    snprintf(message, sizeof(message), "%s must be an integer in [%lld, %lld]", name,
             (long long)min, (long long)max);
    mosnode_throw_range(env, message);
    return false;
  }
  *out = (int64_t)d;
  return true;
}

bool mosnode_get_path(napi_env env, napi_value value, const char *syscall, char *buf,
                      size_t buf_size) {
  napi_valuetype type;
  size_t length = 0;
  if (napi_typeof(env, value, &type) != napi_ok || type != napi_string) {
    mosnode_throw_type(env, "path must be a string");
    return false;
  }
  if (napi_get_value_string_utf8(env, value, NULL, 0, &length) != napi_ok) {
    mosnode_throw_pending_or_generic(env, "napi_get_value_string_utf8");
    return false;
  }
  if (length == 0) {
    napi_throw_error(env, "ERR_INVALID_ARG_VALUE", "path must not be empty");
    return false;
  }
  if (length >= buf_size) {
    char subject[96];
    /* buf_size says which path: 108 for a unix socket address, PATH_MAX for a file. */
    snprintf(subject, sizeof(subject), "(%zu bytes; this path holds at most %zu)", length,
             buf_size - 1);
    mosnode_throw_errno(env, ENAMETOOLONG, syscall, subject);
    return false;
  }
  if (napi_get_value_string_utf8(env, value, buf, buf_size, &length) != napi_ok) {
    mosnode_throw_pending_or_generic(env, "napi_get_value_string_utf8");
    return false;
  }
  if (strlen(buf) != length) {
    napi_throw_error(env, "ERR_INVALID_ARG_VALUE",
                     "path must not contain NUL characters (abstract sockets are not supported)");
    return false;
  }
  return true;
}

bool mosnode_export_function(napi_env env, napi_value exports, const char *name, napi_callback cb) {
  napi_value fn;
  return napi_create_function(env, name, NAPI_AUTO_LENGTH, cb, NULL, &fn) == napi_ok &&
         napi_set_named_property(env, exports, name, fn) == napi_ok;
}

bool mosnode_export_int(napi_env env, napi_value exports, const char *name, int32_t value) {
  napi_value number;
  return napi_create_int32(env, value, &number) == napi_ok &&
         napi_set_named_property(env, exports, name, number) == napi_ok;
}

void mosnode_throw_pending_or_generic(napi_env env, const char *what) {
  /* Read the failed call's error info first: any later N-API call overwrites it. */
  const napi_extended_error_info *info = NULL;
  char message[256];
  napi_get_last_error_info(env, &info);
  snprintf(message, sizeof(message), "N-API call failed: %s: %s", what,
           info != NULL && info->error_message != NULL ? info->error_message : "unknown error");
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending) return;
  napi_throw_error(env, "ERR_NAPI", message);
}
