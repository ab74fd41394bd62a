/*
 * Coalescing (see coalesce.h). Only packets the kernel handed over with a
 * partial or already verified checksum (VIRTIO_NET_HDR_F_NEEDS_CSUM,
 * _DATA_VALID) are merged: the super-packet carries a partial checksum that
 * the kernel completes per segment, so a packet with an unverified checksum
 * must not lose it this way. IPv4 without options, IPv6 without extension
 * headers. UDP datagrams of one flow and size become a UDP GSO packet (USO);
 * in-order TCP segments of one flow become a TSO packet, under the rules
 * Linux's own TCP GRO keeps (tcp_gro_receive): same ACK, window, header
 * length and options, only ACK (PSH on the last), sequence numbers back to
 * back, every segment but the last of the first one's size.
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
#define PROTO_TCP 6
/* TCP flags (byte 13 of the header). */
#define TCP_F_PSH 0x08
#define TCP_F_ACK 0x10

typedef struct {
  uint8_t protocol; /* PROTO_UDP or PROTO_TCP */
  size_t l4;        /* IP header length */
  size_t headers;   /* IP + UDP/TCP header length */
  size_t payload;   /* payload bytes */
} shape_t;

/* The packet's shape when it may take part, else 0. */
static int shape(const uint8_t *p, size_t len, shape_t *s) {
  if (len < HDR) return 0;
  const struct virtio_net_hdr *h = (const struct virtio_net_hdr *)p;
  if (h->gso_type != VIRTIO_NET_HDR_GSO_NONE || !(h->flags & (VIRTIO_NET_HDR_F_NEEDS_CSUM | VIRTIO_NET_HDR_F_DATA_VALID))) return 0;
  const uint8_t *ip = p + HDR;
  size_t iplen = len - HDR;
  if (iplen < 1) return 0;
  if (ip[0] >> 4 == 4) {
    if (iplen < 28 || ip[0] != 0x45 || (ip[9] != PROTO_UDP && ip[9] != PROTO_TCP)) return 0;
    if ((((size_t)ip[2] << 8) | ip[3]) != iplen) return 0;
    /* Not a fragment (MF clear, offset 0). */
    if ((ip[6] & 0x3f) != 0 || ip[7] != 0) return 0;
    s->protocol = ip[9];
    s->l4 = 20;
  } else if (ip[0] >> 4 == 6) {
    if (iplen < 48 || (ip[6] != PROTO_UDP && ip[6] != PROTO_TCP) || 40 + (((size_t)ip[4] << 8) | ip[5]) != iplen) return 0;
    s->protocol = ip[6];
    s->l4 = 40;
  } else {
    return 0;
  }
  const uint8_t *l4 = ip + s->l4;
  if (s->protocol == PROTO_UDP) {
    size_t udp_len = ((size_t)l4[4] << 8) | l4[5];
    if (udp_len != iplen - s->l4 || udp_len <= 8) return 0;
    s->headers = s->l4 + 8;
  } else {
    /* Only ACK, or ACK and PSH: nothing that starts, ends or signals (SYN, FIN, RST, URG, ECE, CWR). */
    size_t doff = (size_t)(l4[12] >> 4) * 4;
    if (doff < 20 || s->l4 + doff > iplen || (l4[13] & ~TCP_F_PSH) != TCP_F_ACK) return 0;
    /* TSO4 cuts with incrementing IP ids: only where DF makes the id meaningless. */
    if (s->l4 == 20 && !(ip[6] & 0x40)) return 0;
    s->headers = s->l4 + doff;
  }
  if (iplen <= s->headers) return 0;
  s->payload = iplen - s->headers;
  return 1;
}

/* Same flow and same per-packet IP header fields and ports (what the kernel copies into every segment). */
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

static uint32_t be32(const uint8_t *b) {
  return ((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) | ((uint32_t)b[2] << 8) | b[3];
}

/* Whether TCP segment `b` continues `a` (whose first byte of payload is sequence `next`): same ACK, window, header length and options. */
static int tcp_continues(const uint8_t *a, const uint8_t *b, size_t headers, size_t l4, uint32_t next) {
  const uint8_t *ta = a + l4, *tb = b + l4;
  return be32(tb + 4) == next && memcmp(ta + 8, tb + 8, 4) == 0 && ta[12] == tb[12] && memcmp(ta + 14, tb + 14, 2) == 0 &&
         memcmp(ta + 20, tb + 20, headers - l4 - 20) == 0;
}

size_t coalesce(uint8_t *const *pkts, const size_t *lens, size_t count, int kinds, uint8_t *out, size_t out_cap, size_t *out_len) {
  shape_t first, next;
  if (count < 2 || !shape(pkts[0], lens[0], &first)) return 1;
  if (!(kinds & (first.protocol == PROTO_UDP ? COALESCE_UDP : COALESCE_TCP))) return 1;
  const uint8_t *ip0 = pkts[0] + HDR;
  const int tcp = first.protocol == PROTO_TCP;
  size_t seg = first.payload;
  size_t headers = first.headers;
  size_t total = first.payload;
  uint32_t seq = tcp ? be32(ip0 + first.l4 + 4) + (uint32_t)first.payload : 0;
  uint8_t push = 0;
  size_t n = 1;
  /* A TCP segment with PSH ends the super-packet (the kernel puts PSH on its last segment only). */
  int last = tcp && (ip0[first.l4 + 13] & TCP_F_PSH);
  while (!last && n < count && n < COALESCE_MAX_SEGMENTS) {
    if (!shape(pkts[n], lens[n], &next) || next.protocol != first.protocol || next.l4 != first.l4 || next.headers != headers || next.payload > seg) break;
    const uint8_t *ip = pkts[n] + HDR;
    if (!same_flow(ip0, ip, first.l4)) break;
    if (tcp && !tcp_continues(ip0, ip, headers, first.l4, seq)) break;
    /* IPv4 total length and IPv6 payload length are 16 bits. */
    if (headers + total + next.payload > 65535 || HDR + headers + total + next.payload > out_cap) break;
    total += next.payload;
    seq += (uint32_t)next.payload;
    n++;
    if (tcp && (ip[first.l4 + 13] & TCP_F_PSH)) {
      push = TCP_F_PSH;
      last = 1;
    }
    /* A shorter segment can only be the last. */
    if (next.payload < seg) break;
  }
  if (n < 2) return 1;
  struct virtio_net_hdr h = {0};
  h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
  h.gso_type = !tcp ? VIRTIO_NET_HDR_GSO_UDP_L4 : first.l4 == 20 ? VIRTIO_NET_HDR_GSO_TCPV4 : VIRTIO_NET_HDR_GSO_TCPV6;
  h.hdr_len = (uint16_t)headers;
  h.gso_size = (uint16_t)seg;
  h.csum_start = (uint16_t)first.l4;
  h.csum_offset = tcp ? 16 : 6;
  memcpy(out, &h, HDR);
  uint8_t *ip = out + HDR;
  memcpy(ip, ip0, headers);
  size_t at = HDR + headers;
  for (size_t i = 0; i < n; i++) {
    size_t payload = lens[i] - HDR - headers;
    memcpy(out + at, pkts[i] + HDR + headers, payload);
    at += payload;
  }
  size_t l4_len = headers - first.l4 + total;
  uint8_t protocol = first.protocol;
  uint32_t pseudo;
  if (first.l4 == 20) {
    size_t ip_len = 20 + l4_len;
    ip[2] = (uint8_t)(ip_len >> 8);
    ip[3] = ip_len & 0xff;
    ip[10] = ip[11] = 0;
    uint32_t c = ~fold(sum16(ip, 20, 0)) & 0xffff;
    ip[10] = (uint8_t)(c >> 8);
    ip[11] = c & 0xff;
    pseudo = sum16(ip + 12, 8, 0);
  } else {
    ip[4] = (uint8_t)(l4_len >> 8);
    ip[5] = l4_len & 0xff;
    pseudo = sum16(ip + 8, 32, 0);
  }
  uint8_t *l4 = ip + first.l4;
  uint8_t *check;
  if (tcp) {
    l4[13] |= push;
    check = l4 + 16;
  } else {
    l4[4] = (uint8_t)(l4_len >> 8);
    l4[5] = l4_len & 0xff;
    check = l4 + 6;
  }
  /* Partial checksum: the uncomplemented pseudo-header sum over the whole length (the kernel completes it per segment). */
  uint32_t c = fold(pseudo + protocol + (uint32_t)l4_len);
  check[0] = (uint8_t)(c >> 8);
  check[1] = c & 0xff;
  *out_len = at;
  return n;
}
