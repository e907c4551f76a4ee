/*
 * Socket options for the original_dst listener filter, which Node cannot read or set:
 *
 *  - getOriginalDst(fd): the destination a connection had before netfilter NAT rewrote it
 *    (an iptables/nftables REDIRECT or DNAT rule), read from conntrack with SO_ORIGINAL_DST
 *    (IPv4) or IP6T_SO_ORIGINAL_DST (IPv6). The accepted socket's own address decides which:
 *    an IPv4 client accepted on a dual-stack "::" listener has an IPv4-mapped local address,
 *    and its conntrack entry is an IPv4 one, so SOL_IP is asked.
 *  - setIpTransparent(fd): IP_TRANSPARENT / IPV6_TRANSPARENT on a listening socket, so that
 *    connections a TPROXY rule steers to it are accepted with their original destination as
 *    the local address (needs CAP_NET_ADMIN).
 *
 * Both only ask the kernel: nothing blocks. Errors are thrown as JS errors with code = errno
 * name (see napi_util.h): getOriginalDst throws ENOENT when conntrack has no entry for the
 * connection (it was not NATed, or nothing tracks connections in this network namespace),
 * ENOPROTOOPT when netfilter's conntrack is not in the kernel, EAFNOSUPPORT for a socket
 * that is not IPv4/IPv6, EBADF/ENOTSOCK for a bad fd.
 *
 * Linux only.
 */
#define _GNU_SOURCE
#include "socket_options.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include "napi_util.h"

#ifndef __linux__
#error "mosnode's native addon supports Linux only (SO_ORIGINAL_DST, IP_TRANSPARENT)"
#endif

/*
 * From <linux/netfilter_ipv4.h> and <linux/netfilter_ipv6/ip6_tables.h>; defined here
 * because those kernel headers clash with glibc's <netinet/in.h>. Both are 80, fixed ABI.
 */
#ifndef SO_ORIGINAL_DST
#define SO_ORIGINAL_DST 80
#endif
#ifndef IP6T_SO_ORIGINAL_DST
#define IP6T_SO_ORIGINAL_DST 80
#endif
#ifndef IP_TRANSPARENT
#define IP_TRANSPARENT 19
#endif
#ifndef IPV6_TRANSPARENT
#define IPV6_TRANSPARENT 75
#endif

static bool get_fd(napi_env env, napi_value value, int *out) {
  int64_t fd;
  if (!mosnode_get_int(env, value, "fd", 0, INT32_MAX, &fd)) return false;
  *out = (int)fd;
  return true;
}

/* The socket's own family; AF_INET for an IPv6 socket carrying IPv4 (an IPv4-mapped address). */
static int effective_family(int fd, int *family) {
  struct sockaddr_storage local;
  socklen_t len = sizeof(local);
  memset(&local, 0, sizeof(local));
  if (getsockname(fd, (struct sockaddr *)&local, &len) != 0) return errno;
  *family = local.ss_family;
  if (local.ss_family == AF_INET6 &&
      IN6_IS_ADDR_V4MAPPED(&((const struct sockaddr_in6 *)&local)->sin6_addr)) {
    *family = AF_INET;
  }
  return 0;
}

static napi_value address_object(napi_env env, const char *text, int port, int family) {
  napi_value result, address, port_value, family_value;
  MOSNODE_CALL(env, napi_create_object(env, &result));
  MOSNODE_CALL(env, napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &address));
  MOSNODE_CALL(env, napi_create_int32(env, port, &port_value));
  MOSNODE_CALL(env, napi_create_int32(env, family, &family_value));
  MOSNODE_CALL(env, napi_set_named_property(env, result, "address", address));
  MOSNODE_CALL(env, napi_set_named_property(env, result, "port", port_value));
  MOSNODE_CALL(env, napi_set_named_property(env, result, "family", family_value));
  return result;
}

/* getOriginalDst(fd: number): { address: string, port: number, family: 4 | 6 }. */
static napi_value get_original_dst(napi_env env, napi_callback_info info) {
  MOSNODE_ARGS(1);
  int fd, family = AF_UNSPEC, err;
  if (!get_fd(env, argv[0], &fd)) return NULL;
  if ((err = effective_family(fd, &family)) != 0) return mosnode_throw_errno(env, err, "getsockname", NULL);

  char text[INET6_ADDRSTRLEN];
  if (family == AF_INET) {
    struct sockaddr_in dst;
    /* The kernel insists on exactly sizeof(struct sockaddr_in) here (EINVAL otherwise). */
    socklen_t len = sizeof(dst);
    memset(&dst, 0, sizeof(dst));
    if (getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &dst, &len) != 0) {
      return mosnode_throw_errno(env, errno, "getsockopt", "SO_ORIGINAL_DST");
    }
    if (inet_ntop(AF_INET, &dst.sin_addr, text, sizeof(text)) == NULL) {
      return mosnode_throw_errno(env, errno, "inet_ntop", NULL);
    }
    return address_object(env, text, ntohs(dst.sin_port), 4);
  }
  if (family == AF_INET6) {
    struct sockaddr_in6 dst;
    socklen_t len = sizeof(dst);
    memset(&dst, 0, sizeof(dst));
    if (getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, &dst, &len) != 0) {
      return mosnode_throw_errno(env, errno, "getsockopt", "IP6T_SO_ORIGINAL_DST");
    }
    if (inet_ntop(AF_INET6, &dst.sin6_addr, text, sizeof(text)) == NULL) {
      return mosnode_throw_errno(env, errno, "inet_ntop", NULL);
    }
    return address_object(env, text, ntohs(dst.sin6_port), 6);
  }
  return mosnode_throw_errno(env, EAFNOSUPPORT, "getsockopt",
                             "SO_ORIGINAL_DST (not an IPv4 or IPv6 socket)");
}

/* setIpTransparent(fd: number): undefined. IP_TRANSPARENT (IPv4) or IPV6_TRANSPARENT (IPv6). */
static napi_value set_ip_transparent(napi_env env, napi_callback_info info) {
  MOSNODE_ARGS(1);
  int fd;
  if (!get_fd(env, argv[0], &fd)) return NULL;
  struct sockaddr_storage local;
  socklen_t len = sizeof(local);
  memset(&local, 0, sizeof(local));
  if (getsockname(fd, (struct sockaddr *)&local, &len) != 0) {
    return mosnode_throw_errno(env, errno, "getsockname", NULL);
  }
  int on = 1;
  if (local.ss_family == AF_INET) {
    if (setsockopt(fd, SOL_IP, IP_TRANSPARENT, &on, sizeof(on)) != 0) {
      return mosnode_throw_errno(env, errno, "setsockopt", "IP_TRANSPARENT");
    }
  } else if (local.ss_family == AF_INET6) {
    /* One flag on the socket: IPV6_TRANSPARENT covers IPv4 clients of a dual-stack socket too. */
    if (setsockopt(fd, SOL_IPV6, IPV6_TRANSPARENT, &on, sizeof(on)) != 0) {
      return mosnode_throw_errno(env, errno, "setsockopt", "IPV6_TRANSPARENT");
    }
  } else {
    return mosnode_throw_errno(env, EAFNOSUPPORT, "setsockopt",
                               "IP_TRANSPARENT (not an IPv4 or IPv6 socket)");
  }
  napi_value undefined;
  MOSNODE_CALL(env, napi_get_undefined(env, &undefined));
  return undefined;
}

bool mosnode_init_socket_options(napi_env env, napi_value exports) {
  return mosnode_export_function(env, exports, "getOriginalDst", get_original_dst) &&
         mosnode_export_function(env, exports, "setIpTransparent", set_ip_transparent);
}
