/*
 * GRO for the native loop's writes: consecutive forwarded UDP datagrams of
 * one flow and one size become one UDP GSO super-packet (USO), written with
 * one system call; the kernel cuts it back into the same datagrams.
 */
#ifndef PORTPLANE_COALESCE_H
#define PORTPLANE_COALESCE_H

#include <stddef.h>
#include <stdint.h>

/* Most datagrams in one super-packet (the kernel's UDP_MAX_SEGMENTS). */
#define COALESCE_MAX_SEGMENTS 64

/*
 * pkts[i] (lens[i] bytes) are packets that each start with a virtio-net
 * header. Returns how many of pkts[0, count) were merged into `out` (its
 * length in *out_len), or 1 when pkts[0] is to be written as it is (then
 * `out` is untouched). `out_cap` must hold a header and 65,535 bytes.
 */
size_t coalesce_udp(uint8_t *const *pkts, const size_t *lens, size_t count, uint8_t *out, size_t out_cap, size_t *out_len);

#endif
