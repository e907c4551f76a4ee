/* Shared file mappings for the shared-memory metrics zone: see shm_map.c. */
#ifndef MOSNODE_SHM_MAP_H
#define MOSNODE_SHM_MAP_H

#include <stdbool.h>
#include <node_api.h>

/* Adds mmapFile, releaseMapping and MAX_MAPPING_BYTES to exports. False if N-API failed. */
bool mosnode_init_shm_map(napi_env env, napi_value exports);

#endif
