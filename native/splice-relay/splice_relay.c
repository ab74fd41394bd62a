/*
 * The established phase of proxied TCP connections, off the JavaScript
 * thread: one epoll thread per engine connects each adopted client to its
 * target and relays both directions with splice(2) through a pipe, so bytes
 * move kernel to kernel without a copy into user space or a callback per
 * read. portplane keeps everything else in JavaScript (listening sockets,
 * admission, sessions, counters, drain policy); this engine reports to it
 * through a thread-safe function and a shared array of per-slot byte counts.
 *
 * Ownership: adopt() dup()s the accepted socket on the JavaScript thread, so
 * the caller may close its own descriptor (libuv never read from it: the
 * listener pauses on connect) and the engine's copy is the last reference.
 * A connection lives in the slot the caller picked until the engine reports
 * EV_CLOSED for it; the caller reuses the slot only after that report.
 *
 * Buffering is bounded: a direction holds at most one pipe (PIPE_BYTES),
 * and a pipe is held only while it has bytes in it, so an idle connection
 * costs its two sockets and this struct, no pipe descriptors.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <node_api.h>

/* Doubles per slot in the shared stats array (see STAT_*). */
#define STATS_PER_SLOT 5
enum { STAT_FROM_CLIENT_BYTES, STAT_FROM_CLIENT_READS, STAT_TO_CLIENT_BYTES, STAT_TO_CLIENT_READS, STAT_LAST_ACTIVITY_MS };

/* What the engine reports, per slot. */
enum { EV_CONNECTED = 1, EV_END = 2, EV_CLOSED = 3 };
/* EV_END: which side sent FIN. EV_CLOSED: why (the caller maps these to close reasons and drop counters). */
enum {
  WHY_REQUESTED = 0,   /* close() from the caller */
  WHY_ENDED = 1,       /* both directions finished; detail = the side that ended first */
  WHY_CLIENT_ERROR = 2,
  WHY_UPSTREAM_RESET = 3,
  WHY_UPSTREAM_ERROR = 4,
  WHY_CONNECT_FAILED = 5, /* detail = errno */
  WHY_CONNECT_TIMEOUT = 6,
  WHY_RESOURCE = 7, /* no descriptor for the upstream socket or a pipe; detail = errno */
};
enum { SIDE_CLIENT = 0, SIDE_UPSTREAM = 1 };

#define PIPE_BYTES (256 * 1024)
#define PIPE_POOL_MAX 64
#define EPOLL_BATCH 256
#define WAKE_TAG UINT64_MAX

typedef struct conn {
  int fd[2];              /* [SIDE_CLIENT], [SIDE_UPSTREAM] */
  int pipe_r[2], pipe_w[2]; /* per direction d: from side d to side 1-d; -1 when none held */
  uint32_t fill[2];       /* bytes waiting in direction d's pipe */
  uint8_t eof[2];         /* side d sent FIN */
  uint8_t shut[2];        /* FIN passed on to side 1-d */
  uint8_t connected;
  int8_t first_end;       /* side whose FIN came first, -1 before */
  uint32_t slot;
  int64_t deadline_ms;    /* connect deadline (monotonic) */
  unsigned char *header;  /* written to the upstream once connected (PROXY protocol) */
  size_t header_len;
  struct sockaddr_storage target;
  socklen_t target_len;
  /* Connects in progress, for the timeout scan. */
  struct conn *prev_pending, *next_pending;
} conn_t;

typedef struct {
  int kind; /* CMD_ADOPT, CMD_CLOSE */
  uint32_t slot;
  int mode; /* CMD_CLOSE: 1 = reset the client, 0 = close it */
  conn_t *conn;
} cmd_t;
enum { CMD_ADOPT = 1, CMD_CLOSE = 2 };

typedef struct {
  uint8_t kind;
  uint8_t why;
  uint32_t slot;
  int32_t detail;
  uint16_t port;
  char address[INET6_ADDRSTRLEN];
} event_t;

typedef struct {
  uint32_t capacity;
  double *stats;
  conn_t **conns;
  int epfd, wakefd;
  pthread_t thread;
  int stopping;
  pthread_mutex_t lock; /* guards cmds, events, events_pending */
  cmd_t *cmds;
  size_t ncmds, cmds_cap;
  event_t *events;
  size_t nevents, events_cap;
  int events_pending;
  /* Thread-local to the engine thread. */
  int pool_r[PIPE_POOL_MAX], pool_w[PIPE_POOL_MAX];
  int npool;
  conn_t *pending; /* connects in progress */
  int64_t last_timeout_scan;
  napi_threadsafe_function tsfn;
  napi_ref stats_ref;
} engine_t;

static int64_t now_mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double now_wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME_COARSE, &ts);
  return (double)ts.tv_sec * 1000 + (double)(ts.tv_nsec / 1000000);
}

/* ---- events to JavaScript ---- */

static void push_event(engine_t *e, const event_t *ev) {
  pthread_mutex_lock(&e->lock);
  if (e->nevents == e->events_cap) {
    size_t cap = e->events_cap ? e->events_cap * 2 : 256;
    event_t *grown = realloc(e->events, cap * sizeof *grown);
    if (!grown) abort(); /* out of memory in the relay thread: nothing sane to do */
    e->events = grown;
    e->events_cap = cap;
  }
  e->events[e->nevents++] = *ev;
  pthread_mutex_unlock(&e->lock);
}

/* One wake-up of the JavaScript thread per batch of events, not per event. */
static void flush_events(engine_t *e) {
  pthread_mutex_lock(&e->lock);
  int call = e->nevents > 0 && !e->events_pending;
  if (call) e->events_pending = 1;
  pthread_mutex_unlock(&e->lock);
  if (call) napi_call_threadsafe_function(e->tsfn, NULL, napi_tsfn_nonblocking);
}

static void emit(engine_t *e, uint8_t kind, uint32_t slot, uint8_t why, int32_t detail) {
  event_t ev = {.kind = kind, .why = why, .slot = slot, .detail = detail};
  push_event(e, &ev);
}

/* ---- pipes ---- */

static int pipe_get(engine_t *e, conn_t *c, int d) {
  if (c->pipe_r[d] >= 0) return 0;
  if (e->npool > 0) {
    e->npool--;
    c->pipe_r[d] = e->pool_r[e->npool];
    c->pipe_w[d] = e->pool_w[e->npool];
    return 0;
  }
  int p[2];
  if (pipe2(p, O_NONBLOCK | O_CLOEXEC) != 0) return -1;
  /* A bigger pipe means fewer splices per megabyte; the kernel may refuse (pipe-max-size), which is fine. */
  (void)fcntl(p[1], F_SETPIPE_SZ, PIPE_BYTES);
  c->pipe_r[d] = p[0];
  c->pipe_w[d] = p[1];
  return 0;
}

/* An empty pipe goes back to the pool; one with bytes still in it is closed. */
static void pipe_put(engine_t *e, conn_t *c, int d) {
  if (c->pipe_r[d] < 0) return;
  if (c->fill[d] == 0 && e->npool < PIPE_POOL_MAX) {
    e->pool_r[e->npool] = c->pipe_r[d];
    e->pool_w[e->npool] = c->pipe_w[d];
    e->npool++;
  } else {
    close(c->pipe_r[d]);
    close(c->pipe_w[d]);
  }
  c->pipe_r[d] = c->pipe_w[d] = -1;
  c->fill[d] = 0;
}

/* ---- connection lifecycle ---- */

static void reset_socket(int fd) {
  struct linger lg = {.l_onoff = 1, .l_linger = 0};
  (void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
}

/* Closes both sockets (the client with a reset if asked) and reports why. */
static void pending_remove(engine_t *e, conn_t *c) {
  if (c->prev_pending) c->prev_pending->next_pending = c->next_pending;
  else e->pending = c->next_pending;
  if (c->next_pending) c->next_pending->prev_pending = c->prev_pending;
  c->prev_pending = c->next_pending = NULL;
}

static void finish(engine_t *e, conn_t *c, int reset_client, uint8_t why, int32_t detail) {
  if (!c->connected) pending_remove(e, c);
  if (reset_client) reset_socket(c->fd[SIDE_CLIENT]);
  close(c->fd[SIDE_CLIENT]);
  if (c->fd[SIDE_UPSTREAM] >= 0) close(c->fd[SIDE_UPSTREAM]);
  pipe_put(e, c, 0);
  pipe_put(e, c, 1);
  e->conns[c->slot] = NULL;
  emit(e, EV_CLOSED, c->slot, why, detail);
  free(c->header);
  free(c);
}

/* A socket error on `side` while relaying, with the same outcome as the JavaScript relay. */
static void side_failed(engine_t *e, conn_t *c, int side, int err) {
  if (side == SIDE_CLIENT) {
    finish(e, c, 0, WHY_CLIENT_ERROR, err);
  } else if (err == ECONNRESET || err == EPIPE) {
    finish(e, c, 1, WHY_UPSTREAM_RESET, err);
  } else {
    finish(e, c, 0, WHY_UPSTREAM_ERROR, err);
  }
}

static void count(engine_t *e, conn_t *c, int d, ssize_t n) {
  volatile double *s = e->stats + (size_t)c->slot * STATS_PER_SLOT;
  if (d == SIDE_CLIENT) {
    s[STAT_FROM_CLIENT_BYTES] += (double)n;
    s[STAT_FROM_CLIENT_READS] += 1;
  } else {
    s[STAT_TO_CLIENT_BYTES] += (double)n;
    s[STAT_TO_CLIENT_READS] += 1;
  }
  s[STAT_LAST_ACTIVITY_MS] = now_wall_ms();
}

/*
 * Moves what side d has to side 1-d until one of them would block. Returns
 * 0, or -1 when the connection was finished (and freed).
 */
static int pump(engine_t *e, conn_t *c, int d) {
  int src = c->fd[d], dst = c->fd[1 - d];
  for (;;) {
    if (c->fill[d] > 0) {
      ssize_t n = splice(c->pipe_r[d], NULL, dst, NULL, c->fill[d], SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) return 0; /* EPOLLOUT on dst resumes */
        side_failed(e, c, 1 - d, errno);
        return -1;
      }
      c->fill[d] -= (uint32_t)n;
      continue;
    }
    if (c->eof[d]) {
      if (!c->shut[d]) {
        c->shut[d] = 1;
        pipe_put(e, c, d);
        shutdown(dst, SHUT_WR);
        if (c->first_end < 0) c->first_end = (int8_t)d;
        emit(e, EV_END, c->slot, 0, d);
        if (c->shut[1 - d]) {
          finish(e, c, 0, WHY_ENDED, c->first_end);
          return -1;
        }
      }
      return 0;
    }
    if (pipe_get(e, c, d) != 0) {
      finish(e, c, 1, WHY_RESOURCE, errno);
      return -1;
    }
    ssize_t n = splice(src, NULL, c->pipe_w[d], NULL, PIPE_BYTES, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (n > 0) {
      c->fill[d] = (uint32_t)n;
      count(e, c, d, n);
    } else if (n == 0) {
      c->eof[d] = 1;
    } else if (errno == EAGAIN || errno == EINTR) {
      pipe_put(e, c, d); /* empty: an idle direction holds no pipe */
      return 0;
    } else {
      side_failed(e, c, d, errno);
      return -1;
    }
  }
}

static void on_connected(engine_t *e, conn_t *c) {
  c->connected = 1;
  pending_remove(e, c);
  event_t ev = {.kind = EV_CONNECTED, .slot = c->slot};
  struct sockaddr_storage local;
  socklen_t len = sizeof local;
  if (getsockname(c->fd[SIDE_UPSTREAM], (struct sockaddr *)&local, &len) == 0) {
    if (local.ss_family == AF_INET) {
      struct sockaddr_in *a = (struct sockaddr_in *)&local;
      inet_ntop(AF_INET, &a->sin_addr, ev.address, sizeof ev.address);
      ev.port = ntohs(a->sin_port);
    } else if (local.ss_family == AF_INET6) {
      struct sockaddr_in6 *a = (struct sockaddr_in6 *)&local;
      inet_ntop(AF_INET6, &a->sin6_addr, ev.address, sizeof ev.address);
      ev.port = ntohs(a->sin6_port);
    }
  }
  push_event(e, &ev);
  if (c->header_len > 0) {
    /* A fresh connection's send buffer takes a PROXY header (at most 232 bytes) whole. */
    ssize_t n = send(c->fd[SIDE_UPSTREAM], c->header, c->header_len, MSG_NOSIGNAL);
    if (n != (ssize_t)c->header_len) {
      finish(e, c, 0, WHY_UPSTREAM_ERROR, n < 0 ? errno : EIO);
      return;
    }
  }
  if (pump(e, c, SIDE_CLIENT) == 0) pump(e, c, SIDE_UPSTREAM);
}

static void start_connect(engine_t *e, conn_t *c) {
  c->next_pending = e->pending;
  if (e->pending) e->pending->prev_pending = c;
  e->pending = c;
  e->conns[c->slot] = c;
  int fd = socket(c->target.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    finish(e, c, 1, WHY_RESOURCE, errno);
    return;
  }
  c->fd[SIDE_UPSTREAM] = fd;
  int one = 1;
  (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET};
  ev.data.u64 = ((uint64_t)c->slot << 1) | SIDE_CLIENT;
  if (epoll_ctl(e->epfd, EPOLL_CTL_ADD, c->fd[SIDE_CLIENT], &ev) != 0) {
    finish(e, c, 1, WHY_RESOURCE, errno);
    return;
  }
  ev.data.u64 = ((uint64_t)c->slot << 1) | SIDE_UPSTREAM;
  if (epoll_ctl(e->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
    finish(e, c, 1, WHY_RESOURCE, errno);
    return;
  }
  if (connect(fd, (struct sockaddr *)&c->target, c->target_len) == 0) {
    on_connected(e, c);
  } else if (errno != EINPROGRESS) {
    int err = errno;
    finish(e, c, 1, (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) ? WHY_RESOURCE : WHY_CONNECT_FAILED, err);
  }
}

static void on_socket_event(engine_t *e, uint64_t tag, uint32_t events) {
  uint32_t slot = (uint32_t)(tag >> 1);
  int side = (int)(tag & 1);
  conn_t *c = e->conns[slot];
  if (!c) return; /* finished earlier in this batch */
  if (!c->connected) {
    if (side != SIDE_UPSTREAM || !(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(c->fd[SIDE_UPSTREAM], SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    if (err != 0) finish(e, c, 1, WHY_CONNECT_FAILED, err);
    else on_connected(e, c);
    return;
  }
  /* Readable (or error/hangup, which a read reports): relay side's own direction first. */
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP)) {
    if (pump(e, c, side) != 0) return;
  }
  /* Writable: the direction towards this side may have bytes waiting. */
  if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) {
    if (pump(e, c, 1 - side) != 0) return;
  }
  /* An error neither direction ran into (e.g. a reset on a side that already sent FIN and has nothing to receive). */
  if (events & EPOLLERR) {
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(c->fd[side], SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err != 0) side_failed(e, c, side, err);
  }
}

/* Connects past their deadline fail; the list holds only connects in progress, so a scan is short. */
static void check_timeouts(engine_t *e) {
  if (!e->pending) return;
  int64_t now = now_mono_ms();
  if (now - e->last_timeout_scan < 10) return;
  e->last_timeout_scan = now;
  conn_t *c = e->pending;
  while (c) {
    conn_t *next = c->next_pending;
    if (c->deadline_ms <= now) finish(e, c, 1, WHY_CONNECT_TIMEOUT, ETIMEDOUT);
    c = next;
  }
}

/* The nearest connect deadline as an epoll_wait timeout, at least 10 ms (the scan interval). */
static int next_timeout(engine_t *e) {
  if (!e->pending) return -1;
  int64_t nearest = INT64_MAX;
  for (conn_t *c = e->pending; c; c = c->next_pending) {
    if (c->deadline_ms < nearest) nearest = c->deadline_ms;
  }
  int64_t wait = nearest - now_mono_ms();
  if (wait < 10) return 10;
  return wait > 1000 ? 1000 : (int)wait;
}

static void run_commands(engine_t *e) {
  uint64_t drained;
  (void)!read(e->wakefd, &drained, sizeof drained);
  pthread_mutex_lock(&e->lock);
  cmd_t *cmds = e->cmds;
  size_t n = e->ncmds;
  e->cmds = NULL;
  e->ncmds = e->cmds_cap = 0;
  pthread_mutex_unlock(&e->lock);
  for (size_t i = 0; i < n; i++) {
    cmd_t *cmd = &cmds[i];
    if (cmd->kind == CMD_ADOPT) {
      start_connect(e, cmd->conn);
    } else {
      conn_t *c = e->conns[cmd->slot];
      if (c) finish(e, c, cmd->mode, WHY_REQUESTED, 0);
    }
  }
  free(cmds);
}

static void *engine_main(void *arg) {
  engine_t *e = arg;
  struct epoll_event evs[EPOLL_BATCH];
  for (;;) {
    int n = epoll_wait(e->epfd, evs, EPOLL_BATCH, next_timeout(e));
    for (int i = 0; i < n; i++) {
      if (evs[i].data.u64 == WAKE_TAG) run_commands(e);
      else on_socket_event(e, evs[i].data.u64, evs[i].events);
    }
    check_timeouts(e);
    flush_events(e);
    if (__atomic_load_n(&e->stopping, __ATOMIC_ACQUIRE)) break;
  }
  return NULL;
}

/* ---- JavaScript side ---- */

#define CHECK(call)                                                          \
  do {                                                                       \
    if ((call) != napi_ok) {                                                 \
      napi_throw_error(env, NULL, "splice-relay: N-API call failed: " #call); \
      return NULL;                                                           \
    }                                                                        \
  } while (0)

static void push_cmd(engine_t *e, const cmd_t *cmd) {
  pthread_mutex_lock(&e->lock);
  int wake = e->ncmds == 0;
  if (e->ncmds == e->cmds_cap) {
    size_t cap = e->cmds_cap ? e->cmds_cap * 2 : 64;
    cmd_t *grown = realloc(e->cmds, cap * sizeof *grown);
    if (!grown) abort();
    e->cmds = grown;
    e->cmds_cap = cap;
  }
  e->cmds[e->ncmds++] = *cmd;
  pthread_mutex_unlock(&e->lock);
  /* The thread drains every queued command per wake-up, so only the first needs one. */
  if (wake) {
    uint64_t one = 1;
    (void)!write(e->wakefd, &one, sizeof one);
  }
}

/* Runs on the JavaScript thread: hands each queued event to the callback as (kind, slot, why, detail, address, port). */
static void call_js(napi_env env, napi_value js_cb, void *context, void *data) {
  (void)data;
  engine_t *e = context;
  pthread_mutex_lock(&e->lock);
  event_t *events = e->events;
  size_t n = e->nevents;
  e->events = NULL;
  e->nevents = e->events_cap = 0;
  e->events_pending = 0;
  pthread_mutex_unlock(&e->lock);
  if (env != NULL && js_cb != NULL) {
    napi_value undefined;
    napi_get_undefined(env, &undefined);
    for (size_t i = 0; i < n; i++) {
      napi_value argv[6];
      napi_create_uint32(env, events[i].kind, &argv[0]);
      napi_create_uint32(env, events[i].slot, &argv[1]);
      napi_create_uint32(env, events[i].why, &argv[2]);
      napi_create_int32(env, events[i].detail, &argv[3]);
      if (events[i].kind == EV_CONNECTED) {
        napi_create_string_latin1(env, events[i].address, NAPI_AUTO_LENGTH, &argv[4]);
        napi_create_uint32(env, events[i].port, &argv[5]);
      } else {
        argv[4] = undefined;
        argv[5] = undefined;
      }
      napi_value ignored;
      if (napi_call_function(env, undefined, js_cb, 6, argv, &ignored) == napi_pending_exception) {
        /* An exception in the callback must not lose the rest of the batch; rethrow it afterwards. */
        napi_value exc;
        napi_get_and_clear_last_exception(env, &exc);
        napi_fatal_exception(env, exc);
      }
    }
  }
  free(events);
}

static void engine_cleanup(void *arg) {
  engine_t *e = arg;
  __atomic_store_n(&e->stopping, 1, __ATOMIC_RELEASE);
  uint64_t one = 1;
  (void)!write(e->wakefd, &one, sizeof one);
  pthread_join(e->thread, NULL);
  for (uint32_t i = 0; i < e->capacity; i++) {
    conn_t *c = e->conns[i];
    if (!c) continue;
    close(c->fd[SIDE_CLIENT]);
    if (c->fd[SIDE_UPSTREAM] >= 0) close(c->fd[SIDE_UPSTREAM]);
    for (int d = 0; d < 2; d++) {
      if (c->pipe_r[d] >= 0) {
        close(c->pipe_r[d]);
        close(c->pipe_w[d]);
      }
    }
    free(c->header);
    free(c);
  }
  for (int i = 0; i < e->npool; i++) {
    close(e->pool_r[i]);
    close(e->pool_w[i]);
  }
  for (size_t i = 0; i < e->ncmds; i++) {
    if (e->cmds[i].kind == CMD_ADOPT) {
      close(e->cmds[i].conn->fd[SIDE_CLIENT]);
      free(e->cmds[i].conn->header);
      free(e->cmds[i].conn);
    }
  }
  free(e->cmds);
  free(e->events);
  close(e->epfd);
  close(e->wakefd);
  free(e->conns);
  /* Freed here, after the thread that writes it stopped, not by the ArrayBuffer's finaliser. */
  free(e->stats);
  free(e);
}

static engine_t *engine_of(napi_env env, napi_value value) {
  engine_t *e = NULL;
  if (napi_get_value_external(env, value, (void **)&e) != napi_ok || !e) {
    napi_throw_type_error(env, NULL, "splice-relay: expected an engine");
    return NULL;
  }
  return e;
}

/* create(capacity, onEvent) -> { engine, stats: ArrayBuffer } */
static napi_value create(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  uint32_t capacity;
  if (argc < 2 || napi_get_value_uint32(env, argv[0], &capacity) != napi_ok || capacity == 0) {
    napi_throw_type_error(env, NULL, "splice-relay: create(capacity, onEvent)");
    return NULL;
  }
  engine_t *e = calloc(1, sizeof *e);
  double *stats = calloc((size_t)capacity * STATS_PER_SLOT, sizeof(double));
  conn_t **conns = calloc(capacity, sizeof *conns);
  if (!e || !stats || !conns) {
    free(e);
    free(stats);
    free(conns);
    napi_throw_error(env, "ENOMEM", "splice-relay: out of memory");
    return NULL;
  }
  e->capacity = capacity;
  e->stats = stats;
  e->conns = conns;
  e->epfd = epoll_create1(EPOLL_CLOEXEC);
  e->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  struct epoll_event wake = {.events = EPOLLIN, .data.u64 = WAKE_TAG};
  if (e->epfd < 0 || e->wakefd < 0 || epoll_ctl(e->epfd, EPOLL_CTL_ADD, e->wakefd, &wake) != 0) {
    int err = errno;
    if (e->epfd >= 0) close(e->epfd);
    if (e->wakefd >= 0) close(e->wakefd);
    free(e);
    free(stats);
    free(conns);
    napi_throw_error(env, NULL, strerror(err));
    return NULL;
  }
  pthread_mutex_init(&e->lock, NULL);

  napi_value name, result, external, buffer;
  CHECK(napi_create_string_utf8(env, "portplane splice relay", NAPI_AUTO_LENGTH, &name));
  CHECK(napi_create_threadsafe_function(env, argv[1], NULL, name, 0, 1, NULL, NULL, e, call_js, &e->tsfn));
  /* Idle until the caller refs it: an engine with no connections must not keep the process alive. */
  CHECK(napi_unref_threadsafe_function(env, e->tsfn));
  CHECK(napi_create_external_arraybuffer(env, stats, (size_t)capacity * STATS_PER_SLOT * sizeof(double), NULL, NULL, &buffer));
  CHECK(napi_create_reference(env, buffer, 1, &e->stats_ref));
  if (pthread_create(&e->thread, NULL, engine_main, e) != 0) {
    napi_throw_error(env, NULL, "splice-relay: cannot start the relay thread");
    return NULL;
  }
  CHECK(napi_add_env_cleanup_hook(env, engine_cleanup, e));
  CHECK(napi_create_external(env, e, NULL, NULL, &external));
  CHECK(napi_create_object(env, &result));
  CHECK(napi_set_named_property(env, result, "engine", external));
  CHECK(napi_set_named_property(env, result, "stats", buffer));
  return result;
}

static int parse_target(const char *address, uint32_t port, struct sockaddr_storage *out, socklen_t *len) {
  memset(out, 0, sizeof *out);
  struct sockaddr_in *v4 = (struct sockaddr_in *)out;
  struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)out;
  if (inet_pton(AF_INET, address, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons((uint16_t)port);
    *len = sizeof *v4;
    return 0;
  }
  if (inet_pton(AF_INET6, address, &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons((uint16_t)port);
    *len = sizeof *v6;
    return 0;
  }
  return -1;
}

/*
 * adopt(engine, slot, fd, targetAddress, targetPort, connectTimeoutMs, header|null)
 *   -> 0, or an errno (EINVAL: the target is not a numeric address, so the
 *      caller relays this connection itself; EMFILE...: no descriptor).
 * The engine owns a duplicate of `fd` afterwards; the caller closes its own.
 */
static napi_value adopt(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 7) {
    napi_throw_type_error(env, NULL, "splice-relay: adopt(engine, slot, fd, address, port, timeoutMs, header)");
    return NULL;
  }
  engine_t *e = engine_of(env, argv[0]);
  if (!e) return NULL;
  uint32_t slot, port, timeout_ms;
  int32_t fd;
  char address[INET6_ADDRSTRLEN + 1];
  size_t address_len;
  CHECK(napi_get_value_uint32(env, argv[1], &slot));
  CHECK(napi_get_value_int32(env, argv[2], &fd));
  CHECK(napi_get_value_string_latin1(env, argv[3], address, sizeof address, &address_len));
  CHECK(napi_get_value_uint32(env, argv[4], &port));
  CHECK(napi_get_value_uint32(env, argv[5], &timeout_ms));
  if (slot >= e->capacity) {
    napi_throw_range_error(env, NULL, "splice-relay: slot out of range");
    return NULL;
  }
  napi_value result;
  struct sockaddr_storage target;
  socklen_t target_len;
  if (address_len >= sizeof address - 1 || parse_target(address, port, &target, &target_len) != 0) {
    CHECK(napi_create_int32(env, EINVAL, &result));
    return result;
  }
  conn_t *c = calloc(1, sizeof *c);
  if (!c) {
    CHECK(napi_create_int32(env, ENOMEM, &result));
    return result;
  }
  napi_valuetype header_type;
  CHECK(napi_typeof(env, argv[6], &header_type));
  if (header_type == napi_object) {
    void *data;
    size_t len;
    CHECK(napi_get_buffer_info(env, argv[6], &data, &len));
    c->header = malloc(len);
    if (!c->header) {
      free(c);
      CHECK(napi_create_int32(env, ENOMEM, &result));
      return result;
    }
    memcpy(c->header, data, len);
    c->header_len = len;
  }
  int dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (dup_fd < 0) {
    int err = errno;
    free(c->header);
    free(c);
    CHECK(napi_create_int32(env, err, &result));
    return result;
  }
  c->fd[SIDE_CLIENT] = dup_fd;
  c->fd[SIDE_UPSTREAM] = -1;
  c->pipe_r[0] = c->pipe_r[1] = c->pipe_w[0] = c->pipe_w[1] = -1;
  c->first_end = -1;
  c->slot = slot;
  c->deadline_ms = now_mono_ms() + timeout_ms;
  c->target = target;
  c->target_len = target_len;
  double *s = e->stats + (size_t)slot * STATS_PER_SLOT;
  memset(s, 0, STATS_PER_SLOT * sizeof(double));
  s[STAT_LAST_ACTIVITY_MS] = now_wall_ms();
  cmd_t cmd = {.kind = CMD_ADOPT, .slot = slot, .conn = c};
  push_cmd(e, &cmd);
  CHECK(napi_create_int32(env, 0, &result));
  return result;
}

/* close(engine, slot, reset): ends the connection in `slot`; EV_CLOSED (WHY_REQUESTED) follows unless it ended already. */
static napi_value close_conn(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  engine_t *e = argc >= 3 ? engine_of(env, argv[0]) : NULL;
  if (!e) return NULL;
  uint32_t slot;
  bool reset;
  CHECK(napi_get_value_uint32(env, argv[1], &slot));
  CHECK(napi_get_value_bool(env, argv[2], &reset));
  cmd_t cmd = {.kind = CMD_CLOSE, .slot = slot, .mode = reset ? 1 : 0};
  push_cmd(e, &cmd);
  return NULL;
}

/* setActive(engine, active): whether the engine's pending events keep the event loop alive. */
static napi_value set_active(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  engine_t *e = argc >= 2 ? engine_of(env, argv[0]) : NULL;
  if (!e) return NULL;
  bool active;
  CHECK(napi_get_value_bool(env, argv[1], &active));
  if (active) CHECK(napi_ref_threadsafe_function(env, e->tsfn));
  else CHECK(napi_unref_threadsafe_function(env, e->tsfn));
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"create", NULL, create, NULL, NULL, NULL, napi_default, NULL},
      {"adopt", NULL, adopt, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, close_conn, NULL, NULL, NULL, napi_default, NULL},
      {"setActive", NULL, set_active, NULL, NULL, NULL, napi_default, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
