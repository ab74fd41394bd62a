/*
 * UDP coalescing (see coalesce.h). Only datagrams the kernel handed over
 * with a partial or already verified checksum (VIRTIO_NET_HDR_F_NEEDS_CSUM,
 * _DATA_VALID) are merged: the super-packet carries a partial checksum that
 * the kernel completes per segment, so a datagram with an unverified
 * checksum must not lose it this way. IPv4 without options, IPv6 without
 * extension headers.
 */
#include "coalesce.h"

#include <string.h>
#include <linux/virtio_net.h>

/* Linux 4.18 (include/uapi/linux/virtio_net.h); older headers lack the name. */
#ifndef VIRTIO_NET_HDR_GSO_UDP_L4
#define VIRTIO_NET_HDR_GSO_UDP_L4 5
#endif

#define HDR ((size_t)sizeof(struct virtio_net_hdr))
#define PROTO_UDP 17

typedef struct {
  size_t l4;      /* IP header length */
  size_t payload; /* UDP payload bytes */
} udp_shape_t;

/* The packet's shape when it may take part, else 0. */
static int shape(const uint8_t *p, size_t len, udp_shape_t *s) {
  if (len < HDR) return 0;
  const struct virtio_net_hdr *h = (const struct virtio_net_hdr *)p;
  if (h->gso_type != VIRTIO_NET_HDR_GSO_NONE || !(h->flags & (VIRTIO_NET_HDR_F_NEEDS_CSUM | VIRTIO_NET_HDR_F_DATA_VALID))) return 0;
  const uint8_t *ip = p + HDR;
  size_t iplen = len - HDR;
  if (iplen < 1) return 0;
  if (ip[0] >> 4 == 4) {
    if (iplen < 28 || ip[0] != 0x45 || ip[9] != PROTO_UDP) return 0;
    if ((((size_t)ip[2] << 8) | ip[3]) != iplen) return 0;
    s->l4 = 20;
  } else if (ip[0] >> 4 == 6) {
    if (iplen < 48 || ip[6] != PROTO_UDP || 40 + (((size_t)ip[4] << 8) | ip[5]) != iplen) return 0;
    s->l4 = 40;
  } else {
    return 0;
  }
  size_t udp_len = ((size_t)ip[s->l4 + 4] << 8) | ip[s->l4 + 5];
  if (udp_len != iplen - s->l4 || udp_len <= 8) return 0;
  s->payload = udp_len - 8;
  return 1;
}

/* Same flow and same per-packet header fields (what the kernel copies into every segment). */
static int same_flow(const uint8_t *a, const uint8_t *b, size_t l4) {
  if (l4 == 20) {
    /* version/IHL, TOS; flags (DF); TTL, protocol; addresses; ports. */
    return a[0] == b[0] && a[1] == b[1] && (a[6] & 0xe0) == (b[6] & 0xe0) && a[8] == b[8] && a[9] == b[9] && memcmp(a + 12, b + 12, 8) == 0 &&
           memcmp(a + 20, b + 20, 4) == 0;
  }
  return memcmp(a, b, 4) == 0 && a[6] == b[6] && a[7] == b[7] && memcmp(a + 8, b + 8, 32) == 0 && memcmp(a + 40, b + 40, 4) == 0;
}

static uint32_t sum16(const uint8_t *b, size_t n, uint32_t sum) {
  for (size_t i = 0; i + 1 < n; i += 2) sum += ((uint32_t)b[i] << 8) | b[i + 1];
  return sum;
}

static uint32_t fold(uint32_t sum) {
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >> 16);
  return sum;
}

size_t coalesce_udp(uint8_t *const *pkts, const size_t *lens, size_t count, uint8_t *out, size_t out_cap, size_t *out_len) {
  udp_shape_t first, next;
  if (count < 2 || !shape(pkts[0], lens[0], &first)) return 1;
  const uint8_t *ip0 = pkts[0] + HDR;
  size_t seg = first.payload;
  size_t headers = first.l4 + 8;
  size_t total = first.payload;
  size_t n = 1;
  while (n < count && n < COALESCE_MAX_SEGMENTS) {
    if (!shape(pkts[n], lens[n], &next) || next.l4 != first.l4 || next.payload > seg) break;
    if (!same_flow(ip0, pkts[n] + HDR, first.l4)) break;
    /* IPv4 total length and IPv6 payload length are 16 bits. */
    if (headers + total + next.payload > 65535 || HDR + headers + total + next.payload > out_cap) break;
    total += next.payload;
    n++;
    /* A shorter datagram can only be the last segment. */
    if (next.payload < seg) break;
  }
  if (n < 2) return 1;
  struct virtio_net_hdr h = {0};
  h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
  h.gso_type = VIRTIO_NET_HDR_GSO_UDP_L4;
  h.hdr_len = (uint16_t)headers;
  h.gso_size = (uint16_t)seg;
  h.csum_start = (uint16_t)first.l4;
  h.csum_offset = 6;
  memcpy(out, &h, HDR);
  uint8_t *ip = out + HDR;
  memcpy(ip, ip0, headers);
  size_t at = HDR + headers;
  for (size_t i = 0; i < n; i++) {
    size_t l4 = first.l4;
    size_t payload = lens[i] - HDR - l4 - 8;
    memcpy(out + at, pkts[i] + HDR + l4 + 8, payload);
    at += payload;
  }
  size_t udp_len = 8 + total;
  uint32_t pseudo;
  if (first.l4 == 20) {
    size_t ip_len = 20 + udp_len;
    ip[2] = (uint8_t)(ip_len >> 8);
    ip[3] = ip_len & 0xff;
    ip[10] = ip[11] = 0;
    uint32_t c = ~fold(sum16(ip, 20, 0)) & 0xffff;
    ip[10] = (uint8_t)(c >> 8);
    ip[11] = c & 0xff;
    pseudo = sum16(ip + 12, 8, 0);
  } else {
    ip[4] = (uint8_t)(udp_len >> 8);
    ip[5] = udp_len & 0xff;
    pseudo = sum16(ip + 8, 32, 0);
  }
  uint8_t *udp = ip + first.l4;
  udp[4] = (uint8_t)(udp_len >> 8);
  udp[5] = udp_len & 0xff;
  /* Partial checksum: the uncomplemented pseudo-header sum over the whole length (the kernel adjusts it per segment). */
  uint32_t c = fold(pseudo + PROTO_UDP + (uint32_t)udp_len);
  udp[6] = (uint8_t)(c >> 8);
  udp[7] = c & 0xff;
  *out_len = at;
  return n;
}
