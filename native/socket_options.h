/* TCP socket options Node does not expose (original destination, transparent proxy): see socket_options.c. */
#ifndef MOSNODE_SOCKET_OPTIONS_H
#define MOSNODE_SOCKET_OPTIONS_H

#include <stdbool.h>
#include <node_api.h>

/* Adds getOriginalDst and setIpTransparent to exports. False if N-API failed. */
bool mosnode_init_socket_options(napi_env env, napi_value exports);

#endif
