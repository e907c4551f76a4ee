#ifndef MOSNODE_TCP_RELAY_H
#define MOSNODE_TCP_RELAY_H

#include <stdbool.h>
#include <node_api.h>

/* Adds relayInit, relayStart, relayDetach, relayStop, relayTakeByteDeltas to exports. */
bool mosnode_init_tcp_relay(napi_env env, napi_value exports);

#endif
