/*
 * GRO for the native loop's writes: consecutive forwarded UDP datagrams of
 * one flow and one size become one UDP GSO super-packet (USO), consecutive
 * in-order TCP segments of one flow one TSO super-packet, written with one
 * system call; the kernel cuts it back into the same packets.
 */
#ifndef PORTPLANE_COALESCE_H
#define PORTPLANE_COALESCE_H

#include <stddef.h>
#include <stdint.h>

/* Most packets in one super-packet (the kernel's UDP_MAX_SEGMENTS). */
#define COALESCE_MAX_SEGMENTS 64

/* What `kinds` lets coalesce() merge: what the device takes back (USO, TSO). */
#define COALESCE_UDP 1
#define COALESCE_TCP 2

/*
 * pkts[i] (lens[i] bytes) are packets that each start with a virtio-net
 * header. Returns how many of pkts[0, count) were merged into `out` (its
 * length in *out_len), or 1 when pkts[0] is to be written as it is (then
 * `out` is untouched). `out_cap` must hold a header and 65,535 bytes.
 */
size_t coalesce(uint8_t *const *pkts, const size_t *lens, size_t count, int kinds, uint8_t *out, size_t out_cap, size_t *out_len);

#endif
