# mosnode's native addon: plain C on N-API (node_api.h), so one build loads in every
# Node version with NAPI_VERSION 8. Built by `node-gyp rebuild` from the "install" script;
# if it fails, mosnode still runs with hot upgrade and shared-memory metrics off
# (src/core/native.ts says why).
{
  "targets": [
    {
      "target_name": "mosnode_native",
      "sources": [
        "native/addon.c",
        "native/napi_util.c",
        "native/shm_map.c",
        "native/socket_options.c",
        "native/tcp_listen.c",
        "native/tcp_relay.c",
        "native/unix_socket.c"
      ],
      "defines": ["NAPI_VERSION=8"],
      "cflags_c": ["-std=gnu11", "-Wall", "-Wextra", "-Wshadow", "-Wstrict-prototypes", "-fvisibility=hidden"],
      "cflags!": ["-Wno-unused-parameter"]
    }
  ]
}
