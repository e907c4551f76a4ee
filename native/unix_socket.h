/* Unix stream sockets that carry fds (SCM_RIGHTS): see unix_socket.c. */
#ifndef MOSNODE_UNIX_SOCKET_H
#define MOSNODE_UNIX_SOCKET_H

#include <stdbool.h>
#include <node_api.h>

/* Adds unixListen, unixAccept, unixConnect, sendMsg, recvMsg, closeFd, SCM_MAX_FD and
 * MAX_RECV_BYTES to exports. False if N-API failed. */
bool mosnode_init_unix_socket(napi_env env, napi_value exports);

#endif
