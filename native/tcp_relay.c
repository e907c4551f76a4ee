/*
 * The TCP relay: moves the bytes of tcp_proxy sessions between the client socket and the
 * upstream socket on one thread of its own (per Node environment), with recv() and send()
 * through a 64 KiB scratch buffer. A relayed session costs no JavaScript per read: the
 * main thread only starts a session and hears once that it ended. Used by tcp_proxy when
 * no other filter needs to see the bytes (src/network/native-relay.ts).
 *
 * Rules the JS side relies on:
 *  - The relay never closes an fd. It shuts down the write side of one socket when the
 *    other sent FIN (half-close passes through), nothing else. JS closes both sockets
 *    after the session ended or after relayStop() returned; the relay has forgotten the
 *    fds by then (removed from its epoll), so an fd number reused later is never touched.
 *  - Bytes a destination could not take at once are kept (malloc'd, only for that
 *    session) and the source is not read until they are written: backpressure, bounded.
 *  - Every byte moved is reported exactly once: by relayTakeByteDeltas(), by the end
 *    event, or by relayStop()/relayDetach(), whichever comes first.
 *  - relayDetach() takes a session back only when the relay holds nothing (no pending
 *    bytes, no FIN seen): the kernel sockets then carry the whole state (migration).
 *  - From relayStart() until the end is reported or relayStop()/relayDetach() took the
 *    session, it keeps the event loop alive, as sockets read in Node would: relayed
 *    sockets are read-stopped, and libuv does not count such handles as active.
 *
 * JS API (see src/core/native.ts):
 *   relayInit(onEnd(id, reason, errno, bytesAtoB, bytesBtoA))   once; reason 0 both sides
 *                                         closed, 1 socket error (errno), 2 idle timeout
 *   relayStart(fdA, fdB, idleMs) -> id   fdA is the client socket, fdB the upstream
 *   relayDetach(id) -> [aToB, bToA] | null   null: busy (or already ended), still relaying
 *   relayStop(id) -> [aToB, bToA] | null     null: unknown id (already reported)
 *   relayTakeByteDeltas() -> [id, aToB, bToA, ...]  bytes moved since last reported
 * Linux only (epoll, eventfd).
 */
#define _GNU_SOURCE
#include "tcp_relay.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "napi_util.h"

#define CHUNK_BYTES (64 * 1024)
#define MAX_EVENTS 128
/* Reads per readiness event: a fast sender cannot starve the other sessions. */
#define READS_PER_EVENT 4
#define IDLE_SCAN_MS 250
#define SLOT_BITS 24
#define MAX_SLOTS (1u << SLOT_BITS)
#define GEN_MASK ((1u << 27) - 1)
#define WAKE_TOKEN UINT64_MAX
#define NO_SLOT UINT32_MAX

enum slot_state { SLOT_FREE, SLOT_ACTIVE, SLOT_ENDED };
enum end_reason { END_CLOSED = 0, END_ERROR = 1, END_IDLE = 2 };

/* Bytes read from fd[i] and written to fd[1 - i]. */
struct direction {
  char *pending; /* read but not yet written (the destination was full) */
  size_t pending_len;
  size_t pending_off;
  bool source_ended; /* recv() returned 0: the source sent FIN */
  bool shut;         /* the FIN was passed on: shutdown(destination, SHUT_WR) */
  uint64_t moved;    /* written to the destination */
  uint64_t reported; /* of those, told to JS */
};

struct session {
  enum slot_state state;
  uint32_t gen;
  int fd[2];
  uint32_t watched[2]; /* epoll events registered for fd[i]; 0 = not registered */
  struct direction dir[2];
  int64_t idle_ms;
  int64_t last_active_ms;
  int end_reason;
  int end_errno;
  uint32_t next_free;
};

struct engine {
  pthread_mutex_t lock;
  pthread_t thread;
  bool thread_started;
  bool stopping;
  int epfd;
  int wakefd;
  struct session *slots;
  uint32_t used;
  uint32_t cap;
  uint32_t free_head;
  uint32_t idle_sessions; /* active sessions with an idle timeout */
  uint32_t live;          /* slots not free (main thread only): the loop is kept alive while > 0 */
  napi_threadsafe_function on_end;
  char scratch[CHUNK_BYTES];
};

/* What the relay thread posts to the main thread when a session ended. */
struct end_note {
  uint32_t slot;
  uint32_t gen;
};

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double session_id(uint32_t slot, uint32_t gen) {
  return (double)gen * (double)MAX_SLOTS + (double)slot;
}

static uint64_t event_token(uint32_t slot, uint32_t gen, int side) {
  return ((uint64_t)gen << 25) | ((uint64_t)side << 24) | slot;
}

/* Registers, changes or removes fd[side] in epoll so that it watches exactly `want`. */
static int watch(struct engine *e, struct session *s, uint32_t slot, int side, uint32_t want) {
  if (s->watched[side] == want) return 0;
  struct epoll_event ev = {.events = want, .data.u64 = event_token(slot, s->gen, side)};
  int op = want == 0 ? EPOLL_CTL_DEL : s->watched[side] == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
  if (epoll_ctl(e->epfd, op, s->fd[side], &ev) != 0 && op != EPOLL_CTL_DEL) return errno;
  s->watched[side] = want;
  return 0;
}

/*
 * What fd[side] should be watched for: readable while its direction can take more, and
 * writable while the other direction has bytes waiting for it. Nothing otherwise, so a
 * socket with nothing left to do is not in epoll at all (no hang-up reported in a loop).
 */
static uint32_t wanted(const struct session *s, int side) {
  uint32_t events = 0;
  if (!s->dir[side].source_ended && s->dir[side].pending == NULL) events |= EPOLLIN;
  if (s->dir[1 - side].pending != NULL) events |= EPOLLOUT;
  return events;
}

static void forget_fds(struct engine *e, struct session *s, uint32_t slot) {
  watch(e, s, slot, 0, 0);
  watch(e, s, slot, 1, 0);
  for (int d = 0; d < 2; d++) {
    free(s->dir[d].pending);
    s->dir[d].pending = NULL;
  }
  if (s->idle_ms > 0 && e->idle_sessions > 0) e->idle_sessions--;
}

static void free_slot(struct engine *e, struct session *s, uint32_t slot) {
  s->state = SLOT_FREE;
  s->gen = (s->gen + 1) & GEN_MASK;
  if (s->gen == 0) s->gen = 1;
  s->next_free = e->free_head;
  e->free_head = slot;
}

/* On the main thread, lock not held: a started session's slot was freed. */
static void session_gone(napi_env env, struct engine *e) {
  if (e->live > 0 && --e->live == 0) napi_unref_threadsafe_function(env, e->on_end);
}

/* Called with the lock held, on the relay thread: the session is over; tell JS. */
static void end_session(struct engine *e, struct session *s, uint32_t slot, int reason, int err) {
  forget_fds(e, s, slot);
  s->state = SLOT_ENDED;
  s->end_reason = reason;
  s->end_errno = err;
  struct end_note *note = malloc(sizeof(*note));
  if (note == NULL) return; /* stays ENDED: relayStop() still finds it and reports it */
  note->slot = slot;
  note->gen = s->gen;
  if (napi_call_threadsafe_function(e->on_end, note, napi_tsfn_nonblocking) != napi_ok) free(note);
}

/* Passes a FIN on once everything read before it was written. */
static void pass_fin(struct session *s, int d) {
  struct direction *dir = &s->dir[d];
  if (dir->source_ended && dir->pending == NULL && !dir->shut) {
    shutdown(s->fd[1 - d], SHUT_WR); /* fails only if the peer is gone; the next write says so */
    dir->shut = true;
  }
}

/* Sends what direction d holds. Returns 0, or the errno that ends the session. */
static int flush(struct session *s, int d) {
  struct direction *dir = &s->dir[d];
  while (dir->pending != NULL) {
    ssize_t n = send(s->fd[1 - d], dir->pending + dir->pending_off, dir->pending_len - dir->pending_off,
                     MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
      return errno;
    }
    dir->moved += (uint64_t)n;
    dir->pending_off += (size_t)n;
    if (dir->pending_off == dir->pending_len) {
      free(dir->pending);
      dir->pending = NULL;
      dir->pending_len = dir->pending_off = 0;
    }
  }
  pass_fin(s, d);
  return 0;
}

/* Reads from fd[d] and sends to fd[1 - d]. Returns 0, or the errno that ends the session. */
static int pump(struct engine *e, struct session *s, int d, int64_t now) {
  struct direction *dir = &s->dir[d];
  for (int reads = 0; reads < READS_PER_EVENT && dir->pending == NULL && !dir->source_ended; reads++) {
    /* MSG_DONTWAIT like the sends: a blocking socket must not stall the thread (lock held). */
    ssize_t got = recv(s->fd[d], e->scratch, CHUNK_BYTES, MSG_DONTWAIT);
    if (got < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
      return errno;
    }
    if (got == 0) {
      dir->source_ended = true;
      pass_fin(s, d);
      return 0;
    }
    s->last_active_ms = now;
    size_t sent = 0;
    while (sent < (size_t)got) {
      ssize_t n = send(s->fd[1 - d], e->scratch + sent, (size_t)got - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        /* What went out before the failure was moved all the same: it is reported too. */
        int err = errno;
        dir->moved += sent;
        return err;
      }
      sent += (size_t)n;
    }
    dir->moved += sent;
    if (sent < (size_t)got) {
      dir->pending = malloc((size_t)got - sent);
      if (dir->pending == NULL) return ENOMEM;
      memcpy(dir->pending, e->scratch + sent, (size_t)got - sent);
      dir->pending_len = (size_t)got - sent;
      dir->pending_off = 0;
      return 0;
    }
    /* A short read means the kernel had no more; epoll says when more comes. */
    if (got < CHUNK_BYTES) return 0;
  }
  return 0;
}

/* One readiness event for fd[side]. Lock held. */
static void on_ready(struct engine *e, struct session *s, uint32_t slot, int side, uint32_t events, int64_t now) {
  int err = 0;
  bool trouble = (events & (EPOLLERR | EPOLLHUP)) != 0;
  /* Bytes waiting for fd[side] first: the reads below may add to them. */
  if ((events & EPOLLOUT) || trouble) {
    if (s->dir[1 - side].pending != NULL) {
      s->last_active_ms = now;
      err = flush(s, 1 - side);
    }
  }
  if (err == 0 && ((events & EPOLLIN) || trouble)) err = pump(e, s, side, now);
  if (err == 0 && (events & EPOLLERR)) {
    /* Reading SO_ERROR also clears it, so a level-triggered error is not reported again. */
    int pending_error = 0;
    socklen_t len = sizeof(pending_error);
    if (getsockopt(s->fd[side], SOL_SOCKET, SO_ERROR, &pending_error, &len) == 0) err = pending_error;
  }
  if (err != 0) {
    end_session(e, s, slot, END_ERROR, err);
    return;
  }
  if (s->dir[0].shut && s->dir[1].shut) {
    end_session(e, s, slot, END_CLOSED, 0);
    return;
  }
  for (int i = 0; i < 2; i++) {
    err = watch(e, s, slot, i, wanted(s, i));
    if (err != 0) {
      end_session(e, s, slot, END_ERROR, err);
      return;
    }
  }
}

static void scan_idle(struct engine *e, int64_t now) {
  for (uint32_t slot = 0; slot < e->used; slot++) {
    struct session *s = &e->slots[slot];
    if (s->state == SLOT_ACTIVE && s->idle_ms > 0 && now - s->last_active_ms >= s->idle_ms) {
      end_session(e, s, slot, END_IDLE, 0);
    }
  }
}

static void *relay_thread(void *arg) {
  struct engine *e = arg;
  struct epoll_event events[MAX_EVENTS];
  int64_t last_scan = now_ms();
  for (;;) {
    pthread_mutex_lock(&e->lock);
    int timeout = e->idle_sessions > 0 ? IDLE_SCAN_MS : -1;
    pthread_mutex_unlock(&e->lock);
    int n = epoll_wait(e->epfd, events, MAX_EVENTS, timeout);
    if (n < 0) n = 0; /* EINTR */
    pthread_mutex_lock(&e->lock);
    if (e->stopping) {
      pthread_mutex_unlock(&e->lock);
      return NULL;
    }
    int64_t now = now_ms();
    for (int i = 0; i < n; i++) {
      uint64_t token = events[i].data.u64;
      if (token == WAKE_TOKEN) {
        uint64_t count;
        ssize_t ignored = read(e->wakefd, &count, sizeof(count));
        (void)ignored;
        continue;
      }
      uint32_t slot = (uint32_t)(token & (MAX_SLOTS - 1));
      int side = (int)((token >> 24) & 1);
      uint32_t gen = (uint32_t)(token >> 25);
      if (slot >= e->used) continue;
      struct session *s = &e->slots[slot];
      /* Events of a session stopped or ended since epoll_wait returned are stale. */
      if (s->state != SLOT_ACTIVE || s->gen != gen) continue;
      on_ready(e, s, slot, side, events[i].events, now);
    }
    if (e->idle_sessions > 0 && now - last_scan >= IDLE_SCAN_MS) {
      scan_idle(e, now);
      last_scan = now;
    }
    pthread_mutex_unlock(&e->lock);
  }
}

static void wake(struct engine *e) {
  uint64_t one = 1;
  ssize_t ignored = write(e->wakefd, &one, sizeof(one));
  (void)ignored;
}

/* Bytes moved and not yet reported, per direction; marks them reported. Lock held. */
static void take_deltas(struct session *s, double out[2]) {
  for (int d = 0; d < 2; d++) {
    out[d] = (double)(s->dir[d].moved - s->dir[d].reported);
    s->dir[d].reported = s->dir[d].moved;
  }
}

/* On the main thread: a session ended; report it unless relayStop() already did. */
static void call_on_end(napi_env env, napi_value js_callback, void *context, void *data) {
  struct engine *e = context;
  struct end_note *note = data;
  if (env == NULL || js_callback == NULL) {
    free(note);
    return;
  }
  double deltas[2] = {0, 0};
  int reason = 0, err = 0;
  bool report = false;
  pthread_mutex_lock(&e->lock);
  if (note->slot < e->used) {
    struct session *s = &e->slots[note->slot];
    if (s->state == SLOT_ENDED && s->gen == note->gen) {
      take_deltas(s, deltas);
      reason = s->end_reason;
      err = s->end_errno;
      report = true;
      free_slot(e, s, note->slot);
    }
  }
  pthread_mutex_unlock(&e->lock);
  double id = session_id(note->slot, note->gen);
  free(note);
  if (!report) return;
  session_gone(env, e);
  napi_value argv[5], undefined_value;
  if (napi_create_double(env, id, &argv[0]) != napi_ok || napi_create_int32(env, reason, &argv[1]) != napi_ok ||
      napi_create_int32(env, err, &argv[2]) != napi_ok || napi_create_double(env, deltas[0], &argv[3]) != napi_ok ||
      napi_create_double(env, deltas[1], &argv[4]) != napi_ok || napi_get_undefined(env, &undefined_value) != napi_ok) {
    return;
  }
  /* A throwing callback is the JS side's bug; Node reports it as uncaught. */
  napi_call_function(env, undefined_value, js_callback, 5, argv, NULL);
}

/* The thread-safe function is gone (environment teardown, after the cleanup hook): free. */
static void finalize_engine(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  struct engine *e = data;
  for (uint32_t slot = 0; slot < e->used; slot++) {
    for (int d = 0; d < 2; d++) free(e->slots[slot].dir[d].pending);
  }
  free(e->slots);
  close(e->epfd);
  close(e->wakefd);
  pthread_mutex_destroy(&e->lock);
  free(e);
}

/* Environment teardown: stop the thread before anything it uses goes away. */
static void stop_engine(void *arg) {
  struct engine *e = arg;
  pthread_mutex_lock(&e->lock);
  e->stopping = true;
  pthread_mutex_unlock(&e->lock);
  if (e->thread_started) {
    wake(e);
    pthread_join(e->thread, NULL);
  }
  napi_release_threadsafe_function(e->on_end, napi_tsfn_abort);
}

static struct engine *engine_of(napi_env env) {
  void *data = NULL;
  if (napi_get_instance_data(env, &data) != napi_ok) return NULL;
  return data;
}

/* relayInit(onEnd): once per environment. */
static napi_value relay_init(napi_env env, napi_callback_info info) {
  MOSNODE_ARGS(1);
  if (engine_of(env) != NULL) return mosnode_throw_code(env, "ERR_INVALID_STATE", 0, NULL, "relayInit: already initialised");
  napi_valuetype type;
  MOSNODE_CALL(env, napi_typeof(env, argv[0], &type));
  if (type != napi_function) return mosnode_throw_type(env, "relayInit: onEnd must be a function");
  struct engine *e = calloc(1, sizeof(*e));
  if (e == NULL) return mosnode_throw_errno(env, ENOMEM, "relayInit", NULL);
  e->free_head = NO_SLOT;
  e->epfd = epoll_create1(EPOLL_CLOEXEC);
  e->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  struct epoll_event ev = {.events = EPOLLIN, .data.u64 = WAKE_TOKEN};
  if (e->epfd < 0 || e->wakefd < 0 || epoll_ctl(e->epfd, EPOLL_CTL_ADD, e->wakefd, &ev) != 0) {
    int err = errno;
    if (e->epfd >= 0) close(e->epfd);
    if (e->wakefd >= 0) close(e->wakefd);
    free(e);
    return mosnode_throw_errno(env, err, "relayInit", NULL);
  }
  pthread_mutex_init(&e->lock, NULL);
  napi_value name;
  if (napi_create_string_utf8(env, "mosnode.tcpRelay", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_threadsafe_function(env, argv[0], NULL, name, 0, 1, e, finalize_engine, e, call_on_end,
                                      &e->on_end) != napi_ok) {
    close(e->epfd);
    close(e->wakefd);
    pthread_mutex_destroy(&e->lock);
    free(e);
    mosnode_throw_pending_or_generic(env, "relayInit: napi_create_threadsafe_function");
    return NULL;
  }
  /* Referenced only while sessions are live (relay_start, session_gone). */
  napi_unref_threadsafe_function(env, e->on_end);
  /* Added after the thread-safe function, so it runs before that one's own teardown. */
  if (napi_add_env_cleanup_hook(env, stop_engine, e) != napi_ok ||
      napi_set_instance_data(env, e, NULL, NULL) != napi_ok) {
    mosnode_throw_pending_or_generic(env, "relayInit");
    return NULL;
  }
  if (pthread_create(&e->thread, NULL, relay_thread, e) != 0) {
    return mosnode_throw_errno(env, EAGAIN, "relayInit", "pthread_create");
  }
  e->thread_started = true;
  return NULL;
}

static struct engine *require_engine(napi_env env) {
  struct engine *e = engine_of(env);
  if (e == NULL || !e->thread_started) {
    mosnode_throw_code(env, "ERR_INVALID_STATE", 0, NULL, "the TCP relay is not initialised (relayInit)");
    return NULL;
  }
  return e;
}

/* relayStart(fdA, fdB, idleMs) -> id */
static napi_value relay_start(napi_env env, napi_callback_info info) {
  MOSNODE_ARGS(3);
  struct engine *e = require_engine(env);
  if (e == NULL) return NULL;
  int64_t fd_a, fd_b, idle_ms;
  if (!mosnode_get_int(env, argv[0], "fdA", 0, INT32_MAX, &fd_a) ||
      !mosnode_get_int(env, argv[1], "fdB", 0, INT32_MAX, &fd_b) ||
      !mosnode_get_int(env, argv[2], "idleMs", 0, INT32_MAX, &idle_ms)) {
    return NULL;
  }
  if (fd_a == fd_b) return mosnode_throw_range(env, "relayStart: fdA and fdB must differ");
  pthread_mutex_lock(&e->lock);
  uint32_t slot = e->free_head;
  if (slot != NO_SLOT) {
    e->free_head = e->slots[slot].next_free;
  } else {
    if (e->used == e->cap) {
      uint32_t cap = e->cap == 0 ? 64 : e->cap * 2;
      struct session *grown = cap <= MAX_SLOTS ? realloc(e->slots, cap * sizeof(*grown)) : NULL;
      if (grown == NULL) {
        pthread_mutex_unlock(&e->lock);
        return mosnode_throw_errno(env, ENOMEM, "relayStart", NULL);
      }
      e->slots = grown;
      e->cap = cap;
    }
    slot = e->used++;
    memset(&e->slots[slot], 0, sizeof(e->slots[slot]));
    e->slots[slot].gen = 1;
  }
  struct session *s = &e->slots[slot];
  uint32_t gen = s->gen;
  memset(s, 0, sizeof(*s));
  s->gen = gen;
  s->state = SLOT_ACTIVE;
  s->fd[0] = (int)fd_a;
  s->fd[1] = (int)fd_b;
  s->idle_ms = idle_ms;
  s->last_active_ms = now_ms();
  int err = watch(e, s, slot, 0, EPOLLIN);
  if (err == 0) err = watch(e, s, slot, 1, EPOLLIN);
  if (err != 0) {
    watch(e, s, slot, 0, 0);
    free_slot(e, s, slot);
    pthread_mutex_unlock(&e->lock);
    return mosnode_throw_errno(env, err, "relayStart", "epoll_ctl");
  }
  bool first_idle = idle_ms > 0 && e->idle_sessions++ == 0;
  pthread_mutex_unlock(&e->lock);
  /* The thread may be waiting without a timeout: it has to start scanning for idleness. */
  if (first_idle) wake(e);
  if (e->live++ == 0) napi_ref_threadsafe_function(env, e->on_end);
  napi_value id;
  MOSNODE_CALL(env, napi_create_double(env, session_id(slot, gen), &id));
  return id;
}

/* Looks up id; NULL (and *slot_out untouched) when it names no current session. Lock held. */
static struct session *find_session(struct engine *e, double id, uint32_t *slot_out) {
  if (!(id >= 0) || id >= 9007199254740992.0) return NULL;
  uint64_t value = (uint64_t)id;
  uint32_t slot = (uint32_t)(value & (MAX_SLOTS - 1));
  uint32_t gen = (uint32_t)(value >> SLOT_BITS);
  if (slot >= e->used) return NULL;
  struct session *s = &e->slots[slot];
  if (s->state == SLOT_FREE || s->gen != gen) return NULL;
  *slot_out = slot;
  return s;
}

static napi_value deltas_value(napi_env env, const double deltas[2]) {
  napi_value array, number;
  MOSNODE_CALL(env, napi_create_array_with_length(env, 2, &array));
  for (uint32_t d = 0; d < 2; d++) {
    MOSNODE_CALL(env, napi_create_double(env, deltas[d], &number));
    MOSNODE_CALL(env, napi_set_element(env, array, d, number));
  }
  return array;
}

static bool read_id(napi_env env, napi_value value, double *id) {
  if (napi_get_value_double(env, value, id) != napi_ok) {
    mosnode_throw_type(env, "id must be a number");
    return false;
  }
  return true;
}

/* relayDetach(id) -> [aToB, bToA] | null */
static napi_value relay_detach(napi_env env, napi_callback_info info) {
  MOSNODE_ARGS(1);
  struct engine *e = require_engine(env);
  double id;
  if (e == NULL || !read_id(env, argv[0], &id)) return NULL;
  double deltas[2];
  bool detached = false;
  uint32_t slot = 0;
  pthread_mutex_lock(&e->lock);
  struct session *s = find_session(e, id, &slot);
  if (s != NULL && s->state == SLOT_ACTIVE && s->dir[0].pending == NULL && s->dir[1].pending == NULL &&
      !s->dir[0].source_ended && !s->dir[1].source_ended) {
    forget_fds(e, s, slot);
    take_deltas(s, deltas);
    free_slot(e, s, slot);
    detached = true;
  }
  pthread_mutex_unlock(&e->lock);
  if (!detached) {
    napi_value null_value;
    MOSNODE_CALL(env, napi_get_null(env, &null_value));
    return null_value;
  }
  session_gone(env, e);
  return deltas_value(env, deltas);
}

/* relayStop(id) -> [aToB, bToA] | null */
static napi_value relay_stop(napi_env env, napi_callback_info info) {
  MOSNODE_ARGS(1);
  struct engine *e = require_engine(env);
  double id;
  if (e == NULL || !read_id(env, argv[0], &id)) return NULL;
  double deltas[2];
  uint32_t slot = 0;
  pthread_mutex_lock(&e->lock);
  struct session *s = find_session(e, id, &slot);
  if (s != NULL) {
    /* An ended session's note is still queued; it finds the slot freed and stays quiet. */
    if (s->state == SLOT_ACTIVE) forget_fds(e, s, slot);
    take_deltas(s, deltas);
    free_slot(e, s, slot);
  }
  pthread_mutex_unlock(&e->lock);
  if (s == NULL) {
    napi_value null_value;
    MOSNODE_CALL(env, napi_get_null(env, &null_value));
    return null_value;
  }
  session_gone(env, e);
  return deltas_value(env, deltas);
}

/* relayTakeByteDeltas() -> [id, aToB, bToA, ...] for the active sessions that moved bytes */
static napi_value relay_take_byte_deltas(napi_env env, napi_callback_info info) {
  (void)info;
  struct engine *e = require_engine(env);
  if (e == NULL) return NULL;
  napi_value array;
  MOSNODE_CALL(env, napi_create_array(env, &array));
  uint32_t index = 0;
  pthread_mutex_lock(&e->lock);
  for (uint32_t slot = 0; slot < e->used; slot++) {
    struct session *s = &e->slots[slot];
    if (s->state != SLOT_ACTIVE || (s->dir[0].moved == s->dir[0].reported && s->dir[1].moved == s->dir[1].reported)) {
      continue;
    }
    double values[3] = {session_id(slot, s->gen), 0, 0};
    take_deltas(s, values + 1);
    for (int k = 0; k < 3; k++) {
      napi_value number;
      if (napi_create_double(env, values[k], &number) != napi_ok ||
          napi_set_element(env, array, index++, number) != napi_ok) {
        pthread_mutex_unlock(&e->lock);
        mosnode_throw_pending_or_generic(env, "relayTakeByteDeltas");
        return NULL;
      }
    }
  }
  pthread_mutex_unlock(&e->lock);
  return array;
}

bool mosnode_init_tcp_relay(napi_env env, napi_value exports) {
  return mosnode_export_function(env, exports, "relayInit", relay_init) &&
         mosnode_export_function(env, exports, "relayStart", relay_start) &&
         mosnode_export_function(env, exports, "relayDetach", relay_detach) &&
         mosnode_export_function(env, exports, "relayStop", relay_stop) &&
         mosnode_export_function(env, exports, "relayTakeByteDeltas", relay_take_byte_deltas);
}
