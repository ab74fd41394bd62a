/*
 * The established-flow fast path: parse, look the flow up in the table
 * JavaScript owns, rewrite with the session's precomputed checksum deltas
 * (RFC 1624, as src/dataplane/userspace/engine.ts forward()), count. A
 * partial checksum (virtio-net VIRTIO_NET_HDR_F_NEEDS_CSUM, what GSO
 * super-packets and checksum-offloaded segments carry) holds the
 * uncomplemented pseudo-header sum: only the address change applies to it,
 * since the ports are summed when the kernel completes the checksum.
 */
#include "fastpath.h"

#include <string.h>
#include <time.h>

#define PROTO_TCP 6
#define PROTO_UDP 17
#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_ACK 0x10

static inline uint32_t word(const uint8_t *b) {
  return ((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) | ((uint32_t)b[2] << 8) | b[3];
}

static inline void put32(uint8_t *b, uint32_t w) {
  b[0] = w >> 24;
  b[1] = (w >> 16) & 0xff;
  b[2] = (w >> 8) & 0xff;
  b[3] = w & 0xff;
}

/* flow-table.ts hashKey, bit for bit (Math.imul is a 32-bit multiply). */
static inline uint32_t hash_key(const uint32_t *key) {
  uint32_t h = 0x811c9dc5u;
  for (int i = 0; i < FP_KEY_WORDS; i++) {
    h = (h ^ key[i]) * 0x01000193u;
    h ^= h >> 15;
  }
  h = (h ^ (h >> 16)) * 0x85ebca6bu;
  return h ^ (h >> 13);
}

static inline uint32_t fold(uint64_t sum) {
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >> 16);
  return (uint32_t)sum;
}

/* RFC 1624 eqn. 3 on a complemented checksum. */
static inline uint32_t adjust(uint32_t checksum, uint32_t delta) {
  return ~fold((uint64_t)(~checksum & 0xffff) + delta) & 0xffff;
}

/* The row value for `key`, or -1. Rows are published by JavaScript value-last, so a key read after a live value is complete. */
static int32_t lookup(const fp_table_t *t, const uint32_t *key) {
  const int32_t *rows = t->rows;
  uint32_t mask = t->mask;
  if (!rows) return -1;
  uint32_t i = hash_key(key) & mask;
  for (uint32_t probes = 0; probes <= mask; probes++) {
    const int32_t *row = rows + (size_t)i * FP_ROW;
    int32_t v = __atomic_load_n(row, __ATOMIC_ACQUIRE);
    if (v == FP_EMPTY) return -1;
    if (v != FP_TOMBSTONE && memcmp(row + 1, key, FP_KEY_WORDS * sizeof(uint32_t)) == 0) return v;
    i = (i + 1) & mask;
  }
  return -1;
}

uint32_t fp_now_rel(const fp_table_t *table) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  double now = (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
  double rel = now - table->base_ms;
  /* Stored plus one: 0 in a record means "never seen here". */
  return rel <= 0 ? 1 : rel >= 4294967294.0 ? 0xffffffffu : (uint32_t)rel + 1;
}

/*
 * The state word after a TCP segment with `flags` in direction `dir`
 * (engine.ts track(), the same transitions), or `word` when it changes
 * nothing. A SYN other than the target's SYN-ACK is left to the engine
 * (it may reopen an ended flow): returns -1 then.
 */
static int64_t track(uint32_t word, int dir, int flags) {
  uint32_t state = word & 0xff;
  uint32_t closed_by = (word >> FP_CLOSED_BY_SHIFT) & 3;
  uint32_t me = dir == 0 ? FP_CLOSED_BY_CLIENT : FP_CLOSED_BY_TARGET;
  if ((flags & TCP_SYN) && !(dir == 1 && state == FP_STATE_SYN_SENT && (flags & (TCP_SYN | TCP_ACK | TCP_RST | TCP_FIN)) == (TCP_SYN | TCP_ACK))) return -1;
  if (state > FP_STATE_CLOSED) return -1;
  if (flags & TCP_RST) {
    state = FP_STATE_CLOSED;
    if (closed_by == FP_CLOSED_BY_NONE) closed_by = me;
  } else if (flags & TCP_FIN) {
    if (closed_by == FP_CLOSED_BY_NONE) {
      closed_by = me;
      state = dir == 0 ? FP_STATE_FIN_WAIT : FP_STATE_CLOSE_WAIT;
    } else if (closed_by != me && state < FP_STATE_TIME_WAIT) {
      state = FP_STATE_TIME_WAIT;
    }
  } else if (state == FP_STATE_SYN_SENT && dir == 1 && (flags & (TCP_SYN | TCP_ACK)) == (TCP_SYN | TCP_ACK)) {
    state = FP_STATE_SYN_RECV;
  } else if (state == FP_STATE_SYN_RECV && dir == 0 && (flags & (TCP_SYN | TCP_ACK)) == TCP_ACK) {
    state = FP_STATE_ESTABLISHED;
  }
  return (int64_t)(state | (closed_by << FP_CLOSED_BY_SHIFT));
}

int fp_process(fp_table_t *t, uint8_t *buf, size_t len, const struct virtio_net_hdr *hdr, uint32_t now_rel_ms, uint32_t *slot_out) {
  uint32_t key[FP_KEY_WORDS];
  size_t l4, end;
  int family, protocol;
  if (len < 1) return FP_SLOW;
  int version = buf[0] >> 4;
  if (version == 4) {
    if (len < 20) return FP_SLOW;
    size_t ihl = (size_t)(buf[0] & 0x0f) * 4;
    size_t total = ((size_t)buf[2] << 8) | buf[3];
    if (ihl < 20 || total < ihl || total > len) return FP_SLOW;
    if ((((buf[6] & 0x3f) << 8) | buf[7]) != 0) return FP_SLOW;
    protocol = buf[9];
    family = 4;
    l4 = ihl;
    end = total;
    memset(key, 0, sizeof key);
    key[1] = word(buf + 12);
    key[5] = word(buf + 16);
  } else if (version == 6) {
    if (len < 40) return FP_SLOW;
    size_t payload = ((size_t)buf[4] << 8) | buf[5];
    if (40 + payload > len) return FP_SLOW;
    protocol = buf[6];
    family = 6;
    l4 = 40;
    end = 40 + payload;
    for (int i = 0; i < 4; i++) {
      key[1 + i] = word(buf + 8 + 4 * i);
      key[5 + i] = word(buf + 24 + 4 * i);
    }
  } else {
    return FP_SLOW;
  }
  size_t l4len = end - l4;
  size_t checksum_at, payload;
  int tcp_flags = 0;
  if (protocol == PROTO_TCP) {
    if (l4len < 20) return FP_SLOW;
    size_t data_offset = (size_t)(buf[l4 + 12] >> 4) * 4;
    if (data_offset < 20 || data_offset > l4len) return FP_SLOW;
    tcp_flags = buf[l4 + 13];
    checksum_at = l4 + 16;
    payload = l4len - data_offset;
  } else if (protocol == PROTO_UDP) {
    if (l4len < 8) return FP_SLOW;
    size_t udp_len = ((size_t)buf[l4 + 4] << 8) | buf[l4 + 5];
    /* A UDP GSO super-packet's length field covers one segment; the IP length covers them all. */
    int gso = hdr && (hdr->gso_type & ~VIRTIO_NET_HDR_GSO_ECN) != VIRTIO_NET_HDR_GSO_NONE;
    if (!gso && (udp_len < 8 || udp_len > l4len)) return FP_SLOW;
    checksum_at = l4 + 6;
    payload = gso ? l4len - 8 : udp_len - 8;
  } else {
    return FP_SLOW;
  }
  key[0] = (uint32_t)protocol | ((uint32_t)family << 8);
  key[9] = word(buf + l4);
  int32_t value = lookup(t, key);
  if (value < 0) return FP_SLOW;
  uint32_t slot = (uint32_t)value >> 1;
  int dir = value & 1;
  size_t chunk = slot / FP_CHUNK_SLOTS;
  if (chunk >= t->chunk_count || !t->chunks[chunk]) return FP_SLOW;
  uint32_t *rec = t->chunks[chunk] + (size_t)(slot % FP_CHUNK_SLOTS) * FP_RECORD_WORDS;
  uint32_t word = __atomic_load_n(rec + FP_REC_STATE, __ATOMIC_ACQUIRE);
  int changed = 0;
  if (protocol == PROTO_TCP) {
    int64_t next = track(word, dir, tcp_flags);
    if (next < 0) return FP_SLOW;
    if ((uint32_t)next != word) {
      /* JavaScript may be changing the same word (a SYN it handles): whoever comes second retries, here in the engine. */
      if (!__atomic_compare_exchange_n(rec + FP_REC_STATE, &word, (uint32_t)next, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) return FP_SLOW;
      changed = 1;
    }
  } else if ((word & 0xff) != FP_STATE_UDP_ACTIVE) {
    return FP_SLOW;
  }

  const uint32_t *k = rec + (dir == 0 ? FP_REC_REV : 0);
  uint32_t ip_delta = rec[dir == 0 ? FP_REC_FWD_IP_DELTA : FP_REC_REV_IP_DELTA];
  uint32_t l4_delta = rec[dir == 0 ? FP_REC_FWD_L4_DELTA : FP_REC_REV_L4_DELTA];
  if (family == 4) {
    put32(buf + 12, k[5]);
    put32(buf + 16, k[1]);
    uint32_t c = adjust(((uint32_t)buf[10] << 8) | buf[11], ip_delta);
    buf[10] = c >> 8;
    buf[11] = c & 0xff;
  } else {
    for (int i = 0; i < 4; i++) {
      put32(buf + 8 + 4 * i, k[5 + i]);
      put32(buf + 24 + 4 * i, k[1 + i]);
    }
  }
  uint32_t ports = k[9];
  buf[l4] = (ports >> 8) & 0xff;
  buf[l4 + 1] = ports & 0xff;
  buf[l4 + 2] = ports >> 24;
  buf[l4 + 3] = (ports >> 16) & 0xff;
  uint32_t stored = ((uint32_t)buf[checksum_at] << 8) | buf[checksum_at + 1];
  int partial = hdr && (hdr->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM);
  if (partial) {
    uint32_t c = fold((uint64_t)stored + ip_delta);
    buf[checksum_at] = c >> 8;
    buf[checksum_at + 1] = c & 0xff;
  } else if (!(stored == 0 && protocol == PROTO_UDP && family == 4)) {
    /* An IPv4 UDP checksum of 0 means "none" and stays so. */
    uint32_t c = adjust(stored, l4_delta);
    if (c == 0 && protocol == PROTO_UDP) c = 0xffff;
    buf[checksum_at] = c >> 8;
    buf[checksum_at + 1] = c & 0xff;
  }

  uint32_t segments = 1;
  if (hdr && (hdr->gso_type & ~VIRTIO_NET_HDR_GSO_ECN) != VIRTIO_NET_HDR_GSO_NONE && hdr->gso_size > 0 && payload > hdr->gso_size) {
    segments = (uint32_t)((payload + hdr->gso_size - 1) / hdr->gso_size);
  }
  uint64_t *bytes = (uint64_t *)(rec + (dir == 0 ? FP_REC_FWD_BYTES : FP_REC_REV_BYTES));
  __atomic_fetch_add(bytes, (uint64_t)payload, __ATOMIC_RELAXED);
  __atomic_fetch_add(rec + (dir == 0 ? FP_REC_FWD_PACKETS : FP_REC_REV_PACKETS), segments, __ATOMIC_RELAXED);
  __atomic_store_n(rec + FP_REC_LAST_SEEN, now_rel_ms, __ATOMIC_RELAXED);
  if (!changed) return FP_FORWARD;
  *slot_out = slot;
  return FP_FORWARD_CHANGED;
}
