/*
 * The userspace backend's established-flow fast path in C, over the flow
 * table JavaScript owns (src/dataplane/userspace/flow-table.ts and the slot
 * records of session-table.ts). JavaScript is the only writer of keys,
 * rewrites and states; C only reads them and adds to the records' pending
 * counters, which JavaScript folds into its sessions. Layouts must match
 * src/dataplane/userspace/native-layout.ts.
 */
#ifndef PORTPLANE_FASTPATH_H
#define PORTPLANE_FASTPATH_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/virtio_net.h>

#define FP_KEY_WORDS 10
/* A flow table row: value, then the key. */
#define FP_ROW (FP_KEY_WORDS + 1)
#define FP_EMPTY (-1)
#define FP_TOMBSTONE (-2)

/* A slot record (32 words): forward key, reverse key, checksum deltas, state, last seen, pending counters. */
#define FP_RECORD_WORDS 32
#define FP_CHUNK_SLOTS 4096
#define FP_REC_REV 10
#define FP_REC_FWD_IP_DELTA 20
#define FP_REC_FWD_L4_DELTA 21
#define FP_REC_REV_IP_DELTA 22
#define FP_REC_REV_L4_DELTA 23
#define FP_REC_STATE 24
#define FP_REC_LAST_SEEN 25
/* 64-bit pending byte counters (forward, reverse) at words 26 and 28; 32-bit pending packet counters at 30 and 31. */
#define FP_REC_FWD_BYTES 26
#define FP_REC_REV_BYTES 28
#define FP_REC_FWD_PACKETS 30
#define FP_REC_REV_PACKETS 31

/* The state word: state in bits 0-7, who closed first in bits 8-9 (session.ts). TCP states are 0 (SYN_SENT) to 6 (CLOSED). */
#define FP_STATE_SYN_SENT 0
#define FP_STATE_SYN_RECV 1
#define FP_STATE_ESTABLISHED 2
#define FP_STATE_FIN_WAIT 3
#define FP_STATE_CLOSE_WAIT 4
#define FP_STATE_TIME_WAIT 5
#define FP_STATE_CLOSED 6
#define FP_STATE_UDP_ACTIVE 7
#define FP_CLOSED_BY_SHIFT 8
#define FP_CLOSED_BY_NONE 0
#define FP_CLOSED_BY_CLIENT 1
#define FP_CLOSED_BY_TARGET 2

/* Verdicts of fp_process. */
#define FP_FORWARD 0
#define FP_SLOW 1
/* Forwarded, and the session's TCP state changed: JavaScript records the change (a session delta). */
#define FP_FORWARD_CHANGED 2

typedef struct {
  /* Held by a packet batch while it reads the table; JavaScript takes it to swap rows or add a chunk. */
  pthread_mutex_t lock;
  int32_t *rows;
  uint32_t mask;
  uint32_t **chunks;
  size_t chunk_count;
  /* Date.now() that record last-seen values count from (milliseconds). */
  double base_ms;
} fp_table_t;

/*
 * Parses the IP packet in buf[0, len), and for a tracked flow rewrites it
 * in place, tracks its TCP state as the engine does (engine.ts track()),
 * adds to its counters and returns FP_FORWARD, or FP_FORWARD_CHANGED with
 * the session's slot in *slot when the state changed. Anything else (first
 * packets, a client's SYN on a tracked flow, what does not parse, a state
 * word JavaScript changed meanwhile) is FP_SLOW and left untouched. `hdr`
 * is the packet's virtio-net header, or NULL. Call with table->lock held.
 */
int fp_process(fp_table_t *table, uint8_t *buf, size_t len, const struct virtio_net_hdr *hdr, uint32_t now_rel_ms, uint32_t *slot);

/* Milliseconds since table->base_ms (wall clock, as Date.now()), plus one (see REC_LAST_SEEN in session.ts). */
uint32_t fp_now_rel(const fp_table_t *table);

#endif
