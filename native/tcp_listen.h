/* TCP listening sockets a process holds without accepting on them: see tcp_listen.c. */
#ifndef MOSNODE_TCP_LISTEN_H
#define MOSNODE_TCP_LISTEN_H

#include <stdbool.h>
#include <node_api.h>

/* Adds tcpListen and localPort to exports. False if N-API failed. */
bool mosnode_init_tcp_listen(napi_env env, napi_value exports);

#endif
