/*
 * portplane's TCP engine: the whole per-connection path off the JavaScript
 * thread. Worker threads (one per core by default), each with its own epoll,
 * accept on the listening sockets portplane opened through this addon
 * (shared between workers with EPOLLEXCLUSIVE, so one socket per port keeps
 * its fd and inode across applies), admit each connection with the rule's
 * compiled admission (source filter, caps, token buckets), connect to the
 * target without blocking (connect timeouts in a per-worker heap), write the
 * PROXY header when the rule asks for one, and relay both directions with
 * splice(2) through a pipe, so bytes move kernel to kernel.
 *
 * JavaScript learns what happened in batches: the workers queue fixed-size
 * event records (opened, refused, connected, end, closed), and one
 * thread-safe call per batch tells the JavaScript thread to take them
 * (takeEvents). Byte counts live in a shared array JavaScript reads when it
 * needs them. Commands from JavaScript (close a connection, change a route,
 * change a rule) are checked here: a slot must be in range and carry the
 * serial of the connection JavaScript means, or the command does nothing.
 *
 * UDP forwards run here too: a UDP listening socket belongs to one worker,
 * which reads it with recvmmsg(), keeps a flow table keyed by the client's
 * address and port, gives each flow its own connected upstream socket
 * (admitted like a TCP connection, plus the rule's UDP flow cap), passes
 * datagrams on, and sends the replies back out of the listening socket with
 * sendmmsg(), so the client sees them come from the port it sent to. A flow
 * ends after the rule's idle timeout with no datagram either way, or when the
 * target answers with ICMP port unreachable.
 *
 * adopt() still takes an already-accepted socket (dup()ed, so the caller
 * closes its own), for callers that accept in JavaScript.
 *
 * Buffering is bounded: a direction holds at most one pipe (PIPE_BYTES),
 * and a pipe is held only while it has bytes in it, so an idle connection
 * costs its two sockets and one conn_t, no pipe descriptors.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <node_api.h>

/* Doubles per slot in the shared stats array (see STAT_*). */
#define STATS_PER_SLOT 6
enum { STAT_FROM_CLIENT_BYTES, STAT_FROM_CLIENT_READS, STAT_TO_CLIENT_BYTES, STAT_TO_CLIENT_READS, STAT_LAST_ACTIVITY_MS, STAT_SERIAL };

/* Event kinds. */
enum { EV_CONNECTED = 1, EV_END = 2, EV_CLOSED = 3, EV_OPENED = 4, EV_REFUSED = 5 };
/* EV_CLOSED: why (the caller maps these to close reasons and drop counters). */
enum {
  WHY_REQUESTED = 0,   /* close() from the caller */
  WHY_ENDED = 1,       /* both directions finished; detail = the side that ended first */
  WHY_CLIENT_ERROR = 2,
  WHY_UPSTREAM_RESET = 3,
  WHY_UPSTREAM_ERROR = 4,
  WHY_CONNECT_FAILED = 5, /* detail = errno */
  WHY_CONNECT_TIMEOUT = 6,
  WHY_RESOURCE = 7, /* no descriptor for the upstream socket or a pipe; detail = errno */
  WHY_UPSTREAM_REFUSED = 8, /* UDP: the target answered with port unreachable */
  WHY_IDLE = 9,             /* UDP: no datagram either way for the rule's idle timeout */
};
/* EV_REFUSED: why (admission's refusals, and accepts dropped for want of resources). */
enum { REFUSE_FILTER = 1, REFUSE_CAP = 2, REFUSE_SOURCE_RATE = 3, REFUSE_RATE = 4, REFUSE_RESOURCE = 5 };
enum { SIDE_CLIENT = 0, SIDE_UPSTREAM = 1 };
/* A rule's quiet counts (ruleTakeQuiet): connections, then bytes and reads each way. */
enum { QUIET_CLOSED, QUIET_FROM_CLIENT_BYTES, QUIET_FROM_CLIENT_READS, QUIET_TO_CLIENT_BYTES, QUIET_TO_CLIENT_READS };

#define PIPE_BYTES (256 * 1024)
#define SMALL_BYTES (16 * 1024)
#define WAKE_INTERVAL_US 10000
/* While sessions are watched (detail): a watch stream takes events as they come, and a 10 ms burst could outrun its buffer. */
#define WAKE_INTERVAL_WATCHED_US 1000
#define PIPE_POOL_MAX 64
#define EPOLL_BATCH 256
/* Accepts per readiness event with one worker, so one busy port cannot starve the others (level-triggered: the rest come next round). */
#define ACCEPT_BATCH 64
#define MAX_WORKERS 64
#define WAKE_TAG UINT64_MAX
#define LISTENER_BIT (1ULL << 62)
#define CHUNK 1024
#define MAX_CHUNKS 1024 /* up to 1,048,576 listeners and rules */
#define MAX_SOURCES 65536 /* per rule, as SourceBuckets */
#define HEADER_MAX 232    /* the longest PROXY header (v1 TCP6) */
#define UDP_BATCH 32      /* datagrams per recvmmsg/sendmmsg */
#define UDP_ROUNDS 4      /* recvmmsg calls per readiness event before the other sockets get a turn (level-triggered) */
#define UDP_MAX 65536     /* the largest datagram, so none is ever truncated */
#define FLOW_KEY 24       /* family, port, address, IPv6 scope */
/*
 * Rules, listeners, workers and the engine's counters that several relay
 * threads write start on a line of their own (zalloc_lines), so one thread's
 * write does not evict what another reads from its cache.
 */
#define CACHE_LINE 64

/* ---- event records (read by splice-engine.ts: keep the offsets in step) ---- */
#define EVENT_BYTES 128
typedef struct {
  uint8_t kind;       /* 0 */
  uint8_t why;        /* 1 */
  uint16_t port_a;    /* 2 */
  uint32_t slot;      /* 4 */
  uint32_t serial;    /* 8 */
  int32_t detail;     /* 12 */
  uint32_t lid;       /* 16: listener id (EV_OPENED, EV_REFUSED) */
  uint16_t port_b;    /* 20 */
  uint8_t len_a;      /* 22 */
  uint8_t len_b;      /* 23 */
  union {             /* 24 */
    struct {
      char a[48];     /* 24: EV_OPENED/EV_REFUSED client, EV_CONNECTED upstream local */
      char b[48];     /* 72: EV_OPENED listener (local) */
    } text;
    double stats[5];  /* 24: EV_CLOSED final counts (STAT_* order) */
  } u;
  uint32_t route_seq; /* 120: EV_OPENED, EV_REFUSED: the listener's route (listenerRoutes' seq) it was admitted under */
  uint32_t detail_hi; /* 124: EV_OPENED: the high half of its age in ms (detail holds the low half, unsigned) */
} event_t;
_Static_assert(sizeof(event_t) == EVENT_BYTES, "event record size");

/* ---- admission ---- */

typedef struct {
  uint8_t family; /* 4 or 6 */
  uint8_t bits;
  uint8_t addr[16];
} cidr_t;
#define CIDR_BYTES 18 /* packed form from JavaScript: family, bits, 16 address bytes */

typedef struct {
  uint8_t used;
  uint8_t len; /* 4 or 16 */
  uint8_t addr[16];
  uint64_t seq; /* insertion order, for eviction */
  double tokens, last;
} source_t;

typedef struct {
  source_t *slots;
  uint32_t cap, count;
  uint64_t next_seq;
} sources_t;

typedef struct rule {
  _Alignas(CACHE_LINE) pthread_mutex_t lock;
  uint32_t refs;   /* 1 while JavaScript holds it, + 1 per connection admitted under it */
  uint8_t released;
  double max_sessions, rate, burst, src_rate, src_burst;
  cidr_t *allow, *deny;
  uint32_t nallow, ndeny;
  uint32_t timeout_ms; /* connect timeout of its connections */
  uint8_t proxy;       /* PROXY header: 0 none, 1 v1, 2 v2 */
  uint8_t configured;  /* ruleSet() ran since ruleCreate() */
  double max_udp;      /* UDP flows at once (max_udp_flows) */
  uint32_t udp_idle_ms;
  uint32_t udp_flows;
  uint32_t active;
  /* Connections that opened and closed while nobody watched (no events): count and traffic, QUIET_* order, taken by ruleTakeQuiet. */
  double quiet[5];
  double tokens, last;
  sources_t sources;
  uint32_t next_free; /* free list link */
} rule_t;

/* ---- listeners ---- */

typedef struct listener {
  _Alignas(CACHE_LINE) pthread_rwlock_t lock; /* workers accept under the read lock; route changes and close take the write lock */
  int fd;
  uint32_t gen;
  uint8_t open;      /* bound and listening */
  uint8_t accepting; /* in the workers' epoll sets */
  uint8_t wildcard;  /* bound to an any address: the local end comes from getsockname */
  uint8_t udp;       /* a UDP socket, read by one worker (owner) */
  uint32_t owner;
  int rule;          /* rule index, -1 none */
  uint32_t route_seq; /* JavaScript's name for the current route, echoed in events */
  struct sockaddr_storage target;
  socklen_t target_len;
  char local[48];
  uint16_t local_port;
  uint32_t next_free;
} listener_t;

/* ---- connections ---- */

typedef struct conn {
  int fd[2];                /* [SIDE_CLIENT], [SIDE_UPSTREAM] */
  int pipe_r[2], pipe_w[2]; /* per direction d: from side d to side 1-d; -1 when none held */
  uint32_t fill[2];         /* bytes waiting in direction d's pipe */
  uint8_t eof[2];           /* side d sent FIN */
  uint8_t shut[2];          /* FIN passed on to side 1-d */
  uint8_t connected;
  uint32_t early;           /* the client's readiness reported before the upstream connected (edge-triggered: not reported again) */
  uint8_t bulk[2];          /* direction d moved a full SMALL_BYTES read: it splices from now on */
  int8_t first_end;         /* side whose FIN came first, -1 before */
  uint16_t header_len;
  uint32_t slot, serial;
  int rule;                 /* rule index holding a reference, -1 none (adopted) */
  int32_t heap_index;       /* in the worker's connect-timeout heap, -1 when not there */
  int64_t deadline_ms;      /* connect deadline (monotonic) */
  unsigned char *header;    /* written to the upstream once connected (PROXY protocol) */
  struct sockaddr_storage target;
  socklen_t target_len;
  /* UDP flows (fd[SIDE_CLIENT] is -1: replies leave through the listener's socket). */
  uint8_t udp;
  uint8_t key_len;
  uint8_t key[FLOW_KEY];     /* the client's address and port (flow table key) */
  uint32_t lid, lgen;        /* the listener it came in on, and which socket of that id */
  uint32_t idle_ms;
  int64_t last_ms;           /* last datagram either way (monotonic) */
  struct conn *hnext;        /* flow table chain */
  struct sockaddr_storage client;
  socklen_t client_len;
  /*
   * Accepted while nobody watched sessions: no event is sent for it. It is
   * counted into its rule when it closes cleanly, and reported (opened, and
   * what happened since) when JavaScript asks (reveal) or when it fails.
   * Cleared only under the worker's lock.
   */
  uint8_t quiet;
  uint32_t route_seq;        /* the listener's route it was admitted under (EV_OPENED) */
  double created_ms;         /* wall clock at accept */
} conn_t;

typedef struct {
  int kind; /* CMD_ADOPT, CMD_CLOSE */
  uint32_t slot, serial;
  int mode; /* CMD_CLOSE: 1 = reset the client, 0 = close it */
  conn_t *conn;
} cmd_t;
enum { CMD_ADOPT = 1, CMD_CLOSE = 2 };

struct engine;

typedef struct worker {
  _Alignas(CACHE_LINE) struct engine *e;
  uint32_t index;
  int epfd, wakefd;
  int reserve_fd; /* given up to accept-and-close when out of descriptors */
  pthread_t thread;
  int started;
  pthread_mutex_t lock; /* guards cmds, events, free slots */
  cmd_t *cmds;
  size_t ncmds, cmds_cap;
  event_t *events;
  size_t nevents, events_cap;
  uint32_t *free_slots;
  uint32_t nfree;
  uint32_t slot_base, slot_count;
  /*
   * Slots of this worker holding a connection (atomic): counted up before
   * publish sets a slot, down after finish clears it, so reveal skips the
   * scan of a worker with none (closing 10,000 listeners paid 10,000 scans).
   */
  uint32_t live;
  /* Thread-local to the worker. */
  event_t *local;
  size_t nlocal, local_cap;
  int pool_r[PIPE_POOL_MAX], pool_w[PIPE_POOL_MAX];
  int npool;
  conn_t **heap;
  size_t nheap, heap_cap;
  int64_t wake_at_us; /* a deferred wake-up of JavaScript is due then; 0 none */
  /* UDP: flows by (listener, client address and port), and datagram buffers (allocated on first use). */
  conn_t **flows;
  uint32_t flows_cap, nflows;
  unsigned char *udp_buf;
  struct mmsghdr udp_msgs[UDP_BATCH], udp_out[UDP_BATCH];
  struct iovec udp_iov[UDP_BATCH];
  struct sockaddr_storage udp_from[UDP_BATCH];
} worker_t;

typedef struct engine {
  /* Read by every worker on every event: kept apart from what workers write, so a write on one core does not evict them on the other. */
  uint32_t capacity;
  uint32_t nworkers;
  double *stats;
  conn_t **conns;
  worker_t *workers;
  int stopping;
  int detail; /* sessions are watched (setDetail): every connection sends its events, EV_CONNECTED with the upstream's local address */
  /* Written by every worker per connection (serials) or per wake-up of JavaScript: a line each. */
  _Alignas(CACHE_LINE) uint32_t next_serial;
  _Alignas(CACHE_LINE) int events_pending;
  int64_t last_wake_us;
  _Alignas(CACHE_LINE) uint32_t adopt_rr;
  /* Listeners and rules: chunked tables, a chunk never moves or goes away while the engine lives. */
  listener_t *lchunks[MAX_CHUNKS];
  uint32_t nlisteners, lfree; /* JavaScript thread only */
  rule_t *rchunks[MAX_CHUNKS];
  uint32_t nrules, rfree;
  pthread_mutex_t rules_lock; /* guards nrules, rfree (workers release rules) */
  napi_threadsafe_function tsfn;
  napi_ref stats_ref;
} engine_t;

#define NONE UINT32_MAX

/* Zeroed memory for `n` objects of `size` bytes, aligned to a cache line (their types are: see CACHE_LINE); NULL when out of memory. */
static void *zalloc_lines(size_t n, size_t size) {
  if (size && n > SIZE_MAX / size) return NULL;
  size_t bytes = (n * size + CACHE_LINE - 1) / CACHE_LINE * CACHE_LINE;
  void *p = aligned_alloc(CACHE_LINE, bytes ? bytes : CACHE_LINE);
  if (p) memset(p, 0, bytes);
  return p;
}

static int64_t now_mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Milliseconds with a fraction, like performance.now(): token buckets refill by elapsed time. */
static double now_mono_fine(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1000 + (double)ts.tv_nsec / 1e6;
}

static double now_wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME_COARSE, &ts);
  return (double)ts.tv_sec * 1000 + (double)(ts.tv_nsec / 1000000);
}

static listener_t *listener_at(engine_t *e, uint32_t lid) {
  if (lid >= (uint32_t)MAX_CHUNKS * CHUNK) return NULL;
  listener_t *chunk = __atomic_load_n(&e->lchunks[lid / CHUNK], __ATOMIC_ACQUIRE);
  return chunk ? &chunk[lid % CHUNK] : NULL;
}

static rule_t *rule_at(engine_t *e, uint32_t idx) {
  if (idx >= (uint32_t)MAX_CHUNKS * CHUNK) return NULL;
  rule_t *chunk = __atomic_load_n(&e->rchunks[idx / CHUNK], __ATOMIC_ACQUIRE);
  return chunk ? &chunk[idx % CHUNK] : NULL;
}

/* ---- events to JavaScript ---- */

static event_t *event_new(worker_t *w) {
  if (w->nlocal == w->local_cap) {
    size_t cap = w->local_cap ? w->local_cap * 2 : 256;
    event_t *grown = realloc(w->local, cap * sizeof *grown);
    if (!grown) abort(); /* out of memory in a relay thread: nothing sane to do */
    w->local = grown;
    w->local_cap = cap;
  }
  event_t *ev = &w->local[w->nlocal++];
  memset(ev, 0, sizeof *ev);
  return ev;
}

static int64_t now_mono_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/*
 * Wakes the JavaScript thread for queued events, at most once per
 * WAKE_INTERVAL_US (WAKE_INTERVAL_WATCHED_US while sessions are watched) over all workers: under load, batches grow instead of
 * wake-ups (each a context switch on a machine the relay shares). A wake-up
 * that comes too soon is deferred; the worker's epoll timeout brings it back.
 */
static void wake_js(worker_t *w) {
  engine_t *e = w->e;
  int64_t now = now_mono_us();
  int64_t last = __atomic_load_n(&e->last_wake_us, __ATOMIC_RELAXED);
  int64_t interval = __atomic_load_n(&e->detail, __ATOMIC_RELAXED) ? WAKE_INTERVAL_WATCHED_US : WAKE_INTERVAL_US;
  if (now - last < interval) {
    w->wake_at_us = last + interval;
    return;
  }
  w->wake_at_us = 0;
  __atomic_store_n(&e->last_wake_us, now, __ATOMIC_RELAXED);
  if (!__atomic_exchange_n(&e->events_pending, 1, __ATOMIC_ACQ_REL)) {
    napi_call_threadsafe_function(e->tsfn, NULL, napi_tsfn_nonblocking);
  }
}

/* Room for `n` more records in the shared queue (w->lock held); -1 when out of memory. */
static int events_reserve(worker_t *w, size_t n) {
  if (w->nevents + n <= w->events_cap) return 0;
  size_t cap = w->events_cap ? w->events_cap : 256;
  while (cap < w->nevents + n) cap *= 2;
  event_t *grown = realloc(w->events, cap * sizeof *grown);
  if (!grown) return -1;
  w->events = grown;
  w->events_cap = cap;
  return 0;
}

/* Moves the worker's events to the shared queue (where takeEvents finds them) and wakes JavaScript for them. */
static void flush_events(worker_t *w) {
  if (w->nlocal == 0) {
    if (w->wake_at_us) wake_js(w);
    return;
  }
  pthread_mutex_lock(&w->lock);
  if (events_reserve(w, w->nlocal) != 0) abort(); /* out of memory in a relay thread: nothing sane to do */
  memcpy(w->events + w->nevents, w->local, w->nlocal * sizeof *w->local);
  w->nevents += w->nlocal;
  pthread_mutex_unlock(&w->lock);
  w->nlocal = 0;
  wake_js(w);
}

static void emit(worker_t *w, uint8_t kind, conn_t *c, uint8_t why, int32_t detail) {
  event_t *ev = event_new(w);
  ev->kind = kind;
  ev->slot = c->slot;
  ev->serial = c->serial;
  ev->why = why;
  ev->detail = detail;
}

/* Text of an address as Node reports it (IPv6 link-local with its %zone), and its port. */
static uint8_t address_text(const struct sockaddr_storage *ss, char out[48], uint16_t *port) {
  out[0] = 0;
  if (ss->ss_family == AF_INET) {
    const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
    inet_ntop(AF_INET, &a->sin_addr, out, 48);
    *port = ntohs(a->sin_port);
  } else if (ss->ss_family == AF_INET6) {
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
    inet_ntop(AF_INET6, &a->sin6_addr, out, 48);
    *port = ntohs(a->sin6_port);
    char name[IF_NAMESIZE];
    size_t len = strlen(out);
    if (IN6_IS_ADDR_LINKLOCAL(&a->sin6_addr) && a->sin6_scope_id > 0 && if_indextoname(a->sin6_scope_id, name)) {
      snprintf(out + len, 48 - len, "%%%s", name);
    }
  } else {
    *port = 0;
  }
  return (uint8_t)strlen(out);
}

/* A clean end (no failure to count): a quiet connection that ends so is only counted, never reported. */
static int clean_end(uint8_t why) {
  return why == WHY_ENDED || why == WHY_CLIENT_ERROR || why == WHY_IDLE || why == WHY_REQUESTED;
}

/* The local end of a TCP connection's client socket; 0 when the socket cannot say. */
static int local_of(const conn_t *c, struct sockaddr_storage *local) {
  socklen_t len = sizeof *local;
  return !c->udp && c->fd[SIDE_CLIENT] >= 0 && getsockname(c->fd[SIDE_CLIENT], (struct sockaddr *)local, &len) == 0;
}

/* An EV_OPENED record's common part, from the connection: its slot, serial, route and client address. */
static void opened_event(event_t *ev, const conn_t *c) {
  ev->kind = EV_OPENED;
  ev->slot = c->slot;
  ev->serial = c->serial;
  ev->lid = c->lid;
  ev->route_seq = c->route_seq;
  ev->len_a = address_text(&c->client, ev->u.text.a, &ev->port_a);
}

/*
 * Ends quiet mode for `c` and writes the records it would have sent so far
 * to `out` (room for 3): opened (its age in ms, 64 bits: detail and
 * detail_hi), connected, end. `local`: the listener end of a TCP
 * connection, NULL when unknown (a UDP flow's is the bound address, which
 * JavaScript has); the caller asks the socket before it takes w->lock, so no
 * system call runs under it. Under w->lock, which finish() closes
 * descriptors under. The flag is cleared before `connected` and `first_end`
 * are read, and the worker sets those before it reads the flag (both
 * sequentially consistent): a record may be sent twice (harmless:
 * JavaScript takes the first), never missed.
 */
static size_t quiet_records(conn_t *c, const struct sockaddr_storage *local, event_t out[3]) {
  __atomic_store_n(&c->quiet, 0, __ATOMIC_SEQ_CST);
  memset(out, 0, 3 * sizeof *out);
  event_t *ev = &out[0];
  opened_event(ev, c);
  if (local && !c->udp) ev->len_b = address_text(local, ev->u.text.b, &ev->port_b);
  double age = now_wall_ms() - c->created_ms;
  uint64_t ms = age <= 0 ? 0 : (uint64_t)age;
  ev->detail = (int32_t)(uint32_t)ms;
  ev->detail_hi = (uint32_t)(ms >> 32);
  size_t n = 1;
  if (__atomic_load_n(&c->connected, __ATOMIC_SEQ_CST)) {
    out[n].kind = EV_CONNECTED;
    out[n].slot = c->slot;
    out[n].serial = c->serial;
    n++;
  }
  int8_t first = __atomic_load_n(&c->first_end, __ATOMIC_SEQ_CST);
  if (first >= 0) {
    out[n].kind = EV_END;
    out[n].slot = c->slot;
    out[n].serial = c->serial;
    out[n].detail = first;
    n++;
  }
  return n;
}

/* ---- pipes ---- */

static int pipe_get(worker_t *w, conn_t *c, int d) {
  if (c->pipe_r[d] >= 0) return 0;
  if (w->npool > 0) {
    w->npool--;
    c->pipe_r[d] = w->pool_r[w->npool];
    c->pipe_w[d] = w->pool_w[w->npool];
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
static void pipe_put(worker_t *w, conn_t *c, int d) {
  if (c->pipe_r[d] < 0) return;
  if (c->fill[d] == 0 && w->npool < PIPE_POOL_MAX) {
    w->pool_r[w->npool] = c->pipe_r[d];
    w->pool_w[w->npool] = c->pipe_w[d];
    w->npool++;
  } else {
    close(c->pipe_r[d]);
    close(c->pipe_w[d]);
  }
  c->pipe_r[d] = c->pipe_w[d] = -1;
  c->fill[d] = 0;
}

/* ---- connect-timeout heap (min-heap on deadline_ms) ---- */

static void heap_swap(worker_t *w, size_t i, size_t j) {
  conn_t *t = w->heap[i];
  w->heap[i] = w->heap[j];
  w->heap[j] = t;
  w->heap[i]->heap_index = (int32_t)i;
  w->heap[j]->heap_index = (int32_t)j;
}

static void heap_up(worker_t *w, size_t i) {
  while (i > 0) {
    size_t p = (i - 1) / 2;
    if (w->heap[p]->deadline_ms <= w->heap[i]->deadline_ms) break;
    heap_swap(w, i, p);
    i = p;
  }
}

static void heap_down(worker_t *w, size_t i) {
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < w->nheap && w->heap[l]->deadline_ms < w->heap[m]->deadline_ms) m = l;
    if (r < w->nheap && w->heap[r]->deadline_ms < w->heap[m]->deadline_ms) m = r;
    if (m == i) break;
    heap_swap(w, i, m);
    i = m;
  }
}

static int heap_push(worker_t *w, conn_t *c) {
  if (w->nheap == w->heap_cap) {
    size_t cap = w->heap_cap ? w->heap_cap * 2 : 256;
    conn_t **grown = realloc(w->heap, cap * sizeof *grown);
    if (!grown) return -1;
    w->heap = grown;
    w->heap_cap = cap;
  }
  w->heap[w->nheap] = c;
  c->heap_index = (int32_t)w->nheap;
  w->nheap++;
  heap_up(w, w->nheap - 1);
  return 0;
}

static void heap_remove(worker_t *w, conn_t *c) {
  if (c->heap_index < 0) return;
  size_t i = (size_t)c->heap_index;
  w->nheap--;
  if (i != w->nheap) {
    w->heap[i] = w->heap[w->nheap];
    w->heap[i]->heap_index = (int32_t)i;
    heap_down(w, i);
    heap_up(w, i);
  }
  c->heap_index = -1;
}

/* ---- slots ---- */

static int slot_take(worker_t *w, uint32_t *slot) {
  pthread_mutex_lock(&w->lock);
  int ok = w->nfree > 0;
  if (ok) *slot = w->free_slots[--w->nfree];
  pthread_mutex_unlock(&w->lock);
  return ok ? 0 : -1;
}

static void slot_give(worker_t *w, uint32_t slot) {
  pthread_mutex_lock(&w->lock);
  w->free_slots[w->nfree++] = slot;
  pthread_mutex_unlock(&w->lock);
}

/* ---- rules ---- */

static void sources_free(sources_t *s) {
  free(s->slots);
  memset(s, 0, sizeof *s);
}

/* Drops a reference (r->lock held); the last one (JavaScript released it, no connection left) frees the rule's lists. Returns 1 then. */
static int rule_drop(rule_t *r) {
  if (--r->refs != 0) return 0;
  free(r->allow);
  free(r->deny);
  r->allow = r->deny = NULL;
  r->nallow = r->ndeny = 0;
  sources_free(&r->sources);
  return 1;
}

/* After rule_drop() said so (r->lock no longer held): the index goes back to the free list. */
static void rule_free_index(engine_t *e, rule_t *r, uint32_t idx) {
  pthread_mutex_lock(&e->rules_lock);
  r->next_free = e->rfree;
  e->rfree = idx;
  pthread_mutex_unlock(&e->rules_lock);
}

static void rule_unref(engine_t *e, uint32_t idx) {
  rule_t *r = rule_at(e, idx);
  if (!r) return;
  pthread_mutex_lock(&r->lock);
  int gone = rule_drop(r);
  pthread_mutex_unlock(&r->lock);
  if (gone) rule_free_index(e, r, idx);
}

static void bucket_refill(double *tokens, double *last, double rate, double burst, double now) {
  double elapsed = now - *last;
  if (elapsed <= 0) return;
  double t = *tokens + elapsed * rate / 1000;
  *tokens = t < burst ? t : burst;
  *last = now;
}

static uint32_t source_hash(const uint8_t *addr, uint8_t len) {
  uint32_t h = 2166136261u;
  for (uint8_t i = 0; i < len; i++) h = (h ^ addr[i]) * 16777619u;
  return h;
}

static source_t *source_find(sources_t *s, const uint8_t *addr, uint8_t len) {
  if (!s->cap) return NULL;
  for (uint32_t i = source_hash(addr, len) & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
    source_t *x = &s->slots[i];
    if (!x->used) return NULL;
    if (x->len == len && memcmp(x->addr, addr, len) == 0) return x;
  }
}

static void source_place(sources_t *s, const source_t *src) {
  for (uint32_t i = source_hash(src->addr, src->len) & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
    if (!s->slots[i].used) {
      s->slots[i] = *src;
      s->count++;
      return;
    }
  }
}

static int seq_cmp(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/*
 * Rehashes into `cap` slots keeping the entries `keep` accepts. When full
 * (MAX_SOURCES), full buckets are forgotten first, then the oldest quarter,
 * as SourceBuckets does.
 */
static int sources_rebuild(rule_t *r, uint32_t cap, double now, int evict) {
  sources_t *s = &r->sources;
  uint64_t cutoff = 0;
  if (evict) {
    uint32_t left = 0;
    uint64_t *seqs = malloc((size_t)s->count * sizeof *seqs);
    if (!seqs) return -1;
    for (uint32_t i = 0; i < s->cap; i++) {
      source_t *x = &s->slots[i];
      if (!x->used) continue;
      bucket_refill(&x->tokens, &x->last, r->src_rate, r->src_burst, now);
      if (x->tokens >= r->src_burst) x->used = 2; /* forget */
      else seqs[left++] = x->seq;
    }
    if (left >= MAX_SOURCES) {
      qsort(seqs, left, sizeof *seqs, seq_cmp);
      cutoff = seqs[(MAX_SOURCES + 3) / 4 - 1] + 1;
    }
    free(seqs);
  }
  source_t *old = s->slots;
  uint32_t old_cap = s->cap;
  s->slots = calloc(cap, sizeof *s->slots);
  if (!s->slots) {
    s->slots = old;
    return -1;
  }
  s->cap = cap;
  s->count = 0;
  for (uint32_t i = 0; i < old_cap; i++) {
    if (old[i].used == 1 && old[i].seq >= cutoff) source_place(s, &old[i]);
  }
  free(old);
  return 0;
}

/* The source's bucket, created full; NULL when out of memory (the caller then admits without one). */
static source_t *source_get(rule_t *r, const uint8_t *addr, uint8_t len, double now) {
  sources_t *s = &r->sources;
  source_t *x = source_find(s, addr, len);
  if (x) return x;
  if (s->count >= MAX_SOURCES && sources_rebuild(r, s->cap, now, 1) != 0) return NULL;
  if ((s->count + 1) * 2 > s->cap && sources_rebuild(r, s->cap ? s->cap * 2 : 64, now, 0) != 0) return NULL;
  source_t fresh = {.used = 1, .len = len, .seq = s->next_seq++, .tokens = r->src_burst, .last = now};
  memcpy(fresh.addr, addr, len);
  source_place(s, &fresh);
  return source_find(s, addr, len);
}

static int cidr_contains(const cidr_t *c, const uint8_t *addr, uint8_t len) {
  if ((c->family == 4 ? 4 : 16) != len) return 0;
  uint8_t bits = c->bits, i = 0;
  for (; bits >= 8; bits -= 8, i++) {
    if (c->addr[i] != addr[i]) return 0;
  }
  if (bits == 0) return 1;
  uint8_t mask = (uint8_t)(0xff << (8 - bits));
  return (c->addr[i] & mask) == (addr[i] & mask);
}

/*
 * RuleAdmission.admit(): the filter (deny wins; an empty allow list admits
 * everyone), then the cap, the source's bucket and the rule's; an admitted
 * connection takes a token from both and a reference to the rule. `addr` is
 * the client address, IPv4-mapped IPv6 already unmapped (4 or 16 bytes).
 */
static int admit(rule_t *r, const uint8_t *addr, uint8_t len, int udp, uint32_t *timeout_ms, uint8_t *proxy) {
  double now = now_mono_fine();
  pthread_mutex_lock(&r->lock);
  *timeout_ms = udp ? r->udp_idle_ms : r->timeout_ms;
  *proxy = r->proxy;
  /* A rule is routed to only while JavaScript holds it (refs >= 1); anything else is a bug, refused rather than resurrected. */
  int refused = r->refs == 0 ? REFUSE_RESOURCE : 0;
  if (!refused && (r->nallow || r->ndeny)) {
    for (uint32_t i = 0; i < r->ndeny && !refused; i++) {
      if (cidr_contains(&r->deny[i], addr, len)) refused = REFUSE_FILTER;
    }
    if (!refused && r->nallow) {
      int found = 0;
      for (uint32_t i = 0; i < r->nallow && !found; i++) found = cidr_contains(&r->allow[i], addr, len);
      if (!found) refused = REFUSE_FILTER;
    }
  }
  source_t *src = NULL;
  if (!refused && ((double)r->active >= r->max_sessions || (udp && (double)r->udp_flows >= r->max_udp))) refused = REFUSE_CAP;
  if (!refused) {
    src = source_find(&r->sources, addr, len);
    if (src) {
      bucket_refill(&src->tokens, &src->last, r->src_rate, r->src_burst, now);
      if (src->tokens < 1) refused = REFUSE_SOURCE_RATE;
    } else if (r->src_burst < 1) {
      refused = REFUSE_SOURCE_RATE;
    }
  }
  if (!refused) {
    bucket_refill(&r->tokens, &r->last, r->rate, r->burst, now);
    if (r->tokens < 1) refused = REFUSE_RATE;
  }
  if (!refused) {
    if (!src) src = source_get(r, addr, len, now);
    if (src) {
      bucket_refill(&src->tokens, &src->last, r->src_rate, r->src_burst, now);
      if (src->tokens >= 1) src->tokens -= 1;
    }
    r->tokens -= 1;
    r->active++;
    if (udp) r->udp_flows++;
    r->refs++;
  }
  pthread_mutex_unlock(&r->lock);
  return refused;
}

/* ---- UDP flow table (the worker's own: no lock) ---- */

/* The flow key of a client address: family, port, address bytes, IPv6 scope. */
static uint8_t flow_key(const struct sockaddr_storage *ss, uint8_t out[FLOW_KEY]) {
  memset(out, 0, FLOW_KEY);
  out[0] = (uint8_t)ss->ss_family;
  if (ss->ss_family == AF_INET) {
    const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
    memcpy(out + 1, &a->sin_port, 2);
    memcpy(out + 3, &a->sin_addr, 4);
    return 7;
  }
  const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
  memcpy(out + 1, &a->sin6_port, 2);
  memcpy(out + 3, &a->sin6_addr, 16);
  memcpy(out + 19, &a->sin6_scope_id, 4);
  return 23;
}

static uint32_t flow_hash(uint32_t lid, const uint8_t *key, uint8_t len) {
  uint32_t h = 2166136261u ^ lid;
  for (uint8_t i = 0; i < len; i++) h = (h ^ key[i]) * 16777619u;
  return h ^ (h >> 15);
}

static conn_t *flow_find(worker_t *w, uint32_t lid, uint32_t gen, const uint8_t *key, uint8_t len) {
  if (!w->flows_cap) return NULL;
  for (conn_t *c = w->flows[flow_hash(lid, key, len) & (w->flows_cap - 1)]; c; c = c->hnext) {
    if (c->lid == lid && c->lgen == gen && c->key_len == len && memcmp(c->key, key, len) == 0) return c;
  }
  return NULL;
}

/* Adds a flow; -1 when the table cannot be allocated. It doubles past one flow per bucket (if it cannot, chains grow). */
static int flow_insert(worker_t *w, conn_t *c) {
  if (w->nflows >= w->flows_cap) {
    uint32_t cap = w->flows_cap ? w->flows_cap * 2 : 256;
    conn_t **grown = calloc(cap, sizeof *grown);
    if (grown) {
      for (uint32_t i = 0; i < w->flows_cap; i++) {
        for (conn_t *x = w->flows[i], *next; x; x = next) {
          next = x->hnext;
          uint32_t b = flow_hash(x->lid, x->key, x->key_len) & (cap - 1);
          x->hnext = grown[b];
          grown[b] = x;
        }
      }
      free(w->flows);
      w->flows = grown;
      w->flows_cap = cap;
    } else if (!w->flows_cap) {
      return -1;
    }
  }
  uint32_t b = flow_hash(c->lid, c->key, c->key_len) & (w->flows_cap - 1);
  c->hnext = w->flows[b];
  w->flows[b] = c;
  w->nflows++;
  return 0;
}

static void flow_remove(worker_t *w, conn_t *c) {
  if (!w->flows_cap) return;
  for (conn_t **at = &w->flows[flow_hash(c->lid, c->key, c->key_len) & (w->flows_cap - 1)]; *at; at = &(*at)->hnext) {
    if (*at == c) {
      *at = c->hnext;
      c->hnext = NULL;
      w->nflows--;
      return;
    }
  }
}

/* ---- connection lifecycle ---- */

static void reset_socket(int fd) {
  struct linger lg = {.l_onoff = 1, .l_linger = 0};
  (void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
}

/*
 * Gives back what admit() took for `c` (its place under the rule's caps and
 * its reference; the last reference frees the rule's index) and, for a
 * quiet connection that ended cleanly, counts its final `quiet` counts
 * (STAT_* order) into the rule: one hold of the rule's lock per connection.
 * finish() calls it under w->lock, in the section that frees the slot: a
 * reveal and ruleTakeQuiet then see the connection either live or counted,
 * never neither (lock order w->lock, r->lock, rules_lock; admit and
 * ruleTakeQuiet take only r->lock).
 */
static void release_admission(engine_t *e, conn_t *c, const double *quiet) {
  if (c->rule < 0) return;
  uint32_t idx = (uint32_t)c->rule;
  c->rule = -1;
  rule_t *r = rule_at(e, idx);
  if (!r) return;
  pthread_mutex_lock(&r->lock);
  if (quiet) {
    r->quiet[QUIET_CLOSED] += 1;
    r->quiet[QUIET_FROM_CLIENT_BYTES] += quiet[STAT_FROM_CLIENT_BYTES];
    r->quiet[QUIET_FROM_CLIENT_READS] += quiet[STAT_FROM_CLIENT_READS];
    r->quiet[QUIET_TO_CLIENT_BYTES] += quiet[STAT_TO_CLIENT_BYTES];
    r->quiet[QUIET_TO_CLIENT_READS] += quiet[STAT_TO_CLIENT_READS];
  }
  r->active--;
  if (c->udp) r->udp_flows--;
  int gone = rule_drop(r);
  pthread_mutex_unlock(&r->lock);
  if (gone) rule_free_index(e, r, idx);
}

/* Closes both sockets (the client with a reset if asked), reports why with the final counts, frees the slot. */
static void finish(worker_t *w, conn_t *c, int reset_client, uint8_t why, int32_t detail) {
  engine_t *e = w->e;
  heap_remove(w, c);
  if (c->udp) flow_remove(w, c);
  if (reset_client && c->fd[SIDE_CLIENT] >= 0) reset_socket(c->fd[SIDE_CLIENT]);
  pipe_put(w, c, 0);
  pipe_put(w, c, 1);
  double counts[5];
  memcpy(counts, e->stats + (size_t)c->slot * STATS_PER_SLOT, sizeof counts);
  /* A quiet connection that failed will be reported whole: its listener end is asked now, not under the lock. */
  struct sockaddr_storage local;
  int have_local = __atomic_load_n(&c->quiet, __ATOMIC_SEQ_CST) && !clean_end(why) && local_of(c, &local);
  /* Under the lock upstreamLocal() and reveal look under: neither sees a descriptor closed (and maybe reused). */
  pthread_mutex_lock(&w->lock);
  int quiet = __atomic_load_n(&c->quiet, __ATOMIC_SEQ_CST);
  int silent = quiet && clean_end(why);
  /* A quiet connection that failed is reported whole (its failure is counted by kind in JavaScript), straight into the shared queue. */
  int report = quiet && !silent && events_reserve(w, 4) == 0;
  if (report) w->nevents += quiet_records(c, have_local ? &local : NULL, w->events + w->nevents);
  /* A quiet connection that ended cleanly is counted into its rule here (one whose failure found no memory for its records too: counted as a clean end rather than lost). */
  release_admission(e, c, quiet && !report ? counts : NULL);
  __atomic_store_n(&e->conns[c->slot], NULL, __ATOMIC_RELEASE);
  __atomic_sub_fetch(&w->live, 1, __ATOMIC_SEQ_CST);
  if (c->fd[SIDE_CLIENT] >= 0) close(c->fd[SIDE_CLIENT]);
  if (c->fd[SIDE_UPSTREAM] >= 0) close(c->fd[SIDE_UPSTREAM]);
  w->free_slots[w->nfree++] = c->slot;
  event_t *ev = NULL;
  if (report) {
    ev = &w->events[w->nevents++];
    memset(ev, 0, sizeof *ev);
  }
  if (ev) {
    ev->kind = EV_CLOSED;
    ev->slot = c->slot;
    ev->serial = c->serial;
    ev->why = why;
    ev->detail = detail;
    memcpy(ev->u.stats, counts, sizeof ev->u.stats);
  }
  pthread_mutex_unlock(&w->lock);
  if (report) {
    wake_js(w);
  } else if (!quiet) {
    ev = event_new(w);
    ev->kind = EV_CLOSED;
    ev->slot = c->slot;
    ev->serial = c->serial;
    ev->why = why;
    ev->detail = detail;
    memcpy(ev->u.stats, counts, sizeof ev->u.stats);
  }
  free(c->header);
  free(c);
}

/* A socket error on `side` while relaying, with the same outcome as the JavaScript relay. */
static void side_failed(worker_t *w, conn_t *c, int side, int err) {
  if (side == SIDE_CLIENT) {
    finish(w, c, 0, WHY_CLIENT_ERROR, err);
  } else if (err == ECONNRESET || err == EPIPE) {
    finish(w, c, 1, WHY_UPSTREAM_RESET, err);
  } else {
    finish(w, c, 0, WHY_UPSTREAM_ERROR, err);
  }
}

static void count(worker_t *w, conn_t *c, int d, ssize_t n) {
  volatile double *s = w->e->stats + (size_t)c->slot * STATS_PER_SLOT;
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
 * 0, or -1 when the connection was finished (and freed). `drain`: read to
 * EAGAIN (a FIN or error was reported, which no later edge repeats);
 * `fin_seen`: epoll reported side d's FIN (EPOLLRDHUP) with no error, so a
 * short read took its last byte and the read that would return 0 is skipped.
 */
static int pump(worker_t *w, conn_t *c, int d, int drain, int fin_seen) {
  int src = c->fd[d], dst = c->fd[1 - d];
  for (;;) {
    if (c->fill[d] > 0) {
      ssize_t n = splice(c->pipe_r[d], NULL, dst, NULL, c->fill[d], SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) return 0; /* EPOLLOUT on dst resumes */
        side_failed(w, c, 1 - d, errno);
        return -1;
      }
      c->fill[d] -= (uint32_t)n;
      continue;
    }
    if (c->eof[d]) {
      if (!c->shut[d]) {
        c->shut[d] = 1;
        pipe_put(w, c, d);
        if (c->first_end < 0) __atomic_store_n(&c->first_end, (int8_t)d, __ATOMIC_SEQ_CST);
        if (c->shut[1 - d]) {
          /* Both directions done: close() sends this FIN (dst sent its own and was read to the end, so no reset). */
          finish(w, c, 0, WHY_ENDED, c->first_end);
          return -1;
        }
        shutdown(dst, SHUT_WR);
        if (!__atomic_load_n(&c->quiet, __ATOMIC_SEQ_CST)) emit(w, EV_END, c, 0, d);
      }
      return 0;
    }
    if (!c->bulk[d]) {
      /*
       * Small transfers (requests, replies, handshakes) take recv + send
       * through a stack buffer: as many syscalls as splice, each cheaper,
       * and no pipe. A read that fills the buffer means bulk: from then on
       * this direction splices. Whatever send leaves goes into the pipe.
       */
      char buf[SMALL_BYTES];
      ssize_t n = recv(src, buf, sizeof buf, MSG_DONTWAIT);
      if (n == 0) {
        c->eof[d] = 1;
        continue;
      }
      if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) return 0;
        side_failed(w, c, d, errno);
        return -1;
      }
      count(w, c, d, n);
      int short_read = n < (ssize_t)sizeof buf;
      if (!short_read) c->bulk[d] = 1;
      ssize_t sent = send(dst, buf, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (sent < 0) {
        if (errno != EAGAIN && errno != EINTR) {
          side_failed(w, c, 1 - d, errno);
          return -1;
        }
        sent = 0;
      }
      if (sent < n) {
        /* An empty pipe takes the rest whole (its capacity is at least 64 KiB); EPOLLOUT on dst moves it on. */
        if (pipe_get(w, c, d) != 0 || write(c->pipe_w[d], buf + sent, (size_t)(n - sent)) != n - sent) {
          finish(w, c, 1, WHY_RESOURCE, errno);
          return -1;
        }
        c->fill[d] = (uint32_t)(n - sent);
      }
      /*
       * A short read emptied the receive queue; with edge-triggered epoll
       * whatever arrives next is a new event, so the read that would say
       * EAGAIN is skipped. Unless a FIN was already reported (drain): no
       * new event would announce it.
       */
      if (short_read && fin_seen) {
        c->eof[d] = 1;
        continue;
      }
      if (short_read && !drain && c->fill[d] == 0) return 0;
      continue;
    }
    if (pipe_get(w, c, d) != 0) {
      finish(w, c, 1, WHY_RESOURCE, errno);
      return -1;
    }
    ssize_t n = splice(src, NULL, c->pipe_w[d], NULL, PIPE_BYTES, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (n > 0) {
      c->fill[d] = (uint32_t)n;
      count(w, c, d, n);
    } else if (n == 0) {
      c->eof[d] = 1;
    } else if (errno == EAGAIN || errno == EINTR) {
      pipe_put(w, c, d); /* empty: an idle direction holds no pipe */
      return 0;
    } else {
      side_failed(w, c, d, errno);
      return -1;
    }
  }
}

/*
 * EV_CONNECTED. The upstream's local address costs a syscall: sent along
 * only while someone watches sessions, else upstreamLocal() asks when needed.
 */
static void connected_event(worker_t *w, conn_t *c) {
  event_t *ev = event_new(w);
  ev->kind = EV_CONNECTED;
  ev->slot = c->slot;
  ev->serial = c->serial;
  if (__atomic_load_n(&w->e->detail, __ATOMIC_RELAXED)) {
    struct sockaddr_storage local;
    socklen_t len = sizeof local;
    if (getsockname(c->fd[SIDE_UPSTREAM], (struct sockaddr *)&local, &len) == 0) ev->len_a = address_text(&local, ev->u.text.a, &ev->port_a);
  }
}

/* The peer's FIN is in (and no error): nothing more will arrive on that side. */
static int fin_only(uint32_t events) {
  return (events & (EPOLLRDHUP | EPOLLERR)) == EPOLLRDHUP;
}

/* `upstream_events`: what epoll reported with the completed connect (all, when connect() completed at once). */
static void on_connected(worker_t *w, conn_t *c, uint32_t upstream_events) {
  __atomic_store_n(&c->connected, 1, __ATOMIC_SEQ_CST);
  heap_remove(w, c);
  if (!__atomic_load_n(&c->quiet, __ATOMIC_SEQ_CST)) connected_event(w, c);
  if (c->header_len > 0) {
    /* A fresh connection's send buffer takes a PROXY header (at most 232 bytes) whole. */
    ssize_t n = send(c->fd[SIDE_UPSTREAM], c->header, c->header_len, MSG_NOSIGNAL);
    if (n != (ssize_t)c->header_len) {
      finish(w, c, 0, WHY_UPSTREAM_ERROR, n < 0 ? errno : EIO);
      return;
    }
  }
  /*
   * Only a side epoll reported readable has anything to read: a fresh
   * upstream rarely speaks first, and the client's request is usually in.
   * Read to EAGAIN only when a FIN or error came too (no later edge would
   * say so); a plain short read ends the round, as in pump().
   */
  uint32_t hup = EPOLLRDHUP | EPOLLERR | EPOLLHUP;
  if ((c->early & (EPOLLIN | hup)) && pump(w, c, SIDE_CLIENT, (c->early & hup) != 0, fin_only(c->early)) != 0) return;
  if (upstream_events & (EPOLLIN | hup)) pump(w, c, SIDE_UPSTREAM, (upstream_events & hup) != 0, fin_only(upstream_events));
}

/* Registers both sockets and connects; the connection is the worker's from here on. */
/*
 * The connection takes its slot: counts zeroed, then the serial that says
 * whose they are. Its accept time is set before the slot is: a reveal may
 * read it as soon as the slot holds the connection.
 */
static void publish(worker_t *w, conn_t *c) {
  engine_t *e = w->e;
  c->created_ms = now_wall_ms();
  __atomic_add_fetch(&w->live, 1, __ATOMIC_SEQ_CST);
  __atomic_store_n(&e->conns[c->slot], c, __ATOMIC_SEQ_CST);
  double *s = e->stats + (size_t)c->slot * STATS_PER_SLOT;
  s[STAT_FROM_CLIENT_BYTES] = s[STAT_FROM_CLIENT_READS] = s[STAT_TO_CLIENT_BYTES] = s[STAT_TO_CLIENT_READS] = 0;
  s[STAT_LAST_ACTIVITY_MS] = c->created_ms;
  __atomic_thread_fence(__ATOMIC_RELEASE);
  s[STAT_SERIAL] = (double)c->serial;
  /*
   * A watcher that started between this connection's quiet decision and its
   * publication found nothing in its reveal: the connection reveals itself.
   * setDetail stores the flag before its reveal scans the slots, this store
   * of the slot comes before the flag is read (both sequentially
   * consistent), so one of the two sees the other; quiet_records runs once,
   * under w->lock, for whichever clears the flag.
   */
  if (!__atomic_load_n(&c->quiet, __ATOMIC_SEQ_CST) || !__atomic_load_n(&e->detail, __ATOMIC_SEQ_CST)) return;
  int revealed = 0;
  struct sockaddr_storage local;
  int have_local = local_of(c, &local);
  pthread_mutex_lock(&w->lock);
  if (__atomic_load_n(&c->quiet, __ATOMIC_SEQ_CST) && events_reserve(w, 3) == 0) {
    w->nevents += quiet_records(c, have_local ? &local : NULL, w->events + w->nevents);
    revealed = 1;
  }
  pthread_mutex_unlock(&w->lock);
  if (revealed) wake_js(w);
}

static void start_connect(worker_t *w, conn_t *c) {
  publish(w, c);
  if (heap_push(w, c) != 0) {
    finish(w, c, 1, WHY_RESOURCE, ENOMEM);
    return;
  }
  int fd = socket(c->target.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    finish(w, c, 1, WHY_RESOURCE, errno);
    return;
  }
  __atomic_store_n(&c->fd[SIDE_UPSTREAM], fd, __ATOMIC_RELEASE);
  int one = 1;
  (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET};
  ev.data.u64 = ((uint64_t)c->slot << 1) | SIDE_CLIENT;
  if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, c->fd[SIDE_CLIENT], &ev) != 0) {
    finish(w, c, 1, WHY_RESOURCE, errno);
    return;
  }
  ev.data.u64 = ((uint64_t)c->slot << 1) | SIDE_UPSTREAM;
  if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
    finish(w, c, 1, WHY_RESOURCE, errno);
    return;
  }
  if (connect(fd, (struct sockaddr *)&c->target, c->target_len) == 0) {
    /* Nothing was reported yet: read both sides to EAGAIN (EPOLLERR here means only that: no FIN is assumed). */
    c->early = EPOLLIN | EPOLLERR;
    on_connected(w, c, EPOLLIN | EPOLLERR);
  } else if (errno != EINPROGRESS) {
    int err = errno;
    finish(w, c, 1, (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) ? WHY_RESOURCE : WHY_CONNECT_FAILED, err);
  }
}

static void udp_replies(worker_t *w, conn_t *c);

static void on_socket_event(worker_t *w, uint64_t tag, uint32_t events) {
  uint32_t slot = (uint32_t)(tag >> 1);
  int side = (int)(tag & 1);
  if (slot >= w->e->capacity) return;
  conn_t *c = w->e->conns[slot];
  if (!c) return; /* finished earlier in this batch */
  if (c->udp) {
    /* Readable, or an error (ICMP unreachable) that the read reports. */
    if (side == SIDE_UPSTREAM) udp_replies(w, c);
    return;
  }
  if (!c->connected) {
    if (side == SIDE_CLIENT) c->early |= events;
    if (side != SIDE_UPSTREAM || !(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
    int err = 0;
    socklen_t len = sizeof err;
    /* Writable without an error or hang-up is a completed connect; anything else asks the socket why. */
    if ((events & (EPOLLERR | EPOLLHUP)) && getsockopt(c->fd[SIDE_UPSTREAM], SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    if (err != 0) finish(w, c, 1, WHY_CONNECT_FAILED, err);
    else on_connected(w, c, events);
    return;
  }
  /* Readable (or error/hangup, which a read reports): relay side's own direction first. */
  int drain = (events & (EPOLLRDHUP | EPOLLERR | EPOLLHUP)) != 0;
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP)) {
    if (pump(w, c, side, drain, fin_only(events)) != 0) return;
  }
  /* Writable: the direction towards this side may have bytes waiting (or its source more to read after a pipe emptied). */
  if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) {
    if (pump(w, c, 1 - side, 1, 0) != 0) return;
  }
  /* An error neither direction ran into (e.g. a reset on a side that already sent FIN and has nothing to receive). */
  if (events & EPOLLERR) {
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(c->fd[side], SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err != 0) side_failed(w, c, side, err);
  }
}

/* Connects past their deadline fail, earliest first; the heap's top says when to look next. */
static void check_timeouts(worker_t *w) {
  if (w->nheap == 0) return;
  int64_t now = now_mono_ms();
  while (w->nheap > 0 && w->heap[0]->deadline_ms <= now) {
    conn_t *c = w->heap[0];
    if (!c->udp) {
      finish(w, c, 1, WHY_CONNECT_TIMEOUT, ETIMEDOUT);
    } else if (c->last_ms + c->idle_ms > now) {
      /* A UDP flow stays in the heap for life; datagrams only move last_ms, and its deadline moves when it comes up. */
      c->deadline_ms = c->last_ms + c->idle_ms;
      heap_down(w, 0);
    } else {
      finish(w, c, 0, WHY_IDLE, 0);
    }
  }
}

/* Until the nearest connect deadline or deferred wake-up of JavaScript; -1 (none) blocks. */
static int next_timeout(worker_t *w) {
  int64_t wait = -1;
  if (w->nheap > 0) {
    wait = w->heap[0]->deadline_ms - now_mono_ms();
    if (wait < 0) wait = 0;
    if (wait > 1000) wait = 1000;
  }
  if (w->wake_at_us) {
    int64_t wake = (w->wake_at_us - now_mono_us() + 999) / 1000;
    if (wake < 0) wake = 0;
    if (wait < 0 || wake < wait) wait = wake;
  }
  return (int)wait;
}

/* ---- PROXY protocol headers (as src/dataplane/proxy-header.ts) ---- */

/* The address bytes of `ss`, IPv4-mapped IPv6 unmapped; returns 4 or 16. */
static uint8_t address_bytes(const struct sockaddr_storage *ss, uint8_t out[16], uint16_t *port) {
  if (ss->ss_family == AF_INET) {
    const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
    memcpy(out, &a->sin_addr, 4);
    *port = ntohs(a->sin_port);
    return 4;
  }
  const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
  *port = ntohs(a->sin6_port);
  if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr)) {
    memcpy(out, (const uint8_t *)&a->sin6_addr + 12, 4);
    return 4;
  }
  memcpy(out, &a->sin6_addr, 16);
  return 16;
}

static uint16_t proxy_header(uint8_t version, const struct sockaddr_storage *client, const struct sockaddr_storage *local,
                             unsigned char out[HEADER_MAX]) {
  uint8_t src[16], dst[16];
  uint16_t sport, dport;
  uint8_t slen = address_bytes(client, src, &sport), dlen = address_bytes(local, dst, &dport);
  int v4 = slen == 4 && dlen == 4;
  if (version == 1) {
    char s[48], d[48];
    uint16_t ignored;
    if (v4) {
      inet_ntop(AF_INET, src, s, sizeof s);
      inet_ntop(AF_INET, dst, d, sizeof d);
    } else {
      /* As the socket reports them (zone included), like the JavaScript header. */
      address_text(client, s, &ignored);
      address_text(local, d, &ignored);
    }
    int n = snprintf((char *)out, HEADER_MAX, "PROXY %s %s %s %u %u\r\n", v4 ? "TCP4" : "TCP6", s, d, sport, dport);
    return n > 0 && n < HEADER_MAX ? (uint16_t)n : 0;
  }
  static const unsigned char sig[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};
  uint8_t width = v4 ? 4 : 16;
  uint16_t addrlen = v4 ? 12 : 36;
  memcpy(out, sig, 12);
  out[12] = 0x21;
  out[13] = v4 ? 0x11 : 0x21;
  out[14] = (uint8_t)(addrlen >> 8);
  out[15] = (uint8_t)addrlen;
  uint8_t s16[16] = {0}, d16[16] = {0};
  if (v4) {
    memcpy(s16, src, 4);
    memcpy(d16, dst, 4);
  } else {
    /* A mixed pair (one side mapped) keeps the raw IPv6 bytes of each side. */
    if (client->ss_family == AF_INET6) memcpy(s16, &((const struct sockaddr_in6 *)client)->sin6_addr, 16);
    if (local->ss_family == AF_INET6) memcpy(d16, &((const struct sockaddr_in6 *)local)->sin6_addr, 16);
  }
  memcpy(out + 16, s16, width);
  memcpy(out + 16 + width, d16, width);
  out[16 + 2 * width] = (uint8_t)(sport >> 8);
  out[17 + 2 * width] = (uint8_t)sport;
  out[18 + 2 * width] = (uint8_t)(dport >> 8);
  out[19 + 2 * width] = (uint8_t)dport;
  return (uint16_t)(16 + addrlen);
}

/* ---- accepting ---- */

static void refused_event(worker_t *w, const listener_t *l, uint32_t lid, uint8_t why, const struct sockaddr_storage *client) {
  event_t *ev = event_new(w);
  ev->kind = EV_REFUSED;
  ev->why = why;
  ev->lid = lid;
  ev->route_seq = l->route_seq;
  if (client) ev->len_a = address_text(client, ev->u.text.a, &ev->port_a);
}

/* Out of descriptors: accept with the reserved one and close, so the backlog drains and the port does not spin (as libuv does). */
static void shed_backlog(worker_t *w, listener_t *l, uint32_t lid) {
  if (w->reserve_fd >= 0) {
    close(w->reserve_fd);
    w->reserve_fd = -1;
  }
  for (int i = 0; i < ACCEPT_BATCH; i++) {
    int fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0) break;
    close(fd);
    refused_event(w, l, lid, REFUSE_RESOURCE, NULL);
  }
  w->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

static void accept_one(worker_t *w, listener_t *l, uint32_t lid, int fd, const struct sockaddr_storage *client) {
  engine_t *e = w->e;
  uint8_t addr[16];
  uint16_t ignored;
  uint8_t len = address_bytes(client, addr, &ignored);
  rule_t *r = l->rule >= 0 ? rule_at(e, (uint32_t)l->rule) : NULL;
  uint32_t timeout_ms = 0;
  uint8_t proxy = 0;
  int refused = r ? admit(r, addr, len, 0, &timeout_ms, &proxy) : REFUSE_RESOURCE;
  if (refused) {
    /* A reset, at once: the client learns nothing and costs nothing more. */
    reset_socket(fd);
    close(fd);
    refused_event(w, l, lid, (uint8_t)refused, refused == REFUSE_RESOURCE ? NULL : client);
    return;
  }
  uint32_t slot;
  conn_t *c = NULL;
  struct sockaddr_storage local;
  socklen_t local_len = sizeof local;
  if (slot_take(w, &slot) != 0) goto resource;
  c = calloc(1, sizeof *c);
  if (!c) {
    slot_give(w, slot);
    goto resource;
  }
  c->fd[SIDE_CLIENT] = fd;
  c->fd[SIDE_UPSTREAM] = -1;
  c->pipe_r[0] = c->pipe_r[1] = c->pipe_w[0] = c->pipe_w[1] = -1;
  c->first_end = -1;
  c->heap_index = -1;
  c->slot = slot;
  c->serial = __atomic_add_fetch(&e->next_serial, 1, __ATOMIC_RELAXED);
  c->rule = l->rule;
  c->deadline_ms = now_mono_ms() + timeout_ms;
  c->target = l->target;
  c->target_len = l->target_len;
  c->lid = lid;
  c->route_seq = l->route_seq;
  c->client = *client;
  c->client_len = sizeof *client;
  /* Nobody watches: no record now (its addresses are not even formatted); reveal or a failure sends them. */
  int quiet = !__atomic_load_n(&e->detail, __ATOMIC_RELAXED);
  c->quiet = (uint8_t)quiet;
  /* TCP_NODELAY comes from the listening socket (Linux copies it to accepted ones): no setsockopt per connection. */
  int have_local = 0;
  if ((l->wildcard && !quiet) || proxy) have_local = getsockname(fd, (struct sockaddr *)&local, &local_len) == 0;
  if (!quiet) {
    event_t *ev = event_new(w);
    opened_event(ev, c);
    if (l->wildcard && have_local) {
      ev->len_b = address_text(&local, ev->u.text.b, &ev->port_b);
    } else {
      memcpy(ev->u.text.b, l->local, sizeof l->local);
      ev->len_b = (uint8_t)strlen(l->local);
      ev->port_b = l->local_port;
    }
  }
  if (proxy && have_local) {
    unsigned char header[HEADER_MAX];
    uint16_t n = proxy_header(proxy, client, &local, header);
    c->header = n ? malloc(n) : NULL;
    if (c->header) {
      memcpy(c->header, header, n);
      c->header_len = n;
    }
  }
  start_connect(w, c);
  return;
resource:
  reset_socket(fd);
  close(fd);
  release_admission(e, &(conn_t){.rule = l->rule}, NULL);
  refused_event(w, l, lid, REFUSE_RESOURCE, NULL);
}

/* ---- UDP ---- */

static int udp_buffers(worker_t *w) {
  if (w->udp_buf) return 0;
  /* Address space for a batch of the largest datagrams; only the bytes datagrams fill get pages. */
  w->udp_buf = malloc((size_t)UDP_BATCH * UDP_MAX);
  return w->udp_buf ? 0 : -1;
}

/* Points the batch's buffers at fresh space; `from` non-NULL also collects each sender's address. */
static void udp_prepare(worker_t *w, int with_from) {
  for (int i = 0; i < UDP_BATCH; i++) {
    w->udp_iov[i].iov_base = w->udp_buf + (size_t)i * UDP_MAX;
    w->udp_iov[i].iov_len = UDP_MAX;
    memset(&w->udp_msgs[i].msg_hdr, 0, sizeof w->udp_msgs[i].msg_hdr);
    w->udp_msgs[i].msg_hdr.msg_iov = &w->udp_iov[i];
    w->udp_msgs[i].msg_hdr.msg_iovlen = 1;
    if (with_from) {
      w->udp_msgs[i].msg_hdr.msg_name = &w->udp_from[i];
      w->udp_msgs[i].msg_hdr.msg_namelen = sizeof w->udp_from[i];
    }
  }
}

/* A socket error on a flow's upstream: port unreachable ends it as refused, anything else as an error. */
static void udp_failed(worker_t *w, conn_t *c, int err) {
  finish(w, c, 0, err == ECONNREFUSED ? WHY_UPSTREAM_REFUSED : WHY_UPSTREAM_ERROR, err);
}

/*
 * A new flow from `from` on listener `l`: admitted (a refusal is an event,
 * per datagram, as the JavaScript path counts it), then its own upstream
 * socket connected to the target. NULL when refused or failed (then it was
 * reported).
 */
static conn_t *udp_flow_open(worker_t *w, listener_t *l, uint32_t lid, const struct sockaddr_storage *from, socklen_t from_len,
                             const uint8_t *key, uint8_t key_len, int64_t now) {
  engine_t *e = w->e;
  uint8_t addr[16];
  uint16_t ignored;
  uint8_t len = address_bytes(from, addr, &ignored);
  rule_t *r = l->rule >= 0 ? rule_at(e, (uint32_t)l->rule) : NULL;
  uint32_t idle_ms = 0;
  uint8_t proxy;
  int refused = r ? admit(r, addr, len, 1, &idle_ms, &proxy) : REFUSE_RESOURCE;
  if (refused) {
    refused_event(w, l, lid, (uint8_t)refused, refused == REFUSE_RESOURCE ? NULL : from);
    return NULL;
  }
  uint32_t slot;
  conn_t *c = NULL;
  if (slot_take(w, &slot) != 0) goto resource;
  c = calloc(1, sizeof *c);
  if (!c) {
    slot_give(w, slot);
    goto resource;
  }
  c->udp = 1;
  c->fd[SIDE_CLIENT] = c->fd[SIDE_UPSTREAM] = -1;
  c->pipe_r[0] = c->pipe_r[1] = c->pipe_w[0] = c->pipe_w[1] = -1;
  c->first_end = -1;
  c->heap_index = -1;
  c->slot = slot;
  c->serial = __atomic_add_fetch(&e->next_serial, 1, __ATOMIC_RELAXED);
  c->rule = l->rule;
  c->lid = lid;
  c->lgen = l->gen;
  memcpy(c->key, key, key_len);
  c->key_len = key_len;
  c->client = *from;
  c->client_len = from_len;
  c->target = l->target;
  c->target_len = l->target_len;
  c->idle_ms = idle_ms;
  c->last_ms = now;
  c->deadline_ms = now + idle_ms;
  c->route_seq = l->route_seq;
  c->quiet = !__atomic_load_n(&e->detail, __ATOMIC_RELAXED);
  if (!c->quiet) {
    event_t *ev = event_new(w);
    opened_event(ev, c);
    memcpy(ev->u.text.b, l->local, sizeof l->local);
    ev->len_b = (uint8_t)strlen(l->local);
    ev->port_b = l->local_port;
  }
  publish(w, c);
  if (flow_insert(w, c) != 0 || heap_push(w, c) != 0) {
    finish(w, c, 0, WHY_RESOURCE, ENOMEM);
    return NULL;
  }
  int fd = socket(c->target.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    finish(w, c, 0, WHY_RESOURCE, errno);
    return NULL;
  }
  __atomic_store_n(&c->fd[SIDE_UPSTREAM], fd, __ATOMIC_RELEASE);
  struct epoll_event pev = {.events = EPOLLIN};
  pev.data.u64 = ((uint64_t)slot << 1) | SIDE_UPSTREAM;
  /* A UDP connect() only sets the peer: it completes at once. */
  if (connect(fd, (struct sockaddr *)&c->target, c->target_len) != 0 || epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &pev) != 0) {
    int err = errno;
    finish(w, c, 0, (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) ? WHY_RESOURCE : WHY_UPSTREAM_ERROR, err);
    return NULL;
  }
  __atomic_store_n(&c->connected, 1, __ATOMIC_SEQ_CST);
  if (!__atomic_load_n(&c->quiet, __ATOMIC_SEQ_CST)) connected_event(w, c);
  return c;
resource:
  release_admission(e, &(conn_t){.rule = l->rule, .udp = 1}, NULL);
  refused_event(w, l, lid, REFUSE_RESOURCE, NULL);
  return NULL;
}

/*
 * Datagrams from clients on UDP listener `l`: each goes to its flow's
 * upstream socket (a new flow on a client's first datagram), consecutive
 * datagrams of one flow in one sendmmsg(). A full socket buffer drops, as
 * UDP does.
 */
static void udp_on_listener(worker_t *w, listener_t *l, uint32_t lid) {
  if (udp_buffers(w) != 0) return; /* level-triggered: tried again next round */
  for (int round = 0; round < UDP_ROUNDS; round++) {
    udp_prepare(w, 1);
    int n = recvmmsg(l->fd, w->udp_msgs, UDP_BATCH, MSG_DONTWAIT, NULL);
    if (n <= 0) return;
    int64_t now = now_mono_ms();
    for (int i = 0; i < n;) {
      const struct sockaddr_storage *from = &w->udp_from[i];
      uint8_t key[FLOW_KEY];
      uint8_t key_len = flow_key(from, key);
      conn_t *c = flow_find(w, lid, l->gen, key, key_len);
      if (!c) c = udp_flow_open(w, l, lid, from, w->udp_msgs[i].msg_hdr.msg_namelen, key, key_len, now);
      /* This datagram and the ones right after it from the same client. */
      int j = i + 1;
      while (j < n && w->udp_msgs[j].msg_hdr.msg_namelen == w->udp_msgs[i].msg_hdr.msg_namelen) {
        uint8_t next[FLOW_KEY];
        if (flow_key(&w->udp_from[j], next) != key_len || memcmp(next, key, key_len) != 0) break;
        j++;
      }
      if (c) {
        int m = 0;
        for (int k = i; k < j; k++, m++) {
          memset(&w->udp_out[m].msg_hdr, 0, sizeof w->udp_out[m].msg_hdr);
          w->udp_iov[k].iov_len = w->udp_msgs[k].msg_len;
          w->udp_out[m].msg_hdr.msg_iov = &w->udp_iov[k];
          w->udp_out[m].msg_hdr.msg_iovlen = 1;
          count(w, c, SIDE_CLIENT, (ssize_t)w->udp_msgs[k].msg_len);
        }
        c->last_ms = now;
        if (sendmmsg(c->fd[SIDE_UPSTREAM], w->udp_out, (unsigned)m, MSG_DONTWAIT) < 0 && errno != EAGAIN && errno != ENOBUFS && errno != EINTR) {
          udp_failed(w, c, errno);
        }
      }
      i = j;
    }
    if (n < UDP_BATCH) return;
  }
}

/* Replies on a flow's upstream socket go back to its client out of the listener's socket. */
static void udp_replies(worker_t *w, conn_t *c) {
  if (udp_buffers(w) != 0) return;
  listener_t *l = listener_at(w->e, c->lid);
  for (int round = 0; round < UDP_ROUNDS; round++) {
    udp_prepare(w, 0);
    int n = recvmmsg(c->fd[SIDE_UPSTREAM], w->udp_msgs, UDP_BATCH, MSG_DONTWAIT, NULL);
    if (n < 0) {
      if (errno != EAGAIN && errno != EINTR) udp_failed(w, c, errno);
      return;
    }
    if (n == 0) return;
    c->last_ms = now_mono_ms();
    for (int k = 0; k < n; k++) {
      memset(&w->udp_out[k].msg_hdr, 0, sizeof w->udp_out[k].msg_hdr);
      w->udp_iov[k].iov_len = w->udp_msgs[k].msg_len;
      w->udp_out[k].msg_hdr.msg_iov = &w->udp_iov[k];
      w->udp_out[k].msg_hdr.msg_iovlen = 1;
      w->udp_out[k].msg_hdr.msg_name = &c->client;
      w->udp_out[k].msg_hdr.msg_namelen = c->client_len;
      count(w, c, SIDE_UPSTREAM, (ssize_t)w->udp_msgs[k].msg_len);
    }
    /* The listener's socket, if it is still the one the flow came in on (a closed or reopened id is not). */
    if (l) {
      pthread_rwlock_rdlock(&l->lock);
      if (l->open && l->udp && l->gen == c->lgen) (void)sendmmsg(l->fd, w->udp_out, (unsigned)n, MSG_DONTWAIT);
      pthread_rwlock_unlock(&l->lock);
    }
    if (n < UDP_BATCH) return;
  }
}

static void on_listener_event(worker_t *w, uint64_t tag) {
  uint32_t lid = (uint32_t)tag;
  uint32_t gen = (uint32_t)(tag >> 32) & 0x3fffffff;
  listener_t *l = listener_at(w->e, lid);
  if (!l) return;
  pthread_rwlock_rdlock(&l->lock);
  if (l->accepting && (l->gen & 0x3fffffff) == gen && l->udp) {
    udp_on_listener(w, l, lid);
  } else if (l->accepting && (l->gen & 0x3fffffff) == gen) {
    /*
     * Workers that share the socket take one connection per wake-up, as
     * nginx does (multi_accept off): the rest stay queued for whichever
     * worker comes round next (level-triggered, so this one too), instead of
     * one worker taking them all while another, woken for the same socket,
     * finds it empty (EAGAIN).
     */
    int batch = w->e->nworkers > 1 ? 1 : ACCEPT_BATCH;
    for (int i = 0; i < batch; i++) {
      struct sockaddr_storage client;
      socklen_t len = sizeof client;
      int fd = accept4(l->fd, (struct sockaddr *)&client, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) shed_backlog(w, l, lid);
        break;
      }
      accept_one(w, l, lid, fd, &client);
    }
  }
  /* Every event of this listener is queued before the read lock goes, so closing it can collect them all. */
  flush_events(w);
  pthread_rwlock_unlock(&l->lock);
}

static void run_commands(worker_t *w) {
  uint64_t drained;
  (void)!read(w->wakefd, &drained, sizeof drained);
  pthread_mutex_lock(&w->lock);
  cmd_t *cmds = w->cmds;
  size_t n = w->ncmds;
  w->cmds = NULL;
  w->ncmds = w->cmds_cap = 0;
  pthread_mutex_unlock(&w->lock);
  for (size_t i = 0; i < n; i++) {
    cmd_t *cmd = &cmds[i];
    if (cmd->kind == CMD_ADOPT) {
      start_connect(w, cmd->conn);
    } else {
      conn_t *c = w->e->conns[cmd->slot];
      /* The serial tells the connection JavaScript means from a later one in the same slot. */
      if (c && c->serial == cmd->serial) finish(w, c, cmd->mode, WHY_REQUESTED, 0);
    }
  }
  free(cmds);
}

static void *worker_main(void *arg) {
  worker_t *w = arg;
  char name[16];
  snprintf(name, sizeof name, "pp-relay-%u", w->index);
  pthread_setname_np(pthread_self(), name);
  /*
   * SCHED_BATCH when several workers share the load: same CPU share as any
   * thread, but a worker woken for an event does not preempt the task
   * running on that CPU (often the very client or target it relays for); it
   * runs at the next switch and finds more events waiting. Each of several
   * workers sleeps often, and every wake-up preempting cost a context switch
   * per connection and more (profile in docs/benchmarks.md, round 4 of
   * issue #11). A single worker stays a normal thread: everything waits on
   * it, so a deferred wake-up is latency (p99 1.48x haproxy's in the run
   * that tried it). Refused: it runs as a normal thread.
   */
  if (w->e->nworkers > 1) {
    struct sched_param batch = {0};
    (void)pthread_setschedparam(pthread_self(), SCHED_BATCH, &batch);
  }
  struct epoll_event evs[EPOLL_BATCH];
  for (;;) {
    int n = epoll_wait(w->epfd, evs, EPOLL_BATCH, next_timeout(w));
    for (int i = 0; i < n; i++) {
      uint64_t tag = evs[i].data.u64;
      if (tag == WAKE_TAG) run_commands(w);
      else if (tag & LISTENER_BIT) on_listener_event(w, tag);
      else on_socket_event(w, tag, evs[i].events);
    }
    check_timeouts(w);
    flush_events(w);
    if (__atomic_load_n(&w->e->stopping, __ATOMIC_ACQUIRE)) break;
  }
  return NULL;
}

/* ---- JavaScript side ---- */

#define CHECK(call)                                                            \
  do {                                                                         \
    if ((call) != napi_ok) {                                                   \
      napi_throw_error(env, NULL, "splice-relay: N-API call failed: " #call); \
      return NULL;                                                             \
    }                                                                          \
  } while (0)

static int push_cmd(worker_t *w, const cmd_t *cmd) {
  pthread_mutex_lock(&w->lock);
  int wake = w->ncmds == 0;
  if (w->ncmds == w->cmds_cap) {
    size_t cap = w->cmds_cap ? w->cmds_cap * 2 : 64;
    cmd_t *grown = realloc(w->cmds, cap * sizeof *grown);
    if (!grown) {
      pthread_mutex_unlock(&w->lock);
      return -1;
    }
    w->cmds = grown;
    w->cmds_cap = cap;
  }
  w->cmds[w->ncmds++] = *cmd;
  pthread_mutex_unlock(&w->lock);
  /* The worker drains every queued command per wake-up, so only the first needs one. */
  if (wake) {
    uint64_t one = 1;
    (void)!write(w->wakefd, &one, sizeof one);
  }
  return 0;
}

static worker_t *worker_of_slot(engine_t *e, uint32_t slot) {
  uint32_t per = e->capacity / e->nworkers;
  uint32_t i = slot / per;
  return &e->workers[i < e->nworkers ? i : e->nworkers - 1];
}

/*
 * Runs on the JavaScript thread: tells JavaScript events are waiting. It
 * takes them with takeEvents(), so a close that must see every event of a
 * listener (listenerClose) can take them synchronously too. A throwing
 * handler is reported as an uncaught exception and the engine goes on.
 */
static void call_js(napi_env env, napi_value js_cb, void *context, void *data) {
  (void)context;
  (void)data;
  if (env == NULL || js_cb == NULL) return;
  napi_value undefined, ignored;
  napi_get_undefined(env, &undefined);
  if (napi_call_function(env, undefined, js_cb, 0, NULL, &ignored) == napi_pending_exception) {
    napi_value exc;
    napi_get_and_clear_last_exception(env, &exc);
    napi_value global, process, warn;
    /* Reported as a process warning (stderr, 'warning' listeners); the engine and the process keep running. */
    if (napi_get_global(env, &global) == napi_ok && napi_get_named_property(env, global, "process", &process) == napi_ok &&
        napi_get_named_property(env, process, "emitWarning", &warn) == napi_ok) {
      napi_call_function(env, process, warn, 1, &exc, &ignored);
    }
    bool pending = false;
    if (napi_is_exception_pending(env, &pending) == napi_ok && pending) napi_get_and_clear_last_exception(env, &ignored);
  }
}

static void free_conn(conn_t *c) {
  if (c->fd[SIDE_CLIENT] >= 0) close(c->fd[SIDE_CLIENT]);
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

static void worker_destroy(worker_t *w) {
  for (int i = 0; i < w->npool; i++) {
    close(w->pool_r[i]);
    close(w->pool_w[i]);
  }
  for (size_t i = 0; i < w->ncmds; i++) {
    if (w->cmds[i].kind == CMD_ADOPT) free_conn(w->cmds[i].conn);
  }
  free(w->cmds);
  free(w->flows);
  free(w->udp_buf);
  free(w->events);
  free(w->local);
  free(w->heap);
  free(w->free_slots);
  if (w->epfd >= 0) close(w->epfd);
  if (w->wakefd >= 0) close(w->wakefd);
  if (w->reserve_fd >= 0) close(w->reserve_fd);
  pthread_mutex_destroy(&w->lock);
}

static void engine_destroy(engine_t *e) {
  for (uint32_t i = 0; i < e->capacity; i++) {
    if (e->conns[i]) free_conn(e->conns[i]);
  }
  for (uint32_t i = 0; i < e->nworkers; i++) worker_destroy(&e->workers[i]);
  for (uint32_t c = 0; c < MAX_CHUNKS; c++) {
    if (e->lchunks[c]) {
      for (uint32_t i = 0; i < CHUNK; i++) {
        listener_t *l = &e->lchunks[c][i];
        if (l->open) close(l->fd);
        pthread_rwlock_destroy(&l->lock);
      }
      free(e->lchunks[c]);
    }
    if (e->rchunks[c]) {
      for (uint32_t i = 0; i < CHUNK; i++) {
        rule_t *r = &e->rchunks[c][i];
        free(r->allow);
        free(r->deny);
        sources_free(&r->sources);
        pthread_mutex_destroy(&r->lock);
      }
      free(e->rchunks[c]);
    }
  }
  pthread_mutex_destroy(&e->rules_lock);
  free(e->workers);
  free(e->conns);
  /* Freed here, after the threads that write it stopped, not by the ArrayBuffer's finaliser. */
  free(e->stats);
  free(e);
}

static void engine_cleanup(void *arg) {
  engine_t *e = arg;
  __atomic_store_n(&e->stopping, 1, __ATOMIC_RELEASE);
  for (uint32_t i = 0; i < e->nworkers; i++) {
    worker_t *w = &e->workers[i];
    if (!w->started) continue;
    uint64_t one = 1;
    (void)!write(w->wakefd, &one, sizeof one);
    pthread_join(w->thread, NULL);
  }
  engine_destroy(e);
}

static engine_t *engine_of(napi_env env, napi_value value) {
  engine_t *e = NULL;
  if (napi_get_value_external(env, value, (void **)&e) != napi_ok || !e) {
    napi_throw_type_error(env, NULL, "splice-relay: expected an engine");
    return NULL;
  }
  return e;
}

/*
 * The first steps of every call on an engine: reads `n` arguments into argv
 * and returns the engine argv[0] holds; NULL with a TypeError pending when
 * fewer came (naming `usage`) or argv[0] is not an engine.
 */
static engine_t *engine_call(napi_env env, napi_callback_info info, size_t n, napi_value *argv, const char *usage) {
  size_t argc = n;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) {
    napi_throw_error(env, NULL, "splice-relay: N-API call failed: napi_get_cb_info");
    return NULL;
  }
  if (argc < n) {
    napi_throw_type_error(env, NULL, usage);
    return NULL;
  }
  return engine_of(env, argv[0]);
}

static int worker_init(engine_t *e, worker_t *w, uint32_t index, uint32_t base, uint32_t count) {
  w->e = e;
  w->index = index;
  w->epfd = w->wakefd = w->reserve_fd = -1;
  if (pthread_mutex_init(&w->lock, NULL) != 0) return -1;
  w->free_slots = malloc((size_t)count * sizeof *w->free_slots);
  if (!w->free_slots) return -1;
  /* Lowest slots first, so a quiet engine touches few pages of the stats array. */
  for (uint32_t i = 0; i < count; i++) w->free_slots[i] = base + count - 1 - i;
  w->nfree = count;
  w->slot_base = base;
  w->slot_count = count;
  w->epfd = epoll_create1(EPOLL_CLOEXEC);
  w->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  w->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  struct epoll_event wake = {.events = EPOLLIN, .data.u64 = WAKE_TAG};
  if (w->epfd < 0 || w->wakefd < 0 || epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->wakefd, &wake) != 0) return -1;
  return 0;
}

/* create(capacity, threads, onEvent) -> { engine, stats: ArrayBuffer } */
static napi_value create(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  uint32_t capacity, threads;
  napi_valuetype cb_type = napi_undefined;
  if (argc >= 3) napi_typeof(env, argv[2], &cb_type);
  if (argc < 3 || napi_get_value_uint32(env, argv[0], &capacity) != napi_ok || napi_get_value_uint32(env, argv[1], &threads) != napi_ok ||
      cb_type != napi_function) {
    napi_throw_type_error(env, NULL, "splice-relay: create(capacity, threads, onEvent)");
    return NULL;
  }
  if (threads == 0 || threads > MAX_WORKERS || capacity < threads || capacity > (1u << 30)) {
    napi_throw_range_error(env, NULL, "splice-relay: capacity must be at least threads (1-64) and at most 2^30");
    return NULL;
  }
  engine_t *e = zalloc_lines(1, sizeof *e);
  double *stats = calloc((size_t)capacity * STATS_PER_SLOT, sizeof(double));
  conn_t **conns = calloc(capacity, sizeof *conns);
  worker_t *workers = zalloc_lines(threads, sizeof *workers);
  if (!e || !stats || !conns || !workers) {
    free(e);
    free(stats);
    free(conns);
    free(workers);
    napi_throw_error(env, "ENOMEM", "splice-relay: out of memory");
    return NULL;
  }
  e->capacity = capacity;
  e->stats = stats;
  e->conns = conns;
  e->workers = workers;
  e->nworkers = threads;
  e->lfree = e->rfree = NONE;
  pthread_mutex_init(&e->rules_lock, NULL);
  uint32_t per = capacity / threads;
  for (uint32_t i = 0; i < threads; i++) {
    uint32_t base = i * per, n = i == threads - 1 ? capacity - base : per;
    if (worker_init(e, &workers[i], i, base, n) != 0) {
      int err = errno;
      e->nworkers = i + 1; /* worker_destroy of the ones initialised (or partly) */
      engine_destroy(e);
      napi_throw_error(env, NULL, strerror(err));
      return NULL;
    }
  }

  napi_value name, result, external, buffer;
  if (napi_create_string_utf8(env, "portplane splice relay", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_threadsafe_function(env, argv[2], NULL, name, 0, 1, NULL, NULL, e, call_js, &e->tsfn) != napi_ok) {
    engine_destroy(e);
    napi_throw_error(env, NULL, "splice-relay: cannot create the event callback");
    return NULL;
  }
  /* Idle until the caller refs it: an engine with no connections must not keep the process alive. */
  napi_unref_threadsafe_function(env, e->tsfn);
  for (uint32_t i = 0; i < threads; i++) {
    if (pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]) != 0) {
      /* The started ones stop with the engine (cleanup hook); without the hook they would leak, so register it now. */
      napi_add_env_cleanup_hook(env, engine_cleanup, e);
      napi_throw_error(env, NULL, "splice-relay: cannot start a relay thread");
      return NULL;
    }
    workers[i].started = 1;
  }
  CHECK(napi_add_env_cleanup_hook(env, engine_cleanup, e));
  CHECK(napi_create_external_arraybuffer(env, stats, (size_t)capacity * STATS_PER_SLOT * sizeof(double), NULL, NULL, &buffer));
  CHECK(napi_create_reference(env, buffer, 1, &e->stats_ref));
  CHECK(napi_create_external(env, e, NULL, NULL, &external));
  CHECK(napi_create_object(env, &result));
  CHECK(napi_set_named_property(env, result, "engine", external));
  CHECK(napi_set_named_property(env, result, "stats", buffer));
  return result;
}

/* A numeric address (an IPv6 one may carry a %zone) and port; -1 when not one. */
static int parse_target(const char *address, uint32_t port, struct sockaddr_storage *out, socklen_t *len) {
  memset(out, 0, sizeof *out);
  if (port > 65535) return -1;
  struct sockaddr_in *v4 = (struct sockaddr_in *)out;
  struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)out;
  if (inet_pton(AF_INET, address, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons((uint16_t)port);
    *len = sizeof *v4;
    return 0;
  }
  char plain[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
  size_t n = strlen(address);
  if (n >= sizeof plain) return -1;
  memcpy(plain, address, n + 1);
  char *zone = strchr(plain, '%');
  if (zone) *zone++ = 0;
  if (inet_pton(AF_INET6, plain, &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons((uint16_t)port);
    if (zone) {
      unsigned index = if_nametoindex(zone);
      if (index == 0) {
        char *end;
        unsigned long numeric = strtoul(zone, &end, 10);
        if (*zone == 0 || *end != 0 || numeric == 0 || numeric > UINT32_MAX) return -1;
        index = (unsigned)numeric;
      }
      v6->sin6_scope_id = index;
    }
    *len = sizeof *v6;
    return 0;
  }
  return -1;
}

/* The string argument `v` into `buf`; -1 (with a TypeError thrown) when not a string or too long. */
static int get_string(napi_env env, napi_value v, char *buf, size_t size, const char *what) {
  size_t len;
  if (napi_get_value_string_latin1(env, v, buf, size, &len) != napi_ok || len >= size - 1) {
    napi_throw_type_error(env, NULL, what);
    return -1;
  }
  return 0;
}

static napi_value int_result(napi_env env, int32_t value) {
  napi_value result;
  if (napi_create_int32(env, value, &result) != napi_ok) return NULL;
  return result;
}

/*
 * adopt(engine, fd, targetAddress, targetPort, connectTimeoutMs, header|null)
 *   -> the slot (>= 0), or -errno (EINVAL: the target is not a numeric
 *      address, so the caller relays this connection itself; ENOSPC: no free
 *      slot; EMFILE...: no descriptor). The slot's serial is in the stats
 *      array (STAT_SERIAL) once this returns.
 * The engine owns a duplicate of `fd` afterwards; the caller closes its own.
 */
static napi_value adopt(napi_env env, napi_callback_info info) {
  napi_value argv[6];
  engine_t *e = engine_call(env, info, 6, argv, "splice-relay: adopt(engine, fd, address, port, timeoutMs, header)");
  if (!e) return NULL;
  uint32_t port, timeout_ms;
  int32_t fd;
  char address[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
  if (napi_get_value_int32(env, argv[1], &fd) != napi_ok || fd < 0 || napi_get_value_uint32(env, argv[3], &port) != napi_ok ||
      napi_get_value_uint32(env, argv[4], &timeout_ms) != napi_ok) {
    napi_throw_type_error(env, NULL, "splice-relay: adopt: fd, port and timeout must be non-negative integers");
    return NULL;
  }
  if (get_string(env, argv[2], address, sizeof address, "splice-relay: adopt: address must be a short string") != 0) return NULL;
  struct sockaddr_storage target;
  socklen_t target_len;
  if (parse_target(address, port, &target, &target_len) != 0) return int_result(env, -EINVAL);
  unsigned char *header = NULL;
  size_t header_len = 0;
  napi_valuetype header_type;
  CHECK(napi_typeof(env, argv[5], &header_type));
  if (header_type == napi_object) {
    void *data;
    bool is_buffer = false;
    if (napi_is_buffer(env, argv[5], &is_buffer) != napi_ok || !is_buffer || napi_get_buffer_info(env, argv[5], &data, &header_len) != napi_ok ||
        header_len > HEADER_MAX) {
      napi_throw_type_error(env, NULL, "splice-relay: adopt: header must be a Buffer of at most 232 bytes");
      return NULL;
    }
    header = malloc(header_len ? header_len : 1);
    if (!header) return int_result(env, -ENOMEM);
    memcpy(header, data, header_len);
  }
  uint32_t rr = __atomic_fetch_add(&e->adopt_rr, 1, __ATOMIC_RELAXED);
  worker_t *w = &e->workers[rr % e->nworkers];
  uint32_t slot;
  if (slot_take(w, &slot) != 0) {
    free(header);
    return int_result(env, -ENOSPC);
  }
  conn_t *c = calloc(1, sizeof *c);
  int dup_fd = c ? fcntl(fd, F_DUPFD_CLOEXEC, 0) : -1;
  if (!c || dup_fd < 0) {
    int err = c ? errno : ENOMEM;
    free(c);
    free(header);
    slot_give(w, slot);
    return int_result(env, -err);
  }
  c->fd[SIDE_CLIENT] = dup_fd;
  c->fd[SIDE_UPSTREAM] = -1;
  c->pipe_r[0] = c->pipe_r[1] = c->pipe_w[0] = c->pipe_w[1] = -1;
  c->first_end = -1;
  c->heap_index = -1;
  c->rule = -1;
  c->slot = slot;
  c->serial = __atomic_add_fetch(&e->next_serial, 1, __ATOMIC_RELAXED);
  c->deadline_ms = now_mono_ms() + timeout_ms;
  c->target = target;
  c->target_len = target_len;
  c->header = header;
  c->header_len = (uint16_t)header_len;
  /* Visible to the caller now; the worker writes the same value again when it starts. */
  double *s = e->stats + (size_t)slot * STATS_PER_SLOT;
  s[STAT_FROM_CLIENT_BYTES] = s[STAT_FROM_CLIENT_READS] = s[STAT_TO_CLIENT_BYTES] = s[STAT_TO_CLIENT_READS] = 0;
  s[STAT_SERIAL] = (double)c->serial;
  cmd_t cmd = {.kind = CMD_ADOPT, .slot = slot, .conn = c};
  if (push_cmd(w, &cmd) != 0) {
    free_conn(c);
    slot_give(w, slot);
    return int_result(env, -ENOMEM);
  }
  return int_result(env, (int32_t)slot);
}

/* close(engine, slot, serial, reset): ends that connection; EV_CLOSED (WHY_REQUESTED) follows unless it ended already. */
static napi_value close_conn(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  engine_t *e = engine_call(env, info, 4, argv, "splice-relay: close(engine, slot, serial, reset)");
  if (!e) return NULL;
  uint32_t slot, serial;
  bool reset;
  if (napi_get_value_uint32(env, argv[1], &slot) != napi_ok || napi_get_value_uint32(env, argv[2], &serial) != napi_ok ||
      napi_get_value_bool(env, argv[3], &reset) != napi_ok) {
    napi_throw_type_error(env, NULL, "splice-relay: close(engine, slot, serial, reset)");
    return NULL;
  }
  if (slot >= e->capacity) {
    napi_throw_range_error(env, NULL, "splice-relay: close: slot out of range");
    return NULL;
  }
  cmd_t cmd = {.kind = CMD_CLOSE, .slot = slot, .serial = serial, .mode = reset ? 1 : 0};
  if (push_cmd(worker_of_slot(e, slot), &cmd) != 0) {
    napi_throw_error(env, "ENOMEM", "splice-relay: close: out of memory");
  }
  return NULL;
}

/* takeEvents(engine) -> ArrayBuffer of event records (EVENT_BYTES each), or undefined when none wait. */
static napi_value take_events(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  engine_t *e = engine_call(env, info, 1, argv, "splice-relay: takeEvents(engine)");
  if (!e) return NULL;
  /* Cleared first: a worker that queues after this wakes JavaScript again. */
  __atomic_store_n(&e->events_pending, 0, __ATOMIC_RELEASE);
  size_t total = 0;
  for (uint32_t i = 0; i < e->nworkers; i++) {
    pthread_mutex_lock(&e->workers[i].lock);
    total += e->workers[i].nevents;
    pthread_mutex_unlock(&e->workers[i].lock);
  }
  napi_value result;
  if (total == 0) {
    CHECK(napi_get_undefined(env, &result));
    return result;
  }
  /* Workers may have queued more since the count: take at most what fits, the rest comes next call. */
  void *data;
  CHECK(napi_create_arraybuffer(env, total * EVENT_BYTES, &data, &result));
  size_t at = 0;
  for (uint32_t i = 0; i < e->nworkers && at < total; i++) {
    worker_t *w = &e->workers[i];
    pthread_mutex_lock(&w->lock);
    size_t n = w->nevents < total - at ? w->nevents : total - at;
    /* A worker that never queued has no buffer (events is NULL): memcpy must not see it, even for 0 bytes. */
    if (n > 0) {
      memcpy((char *)data + at * EVENT_BYTES, w->events, n * EVENT_BYTES);
      memmove(w->events, w->events + n, (w->nevents - n) * EVENT_BYTES);
      w->nevents -= n;
    }
    pthread_mutex_unlock(&w->lock);
    at += n;
  }
  if (at < total) {
    napi_value sliced;
    CHECK(napi_create_arraybuffer(env, at * EVENT_BYTES, &data, &sliced));
    void *from;
    size_t ignored;
    CHECK(napi_get_arraybuffer_info(env, result, &from, &ignored));
    memcpy(data, from, at * EVENT_BYTES);
    return sliced;
  }
  return result;
}

/* setActive(engine, active): whether the engine's pending events keep the event loop alive. */
static napi_value set_active(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  engine_t *e = engine_call(env, info, 2, argv, "splice-relay: setActive(engine, boolean)");
  if (!e) return NULL;
  bool active;
  if (napi_get_value_bool(env, argv[1], &active) != napi_ok) {
    napi_throw_type_error(env, NULL, "splice-relay: setActive(engine, boolean)");
    return NULL;
  }
  if (active) CHECK(napi_ref_threadsafe_function(env, e->tsfn));
  else CHECK(napi_unref_threadsafe_function(env, e->tsfn));
  return NULL;
}

/*
 * setDetail(engine, on): sessions are watched: connections accepted from now
 * on send every event (off: they run quietly, see conn_t.quiet), EV_CONNECTED
 * carries the upstream's local address, JavaScript is woken every 1 ms.
 */
static napi_value set_detail(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  engine_t *e = engine_call(env, info, 2, argv, "splice-relay: setDetail(engine, boolean)");
  if (!e) return NULL;
  bool on;
  if (napi_get_value_bool(env, argv[1], &on) != napi_ok) {
    napi_throw_type_error(env, NULL, "splice-relay: setDetail(engine, boolean)");
    return NULL;
  }
  /* Sequentially consistent: a connection published after a reveal that follows this store sees it (see publish). */
  __atomic_store_n(&e->detail, on ? 1 : 0, __ATOMIC_SEQ_CST);
  return NULL;
}

/* A quiet connection reveal() found: what it needs to look at it again, and its listener end. */
typedef struct {
  conn_t *c;
  uint32_t slot, serial;
  int fd;
  int have_local;
  struct sockaddr_storage local;
} hidden_t;

static int serial_cmp(const void *a, const void *b) {
  uint32_t x = ((const hidden_t *)a)->serial, y = ((const hidden_t *)b)->serial;
  return x < y ? -1 : x > y;
}

/*
 * reveal(engine): every connection running quietly (accepted while nobody
 * watched) is reported now as if it had been all along (opened, with its age,
 * then connected and end as they happened), oldest first per worker, and
 * sends its own events from here on. The records wait for takeEvents().
 *
 * Per worker, in three steps so that no system call runs under w->lock
 * (which the worker takes for every accept and close): collect the quiet
 * connections under the lock; ask each client socket its local end without
 * it (a descriptor may close meanwhile, and its number may even be reused:
 * such an answer is dropped below); under the lock again, report each one
 * still in its slot with the same serial (so it never closed: its socket
 * was the one asked) and still quiet.
 */
static napi_value reveal(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  engine_t *e = engine_call(env, info, 1, argv, "splice-relay: reveal(engine)");
  if (!e) return NULL;
  for (uint32_t i = 0; i < e->nworkers; i++) {
    worker_t *w = &e->workers[i];
    /*
     * No connection in any slot: nothing to reveal. One published after this
     * load is as one published after the pass below went by its slot (and,
     * when setDetail came before this reveal, it reveals itself: publish).
     */
    if (__atomic_load_n(&w->live, __ATOMIC_SEQ_CST) == 0) continue;
    pthread_mutex_lock(&w->lock);
    /*
     * One pass that collects every quiet connection it meets: the worker
     * publishes new ones without w->lock, so a count taken first could be
     * used up by a newcomer before an older connection is reached. A
     * connection published after the pass reveals itself (see publish).
     */
    hidden_t *found = NULL;
    size_t k = 0, cap = 0;
    int nomem = 0;
    for (uint32_t slot = w->slot_base; slot < w->slot_base + w->slot_count && !nomem; slot++) {
      conn_t *c = __atomic_load_n(&e->conns[slot], __ATOMIC_SEQ_CST);
      if (!c || !__atomic_load_n(&c->quiet, __ATOMIC_SEQ_CST)) continue;
      if (k == cap) {
        size_t grown_cap = cap ? cap * 2 : 64;
        hidden_t *grown = realloc(found, grown_cap * sizeof *grown);
        if (!grown) {
          nomem = 1;
          break;
        }
        found = grown;
        cap = grown_cap;
      }
      found[k++] = (hidden_t){.c = c, .slot = slot, .serial = c->serial, .fd = c->udp ? -1 : c->fd[SIDE_CLIENT]};
    }
    pthread_mutex_unlock(&w->lock);
    for (size_t j = 0; j < k; j++) {
      socklen_t len = sizeof found[j].local;
      found[j].have_local = found[j].fd >= 0 && getsockname(found[j].fd, (struct sockaddr *)&found[j].local, &len) == 0;
    }
    if (k > 1) qsort(found, k, sizeof *found, serial_cmp);
    pthread_mutex_lock(&w->lock);
    if (nomem || (k && events_reserve(w, 3 * k) != 0)) {
      pthread_mutex_unlock(&w->lock);
      free(found);
      napi_throw_error(env, "ENOMEM", "splice-relay: reveal: out of memory");
      return NULL;
    }
    for (size_t j = 0; j < k; j++) {
      conn_t *c = __atomic_load_n(&e->conns[found[j].slot], __ATOMIC_SEQ_CST);
      if (c != found[j].c || c->serial != found[j].serial || !__atomic_load_n(&c->quiet, __ATOMIC_SEQ_CST)) continue;
      w->nevents += quiet_records(c, found[j].have_local ? &found[j].local : NULL, w->events + w->nevents);
    }
    pthread_mutex_unlock(&w->lock);
    free(found);
  }
  return NULL;
}

/*
 * ruleTakeQuiet(engine, rule) -> [connections, bytes from client, reads from
 * client, bytes to client, reads to client] of the connections that opened
 * and closed quietly under the rule since the last call, or undefined when
 * none did. A released rule still answers while its connections last.
 */
static napi_value rule_take_quiet(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  engine_t *e = engine_call(env, info, 2, argv, "splice-relay: ruleTakeQuiet(engine, rule)");
  if (!e) return NULL;
  uint32_t idx = NONE;
  rule_t *r = napi_get_value_uint32(env, argv[1], &idx) == napi_ok ? rule_at(e, idx) : NULL;
  double counts[5] = {0};
  int alive = 0;
  if (r) {
    pthread_mutex_lock(&r->lock);
    alive = r->refs > 0;
    if (alive) {
      memcpy(counts, r->quiet, sizeof counts);
      memset(r->quiet, 0, sizeof r->quiet);
    }
    pthread_mutex_unlock(&r->lock);
  }
  if (!alive) {
    char msg[80];
    snprintf(msg, sizeof msg, "splice-relay: ruleTakeQuiet: no such rule %u", idx);
    napi_throw_range_error(env, NULL, msg);
    return NULL;
  }
  napi_value result;
  if (counts[QUIET_CLOSED] == 0) {
    CHECK(napi_get_undefined(env, &result));
    return result;
  }
  CHECK(napi_create_array_with_length(env, 5, &result));
  for (uint32_t i = 0; i < 5; i++) {
    napi_value v;
    CHECK(napi_create_double(env, counts[i], &v));
    CHECK(napi_set_element(env, result, i, v));
  }
  return result;
}

/*
 * upstreamLocal(engine, slot, serial) -> [address, port] of the connection's
 * upstream socket, or undefined when that connection is not connected (yet,
 * or any more). Looks under the worker's lock, which finish() closes under.
 */
static napi_value upstream_local(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  engine_t *e = engine_call(env, info, 3, argv, "splice-relay: upstreamLocal(engine, slot, serial)");
  if (!e) return NULL;
  uint32_t slot, serial;
  if (napi_get_value_uint32(env, argv[1], &slot) != napi_ok || napi_get_value_uint32(env, argv[2], &serial) != napi_ok) {
    napi_throw_type_error(env, NULL, "splice-relay: upstreamLocal: slot and serial must be non-negative integers");
    return NULL;
  }
  if (slot >= e->capacity) {
    napi_throw_range_error(env, NULL, "splice-relay: upstreamLocal: slot out of range");
    return NULL;
  }
  worker_t *w = worker_of_slot(e, slot);
  struct sockaddr_storage local;
  socklen_t len = sizeof local;
  int found = 0;
  pthread_mutex_lock(&w->lock);
  conn_t *c = __atomic_load_n(&e->conns[slot], __ATOMIC_ACQUIRE);
  if (c && c->serial == serial && __atomic_load_n(&c->connected, __ATOMIC_ACQUIRE)) {
    int fd = __atomic_load_n(&c->fd[SIDE_UPSTREAM], __ATOMIC_ACQUIRE);
    found = fd >= 0 && getsockname(fd, (struct sockaddr *)&local, &len) == 0;
  }
  pthread_mutex_unlock(&w->lock);
  napi_value result, address, port;
  if (!found) {
    CHECK(napi_get_undefined(env, &result));
    return result;
  }
  char text[48];
  uint16_t p;
  uint8_t n = address_text(&local, text, &p);
  CHECK(napi_create_string_latin1(env, text, n, &address));
  CHECK(napi_create_uint32(env, p, &port));
  CHECK(napi_create_array_with_length(env, 2, &result));
  CHECK(napi_set_element(env, result, 0, address));
  CHECK(napi_set_element(env, result, 1, port));
  return result;
}

/* ---- listeners from JavaScript ---- */

static listener_t *listener_arg(napi_env env, engine_t *e, napi_value v, uint32_t *lid_out) {
  uint32_t lid;
  listener_t *l = NULL;
  if (napi_get_value_uint32(env, v, &lid) == napi_ok) l = listener_at(e, lid);
  if (!l || !l->open) {
    napi_throw_range_error(env, NULL, "splice-relay: no such listener");
    return NULL;
  }
  *lid_out = lid;
  return l;
}

/*
 * listenerOpen(engine, address, port, ipv6Only, udp) -> listener id (>= 0),
 * or -errno from socket/bind/listen. TCP binds as Node's net.Server does
 * (SO_REUSEADDR, backlog 511, IPV6_V6ONLY as asked), UDP as dgram with
 * exclusive: true (no SO_REUSEADDR); accepting (reading) starts with the
 * listener's first route (listenerRoutes).
 */
static napi_value listener_open(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  engine_t *e = engine_call(env, info, 5, argv, "splice-relay: listenerOpen(engine, address, port, ipv6Only, udp)");
  if (!e) return NULL;
  char address[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
  uint32_t port;
  bool v6only, udp;
  if (get_string(env, argv[1], address, sizeof address, "splice-relay: listenerOpen: address must be a short string") != 0) return NULL;
  if (napi_get_value_uint32(env, argv[2], &port) != napi_ok || port > 65535 || napi_get_value_bool(env, argv[3], &v6only) != napi_ok ||
      napi_get_value_bool(env, argv[4], &udp) != napi_ok) {
    napi_throw_type_error(env, NULL, "splice-relay: listenerOpen: port must be 0-65535, ipv6Only and udp booleans");
    return NULL;
  }
  struct sockaddr_storage sa;
  socklen_t sa_len;
  if (parse_target(address, port, &sa, &sa_len) != 0) return int_result(env, -EINVAL);
  int fd = socket(sa.ss_family, (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return int_result(env, -errno);
  int one = 1, v6 = v6only ? 1 : 0;
  if (!udp) {
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    /* Inherited by every accepted socket (one setsockopt per port, not per connection): small replies go out at once. */
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  if (sa.ss_family == AF_INET6) (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6, sizeof v6);
  if (bind(fd, (struct sockaddr *)&sa, sa_len) != 0 || (!udp && listen(fd, 511) != 0)) {
    int err = errno;
    close(fd);
    return int_result(env, -err);
  }
  uint32_t lid = e->lfree;
  listener_t *l = lid != NONE ? listener_at(e, lid) : NULL;
  if (l) {
    e->lfree = l->next_free;
  } else {
    lid = e->nlisteners;
    if (lid >= (uint32_t)MAX_CHUNKS * CHUNK) {
      close(fd);
      return int_result(env, -ENOSPC);
    }
    if (!e->lchunks[lid / CHUNK]) {
      listener_t *chunk = zalloc_lines(CHUNK, sizeof *chunk);
      if (!chunk) {
        close(fd);
        return int_result(env, -ENOMEM);
      }
      for (uint32_t i = 0; i < CHUNK; i++) pthread_rwlock_init(&chunk[i].lock, NULL);
      __atomic_store_n(&e->lchunks[lid / CHUNK], chunk, __ATOMIC_RELEASE);
    }
    e->nlisteners++;
    l = listener_at(e, lid);
  }
  pthread_rwlock_wrlock(&l->lock);
  l->fd = fd;
  l->gen++;
  l->open = 1;
  l->accepting = 0;
  l->rule = -1;
  l->udp = udp;
  l->owner = lid % e->nworkers;
  /* Only port 0 needs the kernel's answer: a restore re-opens 10,000 listeners, one system call fewer each. */
  struct sockaddr_storage bound = sa;
  socklen_t bound_len = sizeof bound;
  if (port == 0 && getsockname(fd, (struct sockaddr *)&bound, &bound_len) != 0) bound = sa;
  address_text(&bound, l->local, &l->local_port);
  l->wildcard = (sa.ss_family == AF_INET && ((struct sockaddr_in *)&sa)->sin_addr.s_addr == htonl(INADDR_ANY)) ||
                (sa.ss_family == AF_INET6 && IN6_IS_ADDR_UNSPECIFIED(&((struct sockaddr_in6 *)&sa)->sin6_addr));
  pthread_rwlock_unlock(&l->lock);
  return int_result(env, (int32_t)lid);
}

/* listenerFd(engine, lid) -> the listening socket's descriptor. */
static napi_value listener_fd(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  engine_t *e = engine_call(env, info, 2, argv, "splice-relay: listenerFd(engine, listener)");
  if (!e) return NULL;
  uint32_t lid;
  listener_t *l = listener_arg(env, e, argv[1], &lid);
  return l ? int_result(env, l->fd) : NULL;
}

/* One route of a listenerRoutes() batch, checked and parsed before any listener changes. */
typedef struct {
  listener_t *l;
  uint32_t lid, rule, port, seq;
  int einval; /* the target is no numeric address: reported for this route, nothing changes for it */
  struct sockaddr_storage target;
  socklen_t target_len;
} route_arg_t;

#define ROUTE_WORDS 4 /* lid, rule, port, seq per route in listenerRoutes' Uint32Array */

/* Points listener `a->l` at its new route, and starts it accepting on its first; 0 or an errno from epoll_ctl. */
static int route_listener(engine_t *e, const route_arg_t *a) {
  listener_t *l = a->l;
  pthread_rwlock_wrlock(&l->lock);
  l->rule = (int)a->rule;
  l->route_seq = a->seq;
  l->target = a->target;
  l->target_len = a->target_len;
  int err = 0;
  if (!l->accepting) {
    /* TCP: every worker accepts, one woken per connection. UDP: one worker reads, so a flow's datagrams stay in order and its table needs no lock. */
    struct epoll_event ev = {.events = l->udp ? EPOLLIN : EPOLLIN | EPOLLEXCLUSIVE};
    ev.data.u64 = LISTENER_BIT | ((uint64_t)(l->gen & 0x3fffffff) << 32) | a->lid;
    uint32_t first = l->udp ? l->owner : 0, end = l->udp ? l->owner + 1 : e->nworkers, added = first;
    for (; added < end; added++) {
      if (epoll_ctl(e->workers[added].epfd, EPOLL_CTL_ADD, l->fd, &ev) != 0) {
        err = errno;
        break;
      }
    }
    if (err) {
      for (uint32_t i = first; i < added; i++) epoll_ctl(e->workers[i].epfd, EPOLL_CTL_DEL, l->fd, NULL);
    } else {
      l->accepting = 1;
    }
  }
  pthread_rwlock_unlock(&l->lock);
  return err;
}

/*
 * listenerRoutes(engine, routes, addresses) -> Int32Array, per route 0 or
 * -errno (-EINVAL: the target is no numeric address; an epoll_ctl errno: the
 * listener could not start accepting). `routes` is a Uint32Array of lid,
 * rule index, target port and seq per route; `addresses` the target address
 * of each. Where each listener's new connections go from now on, admitted by
 * the rule; events of connections accepted under a route carry its `seq`. A
 * listener's first route starts it accepting. One call per apply, however
 * many listeners it routes. Every value is checked before any listener
 * changes: a bad one throws and changes nothing. When this returns, every
 * event of an earlier route of each listener is queued.
 */
static napi_value listener_routes(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  engine_t *e = engine_call(env, info, 3, argv, "splice-relay: listenerRoutes(engine, routes, addresses)");
  if (!e) return NULL;
  bool is_typed = false, is_array = false;
  napi_typedarray_type type;
  size_t words = 0;
  void *data = NULL;
  uint32_t naddresses = 0;
  if (napi_is_typedarray(env, argv[1], &is_typed) != napi_ok || !is_typed ||
      napi_get_typedarray_info(env, argv[1], &type, &words, &data, NULL, NULL) != napi_ok || type != napi_uint32_array ||
      words % ROUTE_WORDS != 0 || napi_is_array(env, argv[2], &is_array) != napi_ok || !is_array ||
      napi_get_array_length(env, argv[2], &naddresses) != napi_ok || naddresses != words / ROUTE_WORDS) {
    napi_throw_type_error(env, NULL, "splice-relay: listenerRoutes: routes must be a Uint32Array of [lid, rule, port, seq] per route, addresses an array of one string per route");
    return NULL;
  }
  size_t n = words / ROUTE_WORDS;
  /* The result first: once listeners change, nothing may fail. */
  void *out_data = NULL;
  napi_value out_buffer, result;
  CHECK(napi_create_arraybuffer(env, n * sizeof(int32_t), &out_data, &out_buffer));
  CHECK(napi_create_typedarray(env, napi_int32_array, n, out_buffer, 0, &result));
  if (n == 0) return result;
  route_arg_t *args = malloc(n * sizeof *args);
  if (!args) {
    napi_throw_error(env, "ENOMEM", "splice-relay: listenerRoutes: out of memory");
    return NULL;
  }
  /* The numbers are copied before any address is read: reading an array element may run JavaScript, which could change the Uint32Array. */
  const uint32_t *words_in = data;
  for (size_t i = 0; i < n; i++) {
    const uint32_t *w = words_in + i * ROUTE_WORDS;
    args[i] = (route_arg_t){.lid = w[0], .rule = w[1], .port = w[2], .seq = w[3]};
  }
  char msg[128];
  for (size_t i = 0; i < n; i++) {
    route_arg_t *a = &args[i];
    a->l = listener_at(e, a->lid);
    if (!a->l || !a->l->open) {
      snprintf(msg, sizeof msg, "splice-relay: listenerRoutes: no such listener %u (route %zu)", a->lid, i);
      goto range_error;
    }
    rule_t *r = rule_at(e, a->rule);
    if (!r || r->refs == 0 || r->released) {
      snprintf(msg, sizeof msg, "splice-relay: listenerRoutes: no such rule %u (route %zu, released)", a->rule, i);
      goto range_error;
    }
    napi_value v;
    char address[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
    if (napi_get_element(env, argv[2], (uint32_t)i, &v) != napi_ok ||
        get_string(env, v, address, sizeof address, "splice-relay: listenerRoutes: each address must be a short string") != 0) {
      free(args);
      return NULL;
    }
    a->einval = parse_target(address, a->port, &a->target, &a->target_len) != 0;
  }
  int32_t *out = out_data;
  for (size_t i = 0; i < n; i++) out[i] = args[i].einval ? -EINVAL : -route_listener(e, &args[i]);
  free(args);
  return result;
range_error:
  free(args);
  napi_throw_range_error(env, NULL, msg);
  return NULL;
}

/*
 * listenerClose(engine, lid): stops accepting and closes the socket before
 * returning (the address can be bound again at once). Connections it
 * accepted go on. Every event of the listener is queued when this returns,
 * so one takeEvents() afterwards sees them all.
 */
static napi_value listener_close(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  engine_t *e = engine_call(env, info, 2, argv, "splice-relay: listenerClose(engine, listener)");
  if (!e) return NULL;
  uint32_t lid;
  listener_t *l = listener_arg(env, e, argv[1], &lid);
  if (!l) return NULL;
  pthread_rwlock_wrlock(&l->lock);
  if (l->accepting) {
    for (uint32_t i = l->udp ? l->owner : 0; i < (l->udp ? l->owner + 1 : e->nworkers); i++) epoll_ctl(e->workers[i].epfd, EPOLL_CTL_DEL, l->fd, NULL);
  }
  close(l->fd);
  l->fd = -1;
  l->open = 0;
  l->accepting = 0;
  l->rule = -1;
  l->gen++;
  l->next_free = e->lfree;
  e->lfree = lid;
  pthread_rwlock_unlock(&l->lock);
  return NULL;
}

/* ---- rules from JavaScript ---- */

/* ruleCreate(engine) -> rule index; ruleSet() gives it its policy before a listener uses it. */
static napi_value rule_create(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  engine_t *e = engine_call(env, info, 1, argv, "splice-relay: ruleCreate(engine)");
  if (!e) return NULL;
  pthread_mutex_lock(&e->rules_lock);
  uint32_t idx = e->rfree;
  rule_t *r = idx != NONE ? rule_at(e, idx) : NULL;
  if (r) {
    e->rfree = r->next_free;
  } else {
    idx = e->nrules;
    if (idx >= (uint32_t)MAX_CHUNKS * CHUNK) {
      pthread_mutex_unlock(&e->rules_lock);
      napi_throw_range_error(env, "ENOSPC", "splice-relay: too many rules");
      return NULL;
    }
    if (!e->rchunks[idx / CHUNK]) {
      rule_t *chunk = zalloc_lines(CHUNK, sizeof *chunk);
      if (!chunk) {
        pthread_mutex_unlock(&e->rules_lock);
        napi_throw_error(env, "ENOMEM", "splice-relay: out of memory");
        return NULL;
      }
      for (uint32_t i = 0; i < CHUNK; i++) pthread_mutex_init(&chunk[i].lock, NULL);
      __atomic_store_n(&e->rchunks[idx / CHUNK], chunk, __ATOMIC_RELEASE);
    }
    e->nrules++;
    r = rule_at(e, idx);
  }
  pthread_mutex_unlock(&e->rules_lock);
  pthread_mutex_lock(&r->lock);
  r->refs = 1;
  r->released = 0;
  r->active = 0;
  r->udp_flows = 0;
  memset(r->quiet, 0, sizeof r->quiet);
  r->configured = 0;
  r->max_sessions = r->rate = r->burst = r->src_rate = r->src_burst = 0;
  r->tokens = 0;
  r->last = now_mono_fine();
  pthread_mutex_unlock(&r->lock);
  return int_result(env, (int32_t)idx);
}

static rule_t *rule_arg(napi_env env, engine_t *e, napi_value v, uint32_t *idx_out) {
  uint32_t idx = NONE;
  rule_t *r = NULL;
  if (napi_get_value_uint32(env, v, &idx) == napi_ok) r = rule_at(e, idx);
  if (!r || r->refs == 0 || r->released) {
    char msg[96];
    snprintf(msg, sizeof msg, "splice-relay: no such rule %u (%s)", idx, !r ? "never created" : r->released ? "released" : "freed");
    napi_throw_range_error(env, NULL, msg);
    return NULL;
  }
  *idx_out = idx;
  return r;
}

/* A packed CIDR list (CIDR_BYTES each) into a fresh array; -1 with an error thrown when malformed. */
static int cidrs_arg(napi_env env, napi_value v, cidr_t **out, uint32_t *n) {
  void *data;
  size_t len;
  bool is_buffer = false;
  *out = NULL;
  *n = 0;
  if (napi_is_buffer(env, v, &is_buffer) != napi_ok || !is_buffer || napi_get_buffer_info(env, v, &data, &len) != napi_ok ||
      len % CIDR_BYTES != 0) {
    napi_throw_type_error(env, NULL, "splice-relay: ruleSet: a CIDR list is a Buffer of 18-byte entries");
    return -1;
  }
  uint32_t count = (uint32_t)(len / CIDR_BYTES);
  if (count == 0) return 0;
  cidr_t *list = malloc(count * sizeof *list);
  if (!list) {
    napi_throw_error(env, "ENOMEM", "splice-relay: out of memory");
    return -1;
  }
  const uint8_t *p = data;
  for (uint32_t i = 0; i < count; i++, p += CIDR_BYTES) {
    if ((p[0] != 4 && p[0] != 6) || p[1] > (p[0] == 4 ? 32 : 128)) {
      free(list);
      napi_throw_range_error(env, NULL, "splice-relay: ruleSet: CIDR entry with a bad family or prefix length");
      return -1;
    }
    list[i].family = p[0];
    list[i].bits = p[1];
    memcpy(list[i].addr, p + 2, 16);
  }
  *out = list;
  *n = count;
  return 0;
}

/*
 * ruleSet(engine, idx, maxSessions, sessionRate, sessionBurst, sourceRate, sourceBurst, allow, deny, connectTimeoutMs, proxy 0|1|2,
 *         maxUdpFlows, udpIdleTimeoutMs):
 * the rule's policy from now on (RuleAdmission.update): its buckets restart
 * only when their limits change; session counts stay.
 */
static napi_value rule_set(napi_env env, napi_callback_info info) {
  napi_value argv[13];
  engine_t *e = engine_call(env, info, 13, argv, "splice-relay: ruleSet(engine, idx, maxSessions, rate, burst, sourceRate, sourceBurst, allow, deny, timeoutMs, proxy, "
                            "maxUdpFlows, udpIdleTimeoutMs)");
  if (!e) return NULL;
  uint32_t idx;
  rule_t *r = rule_arg(env, e, argv[1], &idx);
  if (!r) return NULL;
  double v[5];
  for (int i = 0; i < 5; i++) {
    if (napi_get_value_double(env, argv[2 + i], &v[i]) != napi_ok || !(v[i] >= 0)) {
      napi_throw_range_error(env, NULL, "splice-relay: ruleSet: limits must be non-negative numbers");
      return NULL;
    }
  }
  uint32_t timeout_ms, proxy, udp_idle_ms;
  double max_udp;
  if (napi_get_value_uint32(env, argv[9], &timeout_ms) != napi_ok || napi_get_value_uint32(env, argv[10], &proxy) != napi_ok || proxy > 2 ||
      napi_get_value_double(env, argv[11], &max_udp) != napi_ok || !(max_udp >= 0) || napi_get_value_uint32(env, argv[12], &udp_idle_ms) != napi_ok) {
    napi_throw_range_error(env, NULL, "splice-relay: ruleSet: timeouts must be non-negative integers, proxy 0-2, maxUdpFlows a non-negative number");
    return NULL;
  }
  cidr_t *allow, *deny;
  uint32_t nallow, ndeny;
  if (cidrs_arg(env, argv[7], &allow, &nallow) != 0) return NULL;
  if (cidrs_arg(env, argv[8], &deny, &ndeny) != 0) {
    free(allow);
    return NULL;
  }
  double now = now_mono_fine();
  pthread_mutex_lock(&r->lock);
  if (!r->configured || r->rate != v[1] || r->burst != v[2]) {
    r->tokens = v[2];
    r->last = now;
  }
  if (!r->configured || r->src_rate != v[3] || r->src_burst != v[4]) sources_free(&r->sources);
  r->configured = 1;
  r->timeout_ms = timeout_ms;
  r->proxy = (uint8_t)proxy;
  r->max_udp = max_udp;
  r->udp_idle_ms = udp_idle_ms;
  r->max_sessions = v[0];
  r->rate = v[1];
  r->burst = v[2];
  r->src_rate = v[3];
  r->src_burst = v[4];
  free(r->allow);
  free(r->deny);
  r->allow = allow;
  r->nallow = nallow;
  r->deny = deny;
  r->ndeny = ndeny;
  pthread_mutex_unlock(&r->lock);
  return NULL;
}

/* ruleRelease(engine, idx): JavaScript is done with the rule; it goes when its last connection closes. */
static napi_value rule_release(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  engine_t *e = engine_call(env, info, 2, argv, "splice-relay: ruleRelease(engine, rule)");
  if (!e) return NULL;
  uint32_t idx;
  rule_t *r = rule_arg(env, e, argv[1], &idx);
  if (!r) return NULL;
  pthread_mutex_lock(&r->lock);
  r->released = 1;
  pthread_mutex_unlock(&r->lock);
  rule_unref(e, idx);
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"create", NULL, create, NULL, NULL, NULL, napi_default, NULL},
      {"adopt", NULL, adopt, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, close_conn, NULL, NULL, NULL, napi_default, NULL},
      {"takeEvents", NULL, take_events, NULL, NULL, NULL, napi_default, NULL},
      {"setActive", NULL, set_active, NULL, NULL, NULL, napi_default, NULL},
      {"setDetail", NULL, set_detail, NULL, NULL, NULL, napi_default, NULL},
      {"upstreamLocal", NULL, upstream_local, NULL, NULL, NULL, napi_default, NULL},
      {"reveal", NULL, reveal, NULL, NULL, NULL, napi_default, NULL},
      {"ruleTakeQuiet", NULL, rule_take_quiet, NULL, NULL, NULL, napi_default, NULL},
      {"listenerOpen", NULL, listener_open, NULL, NULL, NULL, napi_default, NULL},
      {"listenerFd", NULL, listener_fd, NULL, NULL, NULL, napi_default, NULL},
      {"listenerRoutes", NULL, listener_routes, NULL, NULL, NULL, napi_default, NULL},
      {"listenerClose", NULL, listener_close, NULL, NULL, NULL, napi_default, NULL},
      {"ruleCreate", NULL, rule_create, NULL, NULL, NULL, napi_default, NULL},
      {"ruleSet", NULL, rule_set, NULL, NULL, NULL, napi_default, NULL},
      {"ruleRelease", NULL, rule_release, NULL, NULL, NULL, napi_default, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
