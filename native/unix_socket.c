/*
 * Unix stream sockets that carry file descriptors (SCM_RIGHTS), for hot upgrade.
 *
 * Every function works on non-blocking sockets and never blocks: where a blocking call
 * would wait, it returns an "again" value (-1 or null) and the TypeScript layer
 * (src/core/native.ts) polls with timers. Sockets are created with SOCK_NONBLOCK |
 * SOCK_CLOEXEC and received fds with MSG_CMSG_CLOEXEC, so nothing leaks into child
 * processes. Errors are thrown as JS errors with code = errno name (see napi_util.h).
 *
 * Linux only: accept4, SOCK_NONBLOCK and MSG_CMSG_CLOEXEC are not in POSIX.
 */
#define _GNU_SOURCE
#include "unix_socket.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "napi_util.h"

#ifndef __linux__
#error "mosnode's native addon supports Linux only (accept4, SOCK_NONBLOCK, MSG_CMSG_CLOEXEC)"
#endif

/*
 * The kernel's per-message limit on SCM_RIGHTS fds (include/net/scm.h; not exported to
 * user space). sendmsg fails with EINVAL above it, and one recvmsg on a stream socket
 * never returns the fds of more than one sendmsg, so it is also the most one receive
 * can deliver. Larger sets must be split across messages by the caller.
 */
#define MOSNODE_SCM_MAX_FD 253

/* Upper bound of recvMsg's maxBytes: a guard against absurd allocations. */
#define MOSNODE_MAX_RECV_BYTES (64 * 1024 * 1024)

static napi_value make_int(napi_env env, int64_t value) {
  napi_value result;
  MOSNODE_CALL(env, napi_create_int64(env, value, &result));
  return result;
}

/* Returns fd as a JS number; closes it if even that fails, so it never leaks. */
static napi_value return_fd(napi_env env, int fd) {
  napi_value result;
  if (napi_create_int32(env, fd, &result) != napi_ok) {
    close(fd);
    mosnode_throw_pending_or_generic(env, "napi_create_int32");
    return NULL;
  }
  return result;
}

static bool is_again(int err) { return err == EAGAIN || err == EWOULDBLOCK; }

static void close_all(const int *fds, size_t count) {
  for (size_t i = 0; i < count; i++) close(fds[i]);
}

/* Reads an fd argument: an integer in [0, INT32_MAX]. */
static bool get_fd(napi_env env, napi_value value, const char *name, int *out) {
  int64_t fd;
  if (!mosnode_get_int(env, value, name, 0, INT32_MAX, &fd)) return false;
  *out = (int)fd;
  return true;
}

/* unixListen(path: string, backlog: number): number (the listening fd). */
static napi_value unix_listen(napi_env env, napi_callback_info info) {
  MOSNODE_ARGS(2);
  struct sockaddr_un addr;
  memset(&addr, 0, sizeof(addr));
  addr.sun_family = AF_UNIX;
  int64_t backlog;
  if (!mosnode_get_path(env, argv[0], "bind", addr.sun_path, sizeof(addr.sun_path))) return NULL;
  if (!mosnode_get_int(env, argv[1], "backlog", 1, INT32_MAX, &backlog)) return NULL;

  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return mosnode_throw_errno(env, errno, "socket", NULL);
  if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
    int err = errno;
    close(fd);
    return mosnode_throw_errno(env, err, "bind", addr.sun_path);
  }
  if (listen(fd, (int)backlog) != 0) {
    int err = errno;
    close(fd);
    unlink(addr.sun_path); /* bind created the file; nobody can use it now */
    return mosnode_throw_errno(env, err, "listen", addr.sun_path);
  }
  return return_fd(env, fd);
}

/* unixAccept(listenerFd: number): number (the connected fd, or -1: nothing to accept now). */
static napi_value unix_accept(napi_env env, napi_callback_info info) {
  MOSNODE_ARGS(1);
  int listener;
  if (!get_fd(env, argv[0], "listenerFd", &listener)) return NULL;
  int fd;
  do {
    fd = accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    /* ECONNABORTED: the client gave up before we accepted; there may be nothing else. */
    if (is_again(errno) || errno == ECONNABORTED) return make_int(env, -1);
    return mosnode_throw_errno(env, errno, "accept", NULL);
  }
  return return_fd(env, fd);
}

/*
 * unixConnect(path: string): number (the connected fd, or -1: the listener's backlog is
 * full, try again). On Linux a unix stream connect completes at once or fails; EAGAIN
 * means the backlog is full. EINPROGRESS (other kernels) is checked once without waiting.
 */
static napi_value unix_connect(napi_env env, napi_callback_info info) {
  MOSNODE_ARGS(1);
  struct sockaddr_un addr;
  memset(&addr, 0, sizeof(addr));
  addr.sun_family = AF_UNIX;
  if (!mosnode_get_path(env, argv[0], "connect", addr.sun_path, sizeof(addr.sun_path))) return NULL;

  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return mosnode_throw_errno(env, errno, "socket", NULL);
  if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0) return return_fd(env, fd);

  int err = errno;
  if (err == EINPROGRESS || err == EINTR || err == EALREADY) {
    struct pollfd pfd = {.fd = fd, .events = POLLOUT, .revents = 0};
    if (poll(&pfd, 1, 0) == 1) {
      socklen_t len = sizeof(err);
      if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
      if (err == 0) return return_fd(env, fd);
    } else {
      err = EAGAIN;
    }
  }
  close(fd);
  if (is_again(err)) return make_int(env, -1);
  return mosnode_throw_errno(env, err, "connect", addr.sun_path);
}

/*
 * sendMsg(fd: number, data: Uint8Array, fds: number[]): number (bytes sent, or -1: the
 * socket buffer is full). fds go with the first byte; after a partial send they have been
 * delivered and the caller resends only the rest of data, without fds.
 */
static napi_value send_msg(napi_env env, napi_callback_info info) {
  MOSNODE_ARGS(3);
  int fd;
  if (!get_fd(env, argv[0], "fd", &fd)) return NULL;

  /* Read fds before taking the data pointer: reading array elements may run JS. */
  bool is_array = false;
  uint32_t count = 0;
  int fds[MOSNODE_SCM_MAX_FD];
  MOSNODE_CALL(env, napi_is_array(env, argv[2], &is_array));
  if (!is_array) return mosnode_throw_type(env, "fds must be an array of fd numbers");
  MOSNODE_CALL(env, napi_get_array_length(env, argv[2], &count));
  if (count > MOSNODE_SCM_MAX_FD) {
    char message[200];
    snprintf(message, sizeof(message),
             "sendmsg: %u fds exceed SCM_MAX_FD (%d per message); split them across messages",
             count, MOSNODE_SCM_MAX_FD);
    return mosnode_throw_code(env, "EINVAL", EINVAL, "sendmsg", message);
  }
  for (uint32_t i = 0; i < count; i++) {
    napi_value element;
    MOSNODE_CALL(env, napi_get_element(env, argv[2], i, &element));
    if (!get_fd(env, element, "fds[i]", &fds[i])) return NULL;
  }

  bool is_typed = false;
  napi_typedarray_type type;
  size_t length = 0, offset = 0;
  void *data = NULL;
  napi_value arraybuffer;
  MOSNODE_CALL(env, napi_is_typedarray(env, argv[1], &is_typed));
  if (is_typed) {
    MOSNODE_CALL(env, napi_get_typedarray_info(env, argv[1], &type, &length, &data, &arraybuffer,
                                               &offset));
  }
  if (!is_typed || type != napi_uint8_array) {
    return mosnode_throw_type(env, "data must be a Buffer or Uint8Array");
  }
  if (count > 0 && length == 0) {
    return mosnode_throw_code(env, "EINVAL", EINVAL, "sendmsg",
                              "sendmsg: fds need at least one byte of data to travel with "
                              "(a stream socket drops ancillary data sent with no bytes)");
  }

  union {
    char buf[CMSG_SPACE(sizeof(int) * MOSNODE_SCM_MAX_FD)];
    struct cmsghdr align;
  } control;
  struct iovec iov = {.iov_base = data, .iov_len = length};
  struct msghdr msg;
  memset(&msg, 0, sizeof(msg));
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (count > 0) {
    memset(control.buf, 0, sizeof(control.buf));
    msg.msg_control = control.buf;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * count);
    struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int) * count);
    memcpy(CMSG_DATA(cmsg), fds, sizeof(int) * count);
  }

  ssize_t sent;
  do {
    /* MSG_DONTWAIT: never block, even on an fd someone made blocking. MSG_NOSIGNAL: EPIPE, not SIGPIPE. */
    sent = sendmsg(fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
  } while (sent < 0 && errno == EINTR);
  if (sent < 0) {
    if (is_again(errno)) return make_int(env, -1);
    return mosnode_throw_errno(env, errno, "sendmsg", NULL);
  }
  return make_int(env, (int64_t)sent);
}

/*
 * recvMsg(fd: number, maxBytes: number, maxFds: number):
 *   { bytes: Buffer, fds: number[] } | null
 * null: nothing to read now. Empty bytes: the peer closed (EOF). If the peer sent more
 * fds than maxFds (MSG_CTRUNC), every fd that did arrive is closed and EMSGSIZE is thrown;
 * the bytes read with them are lost, so the stream is no longer usable.
 */
static napi_value recv_msg(napi_env env, napi_callback_info info) {
  MOSNODE_ARGS(3);
  int fd;
  int64_t max_bytes, max_fds;
  if (!get_fd(env, argv[0], "fd", &fd)) return NULL;
  if (!mosnode_get_int(env, argv[1], "maxBytes", 1, MOSNODE_MAX_RECV_BYTES, &max_bytes)) return NULL;
  if (!mosnode_get_int(env, argv[2], "maxFds", 0, MOSNODE_SCM_MAX_FD, &max_fds)) return NULL;

  /* One allocation: the control buffer (sized for max_fds) first, for its alignment. */
  size_t control_len = max_fds > 0 ? CMSG_SPACE(sizeof(int) * (size_t)max_fds) : 0;
  char *memory = malloc(control_len + (size_t)max_bytes);
  if (memory == NULL) return mosnode_throw_errno(env, ENOMEM, "recvmsg", NULL);
  memset(memory, 0, control_len);
  char *data = memory + control_len;

  struct iovec iov = {.iov_base = data, .iov_len = (size_t)max_bytes};
  struct msghdr msg;
  memset(&msg, 0, sizeof(msg));
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control_len > 0 ? memory : NULL;
  msg.msg_controllen = control_len;

  ssize_t received;
  do {
    received = recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  } while (received < 0 && errno == EINTR);
  if (received < 0) {
    int err = errno;
    free(memory);
    if (is_again(err)) {
      napi_value null_value;
      MOSNODE_CALL(env, napi_get_null(env, &null_value));
      return null_value;
    }
    return mosnode_throw_errno(env, err, "recvmsg", NULL);
  }

  int fds[MOSNODE_SCM_MAX_FD];
  size_t count = 0;
  for (struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg); cmsg != NULL; cmsg = CMSG_NXTHDR(&msg, cmsg)) {
    if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS) continue;
    size_t n = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < n; i++) {
      int received_fd;
      memcpy(&received_fd, CMSG_DATA(cmsg) + i * sizeof(int), sizeof(int));
      if (count < MOSNODE_SCM_MAX_FD) {
        fds[count++] = received_fd;
      } else {
        close(received_fd); /* cannot happen within control_len; never leak regardless */
      }
    }
  }

  if (msg.msg_flags & MSG_CTRUNC) {
    char message[300];
    close_all(fds, count);
    free(memory);
    snprintf(message, sizeof(message),
             "recvmsg: control data truncated (MSG_CTRUNC): the peer sent more fds than "
             "maxFds=%lld in one message; the %zu that arrived were closed and the %zd bytes "
             "read with them are lost",
             (long long)max_fds, count, received);
    return mosnode_throw_code(env, "EMSGSIZE", EMSGSIZE, "recvmsg", message);
  }

  napi_value result, bytes, fd_array;
  bool ok = napi_create_object(env, &result) == napi_ok &&
            napi_create_buffer_copy(env, (size_t)received, data, NULL, &bytes) == napi_ok &&
            napi_create_array_with_length(env, count, &fd_array) == napi_ok;
  for (size_t i = 0; ok && i < count; i++) {
    napi_value number;
    ok = napi_create_int32(env, fds[i], &number) == napi_ok &&
         napi_set_element(env, fd_array, (uint32_t)i, number) == napi_ok;
  }
  ok = ok && napi_set_named_property(env, result, "bytes", bytes) == napi_ok &&
       napi_set_named_property(env, result, "fds", fd_array) == napi_ok;
  free(memory);
  if (!ok) {
    close_all(fds, count);
    mosnode_throw_pending_or_generic(env, "recvMsg result");
    return NULL;
  }
  return result;
}

/* closeFd(fd: number): undefined. Throws EBADF for an fd that is not open. */
static napi_value close_fd(napi_env env, napi_callback_info info) {
  MOSNODE_ARGS(1);
  int fd;
  if (!get_fd(env, argv[0], "fd", &fd)) return NULL;
  /* On Linux the fd is released even when close reports EINTR; retrying could close another. */
  if (close(fd) != 0 && errno != EINTR) return mosnode_throw_errno(env, errno, "close", NULL);
  return NULL;
}

bool mosnode_init_unix_socket(napi_env env, napi_value exports) {
  return mosnode_export_function(env, exports, "unixListen", unix_listen) &&
         mosnode_export_function(env, exports, "unixAccept", unix_accept) &&
         mosnode_export_function(env, exports, "unixConnect", unix_connect) &&
         mosnode_export_function(env, exports, "sendMsg", send_msg) &&
         mosnode_export_function(env, exports, "recvMsg", recv_msg) &&
         mosnode_export_function(env, exports, "closeFd", close_fd) &&
         mosnode_export_int(env, exports, "SCM_MAX_FD", MOSNODE_SCM_MAX_FD) &&
         mosnode_export_int(env, exports, "MAX_RECV_BYTES", MOSNODE_MAX_RECV_BYTES);
}
