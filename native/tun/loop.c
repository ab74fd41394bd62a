/*
 * The native packet loop: one thread per TUN queue reads packets in batches
 * (with their virtio-net header when the device has offloads), runs the
 * established-flow fast path (fastpath.c) and writes the rewritten packets
 * back, off the JavaScript thread. What the fast path leaves (first packets,
 * SYN/FIN/RST, flows not established) is copied into one of a few batch
 * buffers JavaScript owns and handed over in one call per batch; the engine
 * decides, writes those packets itself and installs its decision in the
 * table, so a flow's later packets stay in C. A slow packet that finds every
 * batch still with JavaScript is dropped and counted, never lost silently.
 *
 * JavaScript's side: src/dataplane/userspace/ports/tun-port.ts openNative().
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>
#include <node_api.h>

#include "coalesce.h"
#include "fastpath.h"
#include "loop.h"
#include "uring.h"

/* Packets read per round; one virtio-net header plus the largest IP packet each. */
#define RX_BATCH 32
#define VNET_HDR_LEN ((size_t)sizeof(struct virtio_net_hdr))
#define RX_SIZE (65536 + 64)
#define MAX_BATCHES 64
/* Batches with JavaScript before the loop holds slow packets back (see flush_slow). */
#define MAX_OUTSTANDING 2
/*
 * How long state-change events may wait in a batch that holds no packet:
 * they only feed session deltas (the state itself is in the shared record
 * already), so they ride along with the next slow packet's hand-over
 * instead of waking JavaScript for each of a short connection's four
 * changes (SYN-ACK, ACK, FIN, FIN).
 */
#define EVENT_DELAY_MS 10

/* startLoop flags. */
#define LOOP_VNET_HEADER 1
#define LOOP_COALESCE_UDP 2
#define LOOP_COALESCE_TCP 4
/* Read through io_uring where the kernel can (uring.h); else, or without the flag, poll and read. */
#define LOOP_URING 8

/*
 * io_uring read buffers per loop: a round's packets stay out until its
 * writes are done (with the next wait), the next round's up to RX_BATCH
 * more, while the kernel fills the rest.
 */
#define URING_BUFFERS 128
/*
 * Super-packets one round may have in flight (a merge takes two packets or
 * more), and one more for plain write(): a round that writes that way may
 * find the previous round's ring writes still reading theirs.
 */
#define GRO_BUFFERS (RX_BATCH / 2 + 1)
#define GRO_FOR_WRITE (GRO_BUFFERS - 1)
_Static_assert(RX_BATCH <= UR_MAX_WRITES, "a round's writes must fit one submission");

/* Counter indexes of loopStats(). */
enum { ST_READ, ST_FAST, ST_SLOW, ST_SLOW_OVERFLOW, ST_WRITE_ERRORS, ST_READ_ERRORS, ST_ROUNDS, ST_WRITES, ST_EVENTS_LOST, ST_URING, ST_COUNT };

/* A batch entry whose length word has this bit is a state change of the slot that follows, not a packet. */
#define ENTRY_STATE_EVENT 0x80000000u

typedef struct {
  fp_table_t table;
  napi_env env;
} table_handle_t;

typedef struct {
  table_handle_t *table;
  napi_ref table_ref;
  int fd;
  int vnet;
  /* COALESCE_UDP / COALESCE_TCP: what the device takes back as super-packets. */
  int coalesce;
  int uring;
  /* Written to stop the thread (with `stopping`) or to wake it when JavaScript released a batch. */
  int stop_fd;
  pthread_t thread;
  int thread_started;
  int stopped;
  size_t batch_count;
  uint8_t *batches[MAX_BATCHES];
  size_t batch_size;
  napi_ref batch_refs[MAX_BATCHES];
  /* [0, n): 1 while JavaScript holds batch i; [n, 2n): packets in batch i; [2n]: 1 when the loop waits for a release. */
  int32_t *ctl;
  napi_ref ctl_ref;
  size_t cur;
  /* Whether `cur` is being filled by C (it was free when claimed). */
  int cur_taken;
  size_t fill;
  int32_t filled;
  /* Of `filled`, the packets (the rest are state events), and when the batch's first event came (CLOCK_MONOTONIC, ms). */
  int32_t packets;
  int64_t events_since_ms;
  /* flush_slow held the batch back because JavaScript has enough of them: it wakes the loop (wakeLoop) when it releases one. */
  int held;
  int stopping;
  napi_threadsafe_function tsfn;
  uint64_t stats[ST_COUNT];
  /* Read buffers of the poll-and-read path; the round's packets (in those, or in io_uring's buffers, ids in `bid`). */
  uint8_t *rx[RX_BATCH];
  uint8_t *pkt[RX_BATCH];
  size_t rx_len[RX_BATCH];
  uint16_t bid[RX_BATCH];
  uint8_t verdict[RX_BATCH];
  /* The slot whose state a packet changed (verdict FP_FORWARD_CHANGED). */
  uint32_t changed[RX_BATCH];
  /* The round's forwarded packets, in order, and the buffers coalesced super-packets are built in. */
  uint8_t *out[RX_BATCH];
  size_t out_len[RX_BATCH];
  uint8_t *gro[GRO_BUFFERS];
  /* io_uring buffers of the round whose writes are in flight: recycled once they are done. */
  uint16_t held_bids[RX_BATCH];
  size_t held_count;
} loop_t;

#define CHECK(call)                                                   \
  do {                                                                \
    if ((call) != napi_ok) {                                          \
      napi_throw_error(env, NULL, "tun: N-API call failed: " #call); \
      return NULL;                                                    \
    }                                                                 \
  } while (0)

static void table_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  table_handle_t *h = data;
  pthread_mutex_destroy(&h->table.lock);
  free(h->table.chunks);
  free(h);
}

/* createTable(baseMs) -> handle: the fast path's view of the session table, filled by setRows()/setChunk(). */
static napi_value create_table(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  double base;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || napi_get_value_double(env, argv[0], &base) != napi_ok || !(base >= 0)) {
    napi_throw_type_error(env, NULL, "tun: createTable(baseMs)");
    return NULL;
  }
  table_handle_t *h = calloc(1, sizeof *h);
  if (!h) {
    napi_throw_error(env, "ENOMEM", "tun: createTable: out of memory");
    return NULL;
  }
  if (pthread_mutex_init(&h->table.lock, NULL) != 0) {
    free(h);
    napi_throw_error(env, NULL, "tun: createTable: pthread_mutex_init failed");
    return NULL;
  }
  h->table.base_ms = base;
  h->env = env;
  napi_value handle;
  if (napi_create_external(env, h, table_finalize, NULL, &handle) != napi_ok) {
    table_finalize(env, h, NULL);
    napi_throw_error(env, NULL, "tun: createTable: napi_create_external failed");
    return NULL;
  }
  return handle;
}

static table_handle_t *table_arg(napi_env env, napi_value v) {
  void *data = NULL;
  if (napi_get_value_external(env, v, &data) != napi_ok) return NULL;
  return data;
}

/* The typed array's bytes, if it is an Int32Array/Uint32Array of at least `min_words` words. */
static void *words_arg(napi_env env, napi_value v, size_t *words) {
  napi_typedarray_type type;
  size_t length;
  void *data;
  if (napi_get_typedarray_info(env, v, &type, &length, &data, NULL, NULL) != napi_ok) return NULL;
  if (type != napi_int32_array && type != napi_uint32_array) return NULL;
  *words = length;
  return data;
}

/*
 * setRows(table, rows): the flow table's rows (Int32Array, a power of two
 * times 11 words). Waits for a running batch to finish, so the previous rows
 * are unused once this returns. JavaScript keeps `rows` alive while installed.
 */
static napi_value set_rows(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  size_t words = 0;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  table_handle_t *h = argc >= 2 ? table_arg(env, argv[0]) : NULL;
  int32_t *rows = h ? words_arg(env, argv[1], &words) : NULL;
  size_t count = words / FP_ROW;
  if (!h || !rows || words % FP_ROW != 0 || count == 0 || (count & (count - 1)) != 0 || count > 0x80000000u) {
    napi_throw_type_error(env, NULL, "tun: setRows(table, Int32Array of 2^n rows of 11 words)");
    return NULL;
  }
  pthread_mutex_lock(&h->table.lock);
  h->table.rows = rows;
  h->table.mask = (uint32_t)(count - 1);
  pthread_mutex_unlock(&h->table.lock);
  return NULL;
}

/* setChunk(table, index, records): slot records [index * 4096, (index + 1) * 4096) (Uint32Array of 4096 * 32 words). */
static napi_value set_chunk(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  size_t words = 0;
  uint32_t index;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  table_handle_t *h = argc >= 3 ? table_arg(env, argv[0]) : NULL;
  uint32_t *records = h && napi_get_value_uint32(env, argv[1], &index) == napi_ok ? words_arg(env, argv[2], &words) : NULL;
  /* 2^20 chunks is 4G slots: far past any session cap, and keeps the pointer array's size in range. */
  if (!h || !records || words != (size_t)FP_CHUNK_SLOTS * FP_RECORD_WORDS || index >= (1u << 20)) {
    napi_throw_type_error(env, NULL, "tun: setChunk(table, index < 2^20, Uint32Array of 4096 * 32 words)");
    return NULL;
  }
  pthread_mutex_lock(&h->table.lock);
  if (index >= h->table.chunk_count) {
    size_t count = h->table.chunk_count ? h->table.chunk_count : 16;
    while (count <= index) count *= 2;
    uint32_t **chunks = realloc(h->table.chunks, count * sizeof *chunks);
    if (!chunks) {
      pthread_mutex_unlock(&h->table.lock);
      napi_throw_error(env, "ENOMEM", "tun: setChunk: out of memory");
      return NULL;
    }
    memset(chunks + h->table.chunk_count, 0, (count - h->table.chunk_count) * sizeof *chunks);
    h->table.chunks = chunks;
    h->table.chunk_count = count;
  }
  h->table.chunks[index] = records;
  pthread_mutex_unlock(&h->table.lock);
  return NULL;
}

/*
 * process(table, buffer, length, nowRel) -> 0 (forwarded: rewritten in place),
 * 1 (for the engine), or 2 + slot (forwarded; that session's state changed): the fast path for packets JavaScript holds (memory
 * and pcap ports), so every port runs the same code. `nowRel`: the backend's
 * clock, in milliseconds after the table's base, for last-seen times.
 */
static napi_value process_packet(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  void *data;
  size_t size;
  uint32_t length, now_rel;
  napi_typedarray_type type;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  table_handle_t *h = argc >= 4 ? table_arg(env, argv[0]) : NULL;
  if (!h || napi_get_typedarray_info(env, argv[1], &type, &size, &data, NULL, NULL) != napi_ok || type != napi_uint8_array ||
      napi_get_value_uint32(env, argv[2], &length) != napi_ok || length > size || napi_get_value_uint32(env, argv[3], &now_rel) != napi_ok) {
    napi_throw_type_error(env, NULL, "tun: process(table, Uint8Array, length <= its size, nowRel)");
    return NULL;
  }
  pthread_mutex_lock(&h->table.lock);
  uint32_t slot = 0;
  int verdict = fp_process(&h->table, data, length, NULL, now_rel, &slot);
  pthread_mutex_unlock(&h->table.lock);
  napi_value result;
  CHECK(napi_create_double(env, verdict == FP_FORWARD_CHANGED ? 2.0 + slot : (double)verdict, &result));
  return result;
}

/* Batches JavaScript has been handed and not yet released. */
static size_t outstanding(const loop_t *l) {
  size_t n = 0;
  for (size_t i = 0; i < l->batch_count; i++) n += __atomic_load_n(&l->ctl[i], __ATOMIC_ACQUIRE) != 0;
  return n;
}

static void hand_over(loop_t *l) {
  __atomic_store_n(&l->ctl[l->batch_count + l->cur], l->filled, __ATOMIC_RELEASE);
  __atomic_store_n(&l->ctl[l->cur], 1, __ATOMIC_RELEASE);
  if (napi_call_threadsafe_function(l->tsfn, (void *)(uintptr_t)(l->cur + 1), napi_tsfn_nonblocking) != napi_ok) {
    /* The function is closing (stopLoop): nobody will release the batch; its packets are dropped. */
    __atomic_fetch_add(&l->stats[ST_SLOW_OVERFLOW], (uint64_t)l->filled, __ATOMIC_RELAXED);
  }
  l->fill = 0;
  l->filled = 0;
  l->packets = 0;
  l->held = 0;
  l->cur_taken = 0;
}

/* Makes `cur` a batch C may fill: the current one if it is C's, else any JavaScript has released. */
static int claim(loop_t *l) {
  if (l->cur_taken) return 1;
  for (size_t k = 0; k < l->batch_count; k++) {
    size_t i = (l->cur + k) % l->batch_count;
    if (__atomic_load_n(&l->ctl[i], __ATOMIC_ACQUIRE) == 0) {
      l->cur = i;
      l->cur_taken = 1;
      l->fill = 0;
      l->filled = 0;
      l->packets = 0;
      return 1;
    }
  }
  return 0;
}

/* Copies a slow packet (header included) into the batch being filled; 0 when no batch is free. */
static int enqueue_slow(loop_t *l, const uint8_t *pkt, size_t len) {
  size_t need = (8 + len + 7) & ~(size_t)7;
  if (!claim(l)) return 0;
  if (l->fill + need > l->batch_size) {
    /* Full: hand it over and go on in another (every batch holds the largest packet). */
    hand_over(l);
    if (!claim(l)) return 0;
  }
  uint8_t *at = l->batches[l->cur] + l->fill;
  uint32_t entry = (uint32_t)need, plen = (uint32_t)len;
  memcpy(at, &entry, 4);
  memcpy(at + 4, &plen, 4);
  memcpy(at + 8, pkt, len);
  l->fill += need;
  l->filled++;
  l->packets++;
  return 1;
}

static int64_t monotonic_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Tells JavaScript that the session in `slot` changed state (an entry of 16 bytes); counted when no batch is free. */
static void enqueue_event(loop_t *l, uint32_t slot) {
  if (!claim(l) || (l->fill + 16 > l->batch_size && (hand_over(l), !claim(l)))) {
    __atomic_fetch_add(&l->stats[ST_EVENTS_LOST], 1, __ATOMIC_RELAXED);
    return;
  }
  uint32_t entry[4] = {16, ENTRY_STATE_EVENT, slot, 0};
  memcpy(l->batches[l->cur] + l->fill, entry, sizeof entry);
  if (l->filled == l->packets) l->events_since_ms = monotonic_ms();
  l->fill += 16;
  l->filled++;
}

/* How long poll may sleep: until the held events of the batch being filled are due (ms), or forever (-1). */
static int poll_timeout(const loop_t *l) {
  if (l->filled == 0 || l->packets > 0 || l->held) return -1;
  int64_t left = l->events_since_ms + EVENT_DELAY_MS - monotonic_ms();
  return left <= 0 ? 0 : (int)left;
}

/*
 * Hands the batch being filled over, unless JavaScript is still busy with
 * enough of them: then the packets wait in it (more may join) and
 * JavaScript wakes this thread (wakeLoop) when it releases one. Few large
 * batches rather than one per read round, so a busy engine is not flooded
 * with calls and never runs out of batches to receive in.
 */
static void flush_slow(loop_t *l) {
  if (l->filled == 0) return;
  if (l->packets == 0 && monotonic_ms() - l->events_since_ms < EVENT_DELAY_MS) return;
  if (outstanding(l) >= MAX_OUTSTANDING) {
    /* Ask to be woken, then look again: a release between the two would otherwise go unnoticed (both sides are seq_cst). */
    __atomic_store_n(&l->ctl[2 * l->batch_count], 1, __ATOMIC_SEQ_CST);
    size_t held = 0;
    for (size_t i = 0; i < l->batch_count; i++) held += __atomic_load_n(&l->ctl[i], __ATOMIC_SEQ_CST) != 0;
    if (held >= MAX_OUTSTANDING) {
      l->held = 1;
      return;
    }
  }
  __atomic_store_n(&l->ctl[2 * l->batch_count], 0, __ATOMIC_RELEASE);
  hand_over(l);
  l->cur = (l->cur + 1) % l->batch_count;
}

/* Reads a round with poll and read: the packet count, 0 when there is none (woken or timed out: *woken), or -1 to stop. */
static int read_round(loop_t *l, size_t hdr_len, int *woken) {
  struct pollfd fds[2] = {{.fd = l->fd, .events = POLLIN}, {.fd = l->stop_fd, .events = POLLIN}};
  *woken = 0;
  int rc = poll(fds, 2, poll_timeout(l));
  if (rc == 0) return 0;
  if (rc < 0) {
    if (errno == EINTR) return 0;
    __atomic_fetch_add(&l->stats[ST_READ_ERRORS], 1, __ATOMIC_RELAXED);
    return -1;
  }
  if (fds[1].revents) {
    uint64_t value;
    if (read(l->stop_fd, &value, sizeof value) < 0 && errno != EAGAIN) return -1;
    *woken = 1;
    if (!(fds[0].revents & POLLIN)) return 0;
  }
  if (fds[0].revents & (POLLERR | POLLHUP | POLLNVAL)) {
    __atomic_fetch_add(&l->stats[ST_READ_ERRORS], 1, __ATOMIC_RELAXED);
    return -1;
  }
  int n = 0;
  while (n < RX_BATCH) {
    ssize_t r = read(l->fd, l->rx[n], RX_SIZE);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) __atomic_fetch_add(&l->stats[ST_READ_ERRORS], 1, __ATOMIC_RELAXED);
      break;
    }
    if ((size_t)r <= hdr_len) continue;
    l->pkt[n] = l->rx[n];
    l->rx_len[n++] = (size_t)r;
  }
  return n;
}

/* After a wait: counts the ring's failed writes, and gives the held buffers back once their round's writes are done. */
static void take_uring_writes(loop_t *l, uring_reader_t *ur) {
  if (ur->write_failed) {
    __atomic_fetch_add(&l->stats[ST_WRITE_ERRORS], ur->write_failed, __ATOMIC_RELAXED);
    ur->write_failed = 0;
  }
  if (l->held_count && ur->writes_inflight == 0 && ur->writes_queued == 0) {
    ur_recycle(ur, l->held_bids, l->held_count);
    l->held_count = 0;
  }
}

static void *loop_main(void *arg) {
  loop_t *l = arg;
  size_t hdr_len = l->vnet ? VNET_HDR_LEN : 0;
  uring_reader_t ur;
  int uring = l->uring && ur_init(&ur, l->fd, l->stop_fd, URING_BUFFERS, RX_SIZE) == 0;
  __atomic_store_n(&l->stats[ST_URING], (uint64_t)uring, __ATOMIC_RELAXED);
  for (;;) {
    int woken = 0;
    size_t n = 0;
    if (uring) {
      int got = ur_take(&ur, poll_timeout(l), l->pkt, l->rx_len, l->bid, RX_BATCH, &woken);
      if (got == -ENOTSUP) {
        /* The kernel refused the read before any packet (so no write is in flight): poll and read from now on. */
        ur_free(&ur);
        uring = 0;
        __atomic_store_n(&l->stats[ST_URING], 0, __ATOMIC_RELAXED);
        continue;
      }
      if (got < 0 && got != -EINTR) {
        __atomic_fetch_add(&l->stats[ST_READ_ERRORS], 1, __ATOMIC_RELAXED);
        break;
      }
      take_uring_writes(l, &ur);
      /* Packets too short to carry their header go straight back. */
      for (int i = 0; i < got; i++) {
        if (l->rx_len[i] > hdr_len) {
          l->pkt[n] = l->pkt[i];
          l->rx_len[n] = l->rx_len[i];
          l->bid[n++] = l->bid[i];
        } else {
          ur_recycle(&ur, &l->bid[i], 1);
        }
      }
    } else {
      int got = read_round(l, hdr_len, &woken);
      if (got < 0) break;
      n = (size_t)got;
    }
    if (woken && __atomic_load_n(&l->stopping, __ATOMIC_ACQUIRE)) {
      if (uring) ur_recycle(&ur, l->bid, n);
      break;
    }
    if (n == 0) {
      /* Timed out (held state events are due) or woken (JavaScript released a batch). */
      flush_slow(l);
      continue;
    }
    __atomic_fetch_add(&l->stats[ST_ROUNDS], 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&l->stats[ST_READ], n, __ATOMIC_RELAXED);
    fp_table_t *t = &l->table->table;
    pthread_mutex_lock(&t->lock);
    uint32_t now = fp_now_rel(t);
    for (size_t i = 0; i < n; i++) {
      const struct virtio_net_hdr *hdr = l->vnet ? (const struct virtio_net_hdr *)l->pkt[i] : NULL;
      l->verdict[i] = (uint8_t)fp_process(t, l->pkt[i] + hdr_len, l->rx_len[i] - hdr_len, hdr, now, &l->changed[i]);
    }
    pthread_mutex_unlock(&t->lock);
    uint64_t fast = 0, slow = 0, overflow = 0, write_errors = 0, writes = 0;
    for (size_t i = 0; i < n; i++) {
      if (l->verdict[i] == FP_FORWARD_CHANGED) enqueue_event(l, l->changed[i]);
      if (l->verdict[i] != FP_SLOW) {
        l->out[fast] = l->pkt[i];
        l->out_len[fast++] = l->rx_len[i];
      } else if (enqueue_slow(l, l->pkt[i], l->rx_len[i])) {
        slow++;
      } else {
        overflow++;
      }
    }
    /* Hand the engine its packets before writing, so its work overlaps ours. */
    flush_slow(l);
    /*
     * Through the ring: queued now, submitted with the next wait (one system
     * call for both ways). Plain write() without io_uring, or in the rare
     * round that finds the previous round's writes still in flight (their
     * super-packet buffers are taken).
     */
    int ring_writes = uring && ur.writes_inflight == 0 && l->held_count == 0 && fast > 0;
    size_t gro_used = 0;
    for (size_t i = 0; i < fast;) {
      size_t merged = 1, len = 0;
      uint8_t *gro = l->gro[ring_writes ? gro_used : GRO_FOR_WRITE];
      if (l->coalesce) merged = coalesce(l->out + i, l->out_len + i, fast - i, l->coalesce, gro, RX_SIZE, &len);
      const uint8_t *buf = merged > 1 ? gro : l->out[i];
      size_t buf_len = merged > 1 ? len : l->out_len[i];
      if (ring_writes) {
        /* Never full: a round has at most RX_BATCH writes (static assert above). */
        if (ur_queue_write(&ur, buf, buf_len, (unsigned)merged) != 0) write_errors += merged;
        if (merged > 1) gro_used++;
      } else if (write(l->fd, buf, buf_len) < 0) {
        write_errors += merged;
      }
      writes++;
      i += merged;
    }
    __atomic_fetch_add(&l->stats[ST_FAST], fast, __ATOMIC_RELAXED);
    __atomic_fetch_add(&l->stats[ST_SLOW], slow, __ATOMIC_RELAXED);
    __atomic_fetch_add(&l->stats[ST_SLOW_OVERFLOW], overflow, __ATOMIC_RELAXED);
    __atomic_fetch_add(&l->stats[ST_WRITE_ERRORS], write_errors, __ATOMIC_RELAXED);
    __atomic_fetch_add(&l->stats[ST_WRITES], writes, __ATOMIC_RELAXED);
    if (ring_writes) {
      /* Copied or queued: held until the writes are done. */
      memcpy(l->held_bids, l->bid, n * sizeof l->bid[0]);
      l->held_count = n;
    } else if (uring) {
      /* Written or copied: the buffers can take new packets. */
      ur_recycle(&ur, l->bid, n);
    }
  }
  if (uring) {
    ur_finish_writes(&ur);
    ur_free(&ur);
  }
  return NULL;
}

/* Runs on the JavaScript thread: callback(batchIndex). */
static void call_js(napi_env env, napi_value callback, void *context, void *data) {
  (void)context;
  if (!env || !callback) return;
  napi_value arg, global, result;
  if (napi_create_uint32(env, (uint32_t)((uintptr_t)data - 1), &arg) != napi_ok || napi_get_global(env, &global) != napi_ok) return;
  if (napi_call_function(env, global, callback, 1, &arg, &result) != napi_ok) {
    napi_value exception;
    if (napi_get_and_clear_last_exception(env, &exception) == napi_ok) napi_fatal_exception(env, exception);
  }
}

static void loop_free(napi_env env, loop_t *l) {
  for (size_t i = 0; i < RX_BATCH; i++) free(l->rx[i]);
  for (size_t i = 0; i < GRO_BUFFERS; i++) free(l->gro[i]);
  for (size_t i = 0; i < l->batch_count; i++) {
    if (l->batch_refs[i]) napi_delete_reference(env, l->batch_refs[i]);
  }
  if (l->ctl_ref) napi_delete_reference(env, l->ctl_ref);
  if (l->table_ref) napi_delete_reference(env, l->table_ref);
  if (l->stop_fd >= 0) close(l->stop_fd);
  free(l);
}

/*
 * startLoop(table, fd, flags, batches: Buffer[], ctl: Int32Array(2 * batches.length + 1), onBatch(index)) -> handle.
 * ctl[i]: 1 while JavaScript holds batch i; ctl[n + i]: its packet count; ctl[2n]: 1 when the loop waits for a release.
 * flags: 1 every packet has a virtio-net header; with 1: 2 the device takes UDP GSO, so UDP writes are coalesced; 4 the same
 * for TCP (TSO); 8 read through io_uring where the kernel can.
 * The buffers and ctl are JavaScript's; they stay referenced until releaseLoop.
 */
static napi_value start_loop(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  int32_t fd;
  uint32_t flags;
  uint32_t batch_count;
  bool is_array;
  napi_valuetype cb_type;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  table_handle_t *h = argc >= 6 ? table_arg(env, argv[0]) : NULL;
  if (!h || napi_get_value_int32(env, argv[1], &fd) != napi_ok || fd < 0 || napi_get_value_uint32(env, argv[2], &flags) != napi_ok || flags > 15 ||
      napi_is_array(env, argv[3], &is_array) != napi_ok || !is_array || napi_get_array_length(env, argv[3], &batch_count) != napi_ok ||
      batch_count < 1 || batch_count > MAX_BATCHES || napi_typeof(env, argv[5], &cb_type) != napi_ok || cb_type != napi_function) {
    napi_throw_type_error(env, NULL, "tun: startLoop(table, fd, flags 0 to 15, batches (1 to 64 Buffers), ctl, onBatch)");
    return NULL;
  }
  loop_t *l = calloc(1, sizeof *l);
  if (!l) {
    napi_throw_error(env, "ENOMEM", "tun: startLoop: out of memory");
    return NULL;
  }
  l->stop_fd = -1;
  l->table = h;
  l->fd = fd;
  l->vnet = (flags & LOOP_VNET_HEADER) != 0;
  if (l->vnet) l->coalesce = ((flags & LOOP_COALESCE_UDP) ? COALESCE_UDP : 0) | ((flags & LOOP_COALESCE_TCP) ? COALESCE_TCP : 0);
  l->uring = (flags & LOOP_URING) != 0;
  l->batch_count = batch_count;
  const char *failure = NULL;
  size_t ctl_words = 0;
  for (uint32_t i = 0; i < batch_count && !failure; i++) {
    napi_value b;
    void *data;
    size_t size;
    if (napi_get_element(env, argv[3], i, &b) != napi_ok || napi_get_buffer_info(env, b, &data, &size) != napi_ok) {
      failure = "batches must be Buffers";
    } else if (size < RX_SIZE + 8 || (i > 0 && size != l->batch_size)) {
      failure = "batches must be Buffers of one size, each above 64 KiB";
    } else if (napi_create_reference(env, b, 1, &l->batch_refs[i]) != napi_ok) {
      failure = "napi_create_reference failed";
    } else {
      l->batches[i] = data;
      l->batch_size = size;
    }
  }
  if (!failure) {
    l->ctl = words_arg(env, argv[4], &ctl_words);
    if (!l->ctl || ctl_words < 2 * (size_t)batch_count + 1) failure = "ctl must be an Int32Array of 2 * batches.length + 1";
  }
  if (!failure && (napi_create_reference(env, argv[4], 1, &l->ctl_ref) != napi_ok || napi_create_reference(env, argv[0], 1, &l->table_ref) != napi_ok)) {
    failure = "napi_create_reference failed";
  }
  for (size_t i = 0; i < RX_BATCH && !failure; i++) {
    l->rx[i] = malloc(RX_SIZE);
    if (!l->rx[i]) failure = "out of memory";
  }
  for (size_t i = 0; i < GRO_BUFFERS && !failure; i++) {
    l->gro[i] = malloc(RX_SIZE);
    if (!l->gro[i]) failure = "out of memory";
  }
  if (!failure) {
    l->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (l->stop_fd < 0) failure = "eventfd failed";
  }
  napi_value name;
  if (!failure && (napi_create_string_utf8(env, "portplane:tun-loop", NAPI_AUTO_LENGTH, &name) != napi_ok ||
                   napi_create_threadsafe_function(env, argv[5], NULL, name, 0, 1, NULL, NULL, NULL, call_js, &l->tsfn) != napi_ok)) {
    failure = "napi_create_threadsafe_function failed";
  }
  if (!failure) {
    int err = pthread_create(&l->thread, NULL, loop_main, l);
    if (err != 0) {
      napi_release_threadsafe_function(l->tsfn, napi_tsfn_abort);
      failure = "pthread_create failed";
    } else {
      l->thread_started = 1;
    }
  }
  if (failure) {
    loop_free(env, l);
    char message[160];
    snprintf(message, sizeof message, "tun: startLoop: %s", failure);
    napi_throw_error(env, NULL, message);
    return NULL;
  }
  napi_value handle;
  if (napi_create_external(env, l, NULL, NULL, &handle) != napi_ok) {
    /* Unreachable in practice; stop the thread rather than leak a running one. */
    __atomic_store_n(&l->stopping, 1, __ATOMIC_RELEASE);
    uint64_t one = 1;
    if (write(l->stop_fd, &one, sizeof one) < 0) abort();
    pthread_join(l->thread, NULL);
    napi_release_threadsafe_function(l->tsfn, napi_tsfn_abort);
    loop_free(env, l);
    napi_throw_error(env, NULL, "tun: startLoop: napi_create_external failed");
    return NULL;
  }
  return handle;
}

static loop_t *loop_arg(napi_env env, napi_value v) {
  void *data = NULL;
  if (napi_get_value_external(env, v, &data) != napi_ok) return NULL;
  return data;
}

/* stopLoop(handle): joins the thread; no batch is handed over after this returns. Call once per handle. */
static napi_value stop_loop(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  loop_t *l = argc >= 1 ? loop_arg(env, argv[0]) : NULL;
  if (!l || l->stopped) {
    napi_throw_type_error(env, NULL, "tun: stopLoop(running loop handle)");
    return NULL;
  }
  l->stopped = 1;
  __atomic_store_n(&l->stopping, 1, __ATOMIC_RELEASE);
  uint64_t one = 1;
  if (write(l->stop_fd, &one, sizeof one) != (ssize_t)sizeof one) {
    napi_throw_error(env, NULL, "tun: stopLoop: cannot signal the loop thread");
    return NULL;
  }
  pthread_join(l->thread, NULL);
  napi_release_threadsafe_function(l->tsfn, napi_tsfn_abort);
  /* The handle stays with JavaScript; only its counters are read after this (loopStats), so keep the struct, free the rest. */
  for (size_t i = 0; i < RX_BATCH; i++) {
    free(l->rx[i]);
    l->rx[i] = NULL;
  }
  for (size_t i = 0; i < GRO_BUFFERS; i++) {
    free(l->gro[i]);
    l->gro[i] = NULL;
  }
  return NULL;
}

/* loopStats(handle) -> Float64Array [read, fast, slow, slowOverflow, writeErrors, readErrors, rounds, writes, eventsLost, uring (1: reads through io_uring)]. */
static napi_value loop_stats(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  loop_t *l = argc >= 1 ? loop_arg(env, argv[0]) : NULL;
  if (!l) {
    napi_throw_type_error(env, NULL, "tun: loopStats(loop handle)");
    return NULL;
  }
  napi_value ab, out;
  void *data;
  CHECK(napi_create_arraybuffer(env, ST_COUNT * sizeof(double), &data, &ab));
  double *d = data;
  for (int i = 0; i < ST_COUNT; i++) d[i] = (double)__atomic_load_n(&l->stats[i], __ATOMIC_RELAXED);
  CHECK(napi_create_typedarray(env, napi_float64_array, ST_COUNT, ab, 0, &out));
  return out;
}

/* wakeLoop(handle): JavaScript released a batch while the loop held slow packets back (ctl[2n] was 1). */
static napi_value wake_loop(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  loop_t *l = argc >= 1 ? loop_arg(env, argv[0]) : NULL;
  if (!l) {
    napi_throw_type_error(env, NULL, "tun: wakeLoop(loop handle)");
    return NULL;
  }
  uint64_t one = 1;
  /* A full eventfd counter (EAGAIN) already wakes the loop. */
  if (!l->stopped && write(l->stop_fd, &one, sizeof one) < 0 && errno != EAGAIN) {
    napi_throw_error(env, NULL, "tun: wakeLoop: cannot signal the loop thread");
    return NULL;
  }
  return NULL;
}

/* releaseLoop(handle): frees a stopped loop; the handle must not be used again. */
static napi_value release_loop(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  loop_t *l = argc >= 1 ? loop_arg(env, argv[0]) : NULL;
  if (!l || !l->stopped) {
    napi_throw_type_error(env, NULL, "tun: releaseLoop(stopped loop handle)");
    return NULL;
  }
  loop_free(env, l);
  return NULL;
}

napi_status loop_register(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"createTable", NULL, create_table, NULL, NULL, NULL, napi_default, NULL},
    {"setRows", NULL, set_rows, NULL, NULL, NULL, napi_default, NULL},
    {"setChunk", NULL, set_chunk, NULL, NULL, NULL, napi_default, NULL},
    {"process", NULL, process_packet, NULL, NULL, NULL, napi_default, NULL},
    {"startLoop", NULL, start_loop, NULL, NULL, NULL, napi_default, NULL},
    {"stopLoop", NULL, stop_loop, NULL, NULL, NULL, napi_default, NULL},
    {"loopStats", NULL, loop_stats, NULL, NULL, NULL, napi_default, NULL},
    {"wakeLoop", NULL, wake_loop, NULL, NULL, NULL, napi_default, NULL},
    {"releaseLoop", NULL, release_loop, NULL, NULL, NULL, napi_default, NULL},
  };
  return napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
