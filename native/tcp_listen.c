/*
 * TCP listening sockets owned by a process that never accepts on them: with worker
 * processes (servers[0].processor > 1) the primary creates every listening socket, hands
 * copies to its workers (which accept) and keeps its own for the hot-upgrade hand-over
 * and for restarting a crashed worker on the same socket. A Node net.Server cannot hold
 * a socket without accepting on it, hence this.
 *
 *  - tcpListen(ip, port, backlog, reusePort): socket + SO_REUSEADDR (as libuv sets it on
 *    servers) + optional SO_REUSEPORT (one socket per worker, the kernel spreads
 *    connections) + bind + listen; non-blocking, close-on-exec. `ip` is numeric.
 *  - localPort(fd): the bound port (for port 0).
 *
 * Errors are thrown as JS errors with code = errno name (EADDRINUSE, EACCES, EINVAL for
 * an address that is not a numeric IPv4/IPv6 address...). Linux only.
 */
#define _GNU_SOURCE
#include "tcp_listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "napi_util.h"

/* tcpListen(ip: string, port: number, backlog: number, reusePort: boolean): number (fd). */
static napi_value tcp_listen(napi_env env, napi_callback_info info) {
  MOSNODE_ARGS(4);
  char ip[INET6_ADDRSTRLEN + 1];
  size_t ip_len = 0;
  if (napi_get_value_string_utf8(env, argv[0], ip, sizeof(ip), &ip_len) != napi_ok) {
    return mosnode_throw_type(env, "ip must be a string");
  }
  int64_t port, backlog;
  bool reuse_port = false;
  if (!mosnode_get_int(env, argv[1], "port", 0, 65535, &port)) return NULL;
  if (!mosnode_get_int(env, argv[2], "backlog", 1, INT32_MAX, &backlog)) return NULL;
  if (napi_get_value_bool(env, argv[3], &reuse_port) != napi_ok) {
    return mosnode_throw_type(env, "reusePort must be a boolean");
  }

  struct sockaddr_storage addr;
  socklen_t addr_len;
  memset(&addr, 0, sizeof(addr));
  struct sockaddr_in *v4 = (struct sockaddr_in *)&addr;
  struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&addr;
  if (inet_pton(AF_INET, ip, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons((uint16_t)port);
    addr_len = sizeof(*v4);
  } else if (inet_pton(AF_INET6, ip, &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons((uint16_t)port);
    addr_len = sizeof(*v6);
  } else {
    return mosnode_throw_errno(env, EINVAL, "inet_pton", ip);
  }

  int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return mosnode_throw_errno(env, errno, "socket", NULL);
  int on = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
      (reuse_port && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) != 0)) {
    int err = errno;
    close(fd);
    return mosnode_throw_errno(env, err, "setsockopt", reuse_port ? "SO_REUSEPORT" : "SO_REUSEADDR");
  }
  if (bind(fd, (struct sockaddr *)&addr, addr_len) != 0) {
    int err = errno;
    close(fd);
    return mosnode_throw_errno(env, err, "bind", ip);
  }
  if (listen(fd, (int)backlog) != 0) {
    int err = errno;
    close(fd);
    return mosnode_throw_errno(env, err, "listen", ip);
  }
  napi_value result;
  if (napi_create_int32(env, fd, &result) != napi_ok) {
    close(fd);
    mosnode_throw_pending_or_generic(env, "napi_create_int32");
    return NULL;
  }
  return result;
}

/* localPort(fd: number): number. */
static napi_value local_port(napi_env env, napi_callback_info info) {
  MOSNODE_ARGS(1);
  int64_t fd;
  if (!mosnode_get_int(env, argv[0], "fd", 0, INT32_MAX, &fd)) return NULL;
  struct sockaddr_storage local;
  socklen_t len = sizeof(local);
  memset(&local, 0, sizeof(local));
  if (getsockname((int)fd, (struct sockaddr *)&local, &len) != 0) {
    return mosnode_throw_errno(env, errno, "getsockname", NULL);
  }
  int port;
  if (local.ss_family == AF_INET) port = ntohs(((struct sockaddr_in *)&local)->sin_port);
  else if (local.ss_family == AF_INET6) port = ntohs(((struct sockaddr_in6 *)&local)->sin6_port);
  else return mosnode_throw_errno(env, EAFNOSUPPORT, "getsockname", "not an IPv4 or IPv6 socket");
  napi_value result;
  MOSNODE_CALL(env, napi_create_int32(env, port, &result));
  return result;
}

bool mosnode_init_tcp_listen(napi_env env, napi_value exports) {
  return mosnode_export_function(env, exports, "tcpListen", tcp_listen) &&
         mosnode_export_function(env, exports, "localPort", local_port);
}
