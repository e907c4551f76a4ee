/*
 * Shared file mappings, for the shared-memory metrics zone (src/shm/).
 *
 * mmapFile maps a regular file MAP_SHARED and hands it to JS as an external ArrayBuffer:
 * every process that maps the same file sees the same bytes, and Atomics on a typed
 * array over that buffer are atomic across processes (they compile to the CPU's atomic
 * instructions whether or not the buffer is a SharedArrayBuffer).
 *
 * Ownership: the mapping lives as long as the ArrayBuffer. Its finalizer munmaps, so JS
 * can never touch unmapped memory: a typed array keeps its buffer, hence the mapping,
 * alive. releaseMapping detaches the buffer (every view over it then has length 0), which
 * lets Node release the backing store and run that same finalizer soon after, on the JS
 * thread. There is no munmap callable from JS on purpose: it would leave live views
 * pointing at unmapped pages (a SIGSEGV instead of an exception).
 *
 * msync is not offered: MAP_SHARED pages are the page cache itself, so other processes
 * see every store at once; writing them back to disk is not something metrics need.
 */
#define _GNU_SOURCE
#include "shm_map.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <limits.h>

#include "napi_util.h"

/* 1 TiB: far above any sensible zone, low enough that a typo cannot ask for 2^53 bytes. */
#define MOSNODE_MAX_MAPPING_BYTES ((int64_t)1 << 40)

struct mapping {
  void *addr;
  size_t size;
};

/* Runs on the JS thread once the ArrayBuffer's backing store is released (GC, detach or
 * environment teardown). */
static void finalize_mapping(napi_env env, void *data, void *hint) {
  (void)env;
  (void)data;
  struct mapping *mapping = hint;
  munmap(mapping->addr, mapping->size);
  free(mapping);
}

/*
 * Opens (or creates, mode 0600) `path`, which must be a regular file; grows it to
 * `size` bytes if it is smaller, reserving the blocks so that a full file system is an
 * ENOSPC here instead of a SIGBUS on a later store; maps `size` bytes read/write,
 * MAP_SHARED. A larger file keeps its size; only its first `size` bytes are mapped.
 */
static void *map_file(napi_env env, const char *path, size_t size) {
  int fd;
  do {
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return mosnode_throw_errno(env, errno, "open", path);

  struct stat st;
  if (fstat(fd, &st) != 0) {
    int err = errno;
    close(fd);
    return mosnode_throw_errno(env, err, "fstat", path);
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    /* Mapping a device or a FIFO "works" and then means something else entirely. */
    return mosnode_throw_errno(env, EINVAL, "mmap", path);
  }
  if ((uint64_t)st.st_size < size) {
    if (ftruncate(fd, (off_t)size) != 0) {
      int err = errno;
      close(fd);
      return mosnode_throw_errno(env, err, "ftruncate", path);
    }
  }
  /* Only ENOSPC-like failures matter; a file system without fallocate is emulated by
   * glibc or, failing that (EOPNOTSUPP), keeps the sparse file ftruncate made. */
  int err = posix_fallocate(fd, 0, (off_t)size);
  if (err != 0 && err != EOPNOTSUPP && err != EINVAL && err != ENOSYS) {
    close(fd);
    return mosnode_throw_errno(env, err, "posix_fallocate", path);
  }

  void *addr = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  err = errno;
  close(fd); /* the mapping keeps the file; the fd is not needed any more */
  if (addr == MAP_FAILED) return mosnode_throw_errno(env, err, "mmap", path);
  return addr;
}

/* mmapFile(path: string, sizeBytes: number): ArrayBuffer over the shared mapping. */
static napi_value mmap_file(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  MOSNODE_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char path[PATH_MAX];
  int64_t size;
  if (!mosnode_get_path(env, argv[0], "open", path, sizeof(path))) return NULL;
  if (!mosnode_get_int(env, argv[1], "sizeBytes", 1, MOSNODE_MAX_MAPPING_BYTES, &size)) return NULL;

  struct mapping *mapping = malloc(sizeof(*mapping));
  if (mapping == NULL) return mosnode_throw_errno(env, ENOMEM, "malloc", NULL);
  mapping->size = (size_t)size;
  mapping->addr = map_file(env, path, mapping->size);
  if (mapping->addr == NULL) {
    free(mapping);
    return NULL;
  }

  napi_value buffer;
  napi_status status = napi_create_external_arraybuffer(env, mapping->addr, mapping->size,
                                                         finalize_mapping, mapping, &buffer);
  if (status != napi_ok) {
    munmap(mapping->addr, mapping->size);
    free(mapping);
    if (status == napi_no_external_buffers_allowed) {
      /* Runtimes with the V8 sandbox (Electron) refuse memory they did not allocate. */
      return mosnode_throw_code(env, "ENOTSUP", 0, "mmap",
                                "this runtime does not allow external ArrayBuffers "
                                "(napi_no_external_buffers_allowed), so a shared mapping "
                                "cannot be exposed to JavaScript");
    }
    mosnode_throw_pending_or_generic(env, "napi_create_external_arraybuffer");
    return NULL;
  }
  return buffer;
}

/*
 * releaseMapping(buffer: ArrayBuffer): void. Detaches a buffer made by mmapFile; the
 * mapping is unmapped when Node frees the backing store (at once or at the next turn of
 * the event loop). Calling it again, or on any other detachable ArrayBuffer, only
 * detaches.
 */
static napi_value release_mapping(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  MOSNODE_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  bool is_buffer = false;
  if (argc < 1 || napi_is_arraybuffer(env, argv[0], &is_buffer) != napi_ok || !is_buffer) {
    return mosnode_throw_type(env, "buffer must be an ArrayBuffer returned by mmapFile");
  }
  bool detached = false;
  MOSNODE_CALL(env, napi_is_detached_arraybuffer(env, argv[0], &detached));
  if (!detached) MOSNODE_CALL(env, napi_detach_arraybuffer(env, argv[0]));
  return NULL;
}

bool mosnode_init_shm_map(napi_env env, napi_value exports) {
  napi_value max;
  return mosnode_export_function(env, exports, "mmapFile", mmap_file) &&
         mosnode_export_function(env, exports, "releaseMapping", release_mapping) &&
         napi_create_double(env, (double)MOSNODE_MAX_MAPPING_BYTES, &max) == napi_ok &&
         napi_set_named_property(env, exports, "MAX_MAPPING_BYTES", max) == napi_ok;
}
