/*
 * Batched TUN I/O through io_uring, with raw system calls (no liburing):
 * one multishot read fills buffers from a registered buffer ring as packets
 * arrive, and a round's writes are queued as submissions that go to the
 * kernel with the next wait, so a round of many packets costs one
 * io_uring_enter both ways instead of a poll plus a read per packet and a
 * write per (super-)packet (system calls are what the loop's time went to).
 * The loop's stop/wake eventfd is watched on the same ring. Kernels without
 * multishot reads (before 6.7) or with io_uring disabled make ur_init fail,
 * and the loop reads with poll and read and writes with write instead.
 */
#ifndef PORTPLANE_URING_H
#define PORTPLANE_URING_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
  int ring_fd;
  int fd;
  int wake_fd;
  void *sq_ring;
  size_t sq_ring_size;
  void *cq_ring;
  size_t cq_ring_size;
  void *sqes;
  size_t sqes_size;
  uint32_t *sq_head, *sq_tail, *sq_array, sq_mask;
  uint32_t *cq_head, *cq_tail, cq_mask;
  void *cqes;
  /* The buffer ring (shared with the kernel) and the buffers it hands out. */
  void *buf_ring;
  size_t buf_ring_size;
  uint16_t buf_tail;
  uint16_t buf_count;
  size_t buf_size;
  uint8_t *bufs;
  int read_armed;
  int wake_armed;
  /* Writes queued (not yet submitted), submitted and not yet completed, and segments whose write failed (taken by the caller). */
  unsigned writes_queued;
  unsigned writes_inflight;
  uint64_t write_failed;
  /* No packet has come through the ring yet: a failing first read means the kernel cannot do this (fall back). */
  int proven;
} uring_reader_t;

/* 0, or -errno when this kernel cannot read `fd` this way (nothing is left allocated then). Call on the thread that reads. */
int ur_init(uring_reader_t *u, int fd, int wake_fd, uint16_t buf_count, size_t buf_size);
void ur_free(uring_reader_t *u);

/*
 * Waits up to `timeout_ms` (-1: no limit) for packets or a wake-up, then
 * takes up to `max` packets: pkts[i], lens[i], bids[i] (hand the ids back
 * with ur_recycle once done with the bytes). *woken is set when the wake
 * eventfd fired (it is drained). Returns the packet count, or -errno:
 * -ETIME (timeout), -EINTR, -ENOTSUP (the kernel refused the read before
 * any packet: fall back), another error (reading failed).
 */
int ur_take(uring_reader_t *u, int timeout_ms, uint8_t **pkts, size_t *lens, uint16_t *bids, size_t max, int *woken);
void ur_recycle(uring_reader_t *u, const uint16_t *bids, size_t n);

/* Most writes one round may queue (the submission queue holds them and the two standing requests). */
#define UR_MAX_WRITES 62

/*
 * Queues a write of buf[0, len) to the device, carrying `segments` packets
 * (counted in write_failed if it fails); it goes to the kernel with the next
 * ur_take (or ur_finish_writes). The bytes must stay untouched until
 * writes_inflight is back to 0. 0, or -ENOSPC past UR_MAX_WRITES queued.
 */
int ur_queue_write(uring_reader_t *u, const uint8_t *buf, size_t len, unsigned segments);

/* Submits queued writes and waits (up to about a second) until none is in flight; packets read meanwhile go back to the ring. */
void ur_finish_writes(uring_reader_t *u);

#endif
