/* Batched TUN reads and writes through io_uring (see uring.h). */
#define _GNU_SOURCE
#include "uring.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/io_uring.h>
#include <linux/time_types.h>

/* Linux 6.7; the installed headers may predate it. */
#define OP_READ_MULTISHOT 49
#define BUF_GROUP 0
#define UD_READ 1
#define UD_WAKE 2
/* A write's user_data: UD_WRITE in the low byte, the segments it carries above. */
#define UD_WRITE 3
#define UD_TAG(x) ((x) & 0xff)
/* The multishot read, the wake-up's poll and a round's writes. */
#define SQ_ENTRIES (UR_MAX_WRITES + 2)
/* Room for every buffer's completion, the wake-up's and a round's writes', so the completion queue never overflows. */
#define CQ_ENTRIES 256

static int sys_setup(unsigned entries, struct io_uring_params *p) {
  return (int)syscall(__NR_io_uring_setup, entries, p);
}

static int sys_enter(int fd, unsigned submit, unsigned min_complete, unsigned flags, void *arg, size_t argsz) {
  return (int)syscall(__NR_io_uring_enter, fd, submit, min_complete, flags, arg, argsz);
}

static int sys_register(int fd, unsigned op, void *arg, unsigned n) {
  return (int)syscall(__NR_io_uring_register, fd, op, arg, n);
}

static struct io_uring_buf_ring *buf_ring(uring_reader_t *u) {
  return u->buf_ring;
}

/* Hands buffer `bid` back to the kernel (published by ur_publish). */
static void put_buf(uring_reader_t *u, uint16_t bid) {
  struct io_uring_buf *b = &buf_ring(u)->bufs[u->buf_tail & (u->buf_count - 1)];
  b->addr = (uint64_t)(uintptr_t)(u->bufs + (size_t)bid * u->buf_size);
  b->len = (uint32_t)u->buf_size;
  b->bid = bid;
  u->buf_tail++;
}

static void publish_bufs(uring_reader_t *u) {
  __atomic_store_n(&buf_ring(u)->tail, u->buf_tail, __ATOMIC_RELEASE);
}

void ur_free(uring_reader_t *u) {
  if (u->sqes && u->sqes != MAP_FAILED) munmap(u->sqes, u->sqes_size);
  if (u->cq_ring && u->cq_ring != MAP_FAILED && u->cq_ring != u->sq_ring) munmap(u->cq_ring, u->cq_ring_size);
  if (u->sq_ring && u->sq_ring != MAP_FAILED) munmap(u->sq_ring, u->sq_ring_size);
  if (u->ring_fd >= 0) close(u->ring_fd);
  if (u->buf_ring && u->buf_ring != MAP_FAILED) munmap(u->buf_ring, u->buf_ring_size);
  free(u->bufs);
  memset(u, 0, sizeof *u);
  u->ring_fd = -1;
}

int ur_init(uring_reader_t *u, int fd, int wake_fd, uint16_t buf_count, size_t buf_size) {
  memset(u, 0, sizeof *u);
  u->ring_fd = -1;
  if (buf_count == 0 || (buf_count & (buf_count - 1)) != 0 || buf_size > UINT32_MAX) return -EINVAL;
  struct io_uring_params p;
  memset(&p, 0, sizeof p);
  /* Completions are made only when this thread asks for them (one batch per wait), by the one thread that uses the ring. */
  p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
  p.cq_entries = CQ_ENTRIES;
  int ring = sys_setup(SQ_ENTRIES, &p);
  if (ring < 0 && errno == EINVAL) {
    memset(&p, 0, sizeof p);
    p.flags = IORING_SETUP_CQSIZE;
    p.cq_entries = CQ_ENTRIES;
    ring = sys_setup(SQ_ENTRIES, &p);
  }
  if (ring < 0) return -errno;
  u->ring_fd = ring;
  u->fd = fd;
  u->wake_fd = wake_fd;
  int err = 0;
  u->sq_ring_size = p.sq_off.array + p.sq_entries * sizeof(uint32_t);
  u->cq_ring_size = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
  if ((p.features & IORING_FEAT_SINGLE_MMAP) && u->cq_ring_size > u->sq_ring_size) u->sq_ring_size = u->cq_ring_size;
  u->sq_ring = mmap(NULL, u->sq_ring_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring, IORING_OFF_SQ_RING);
  if (u->sq_ring == MAP_FAILED) goto fail;
  if (p.features & IORING_FEAT_SINGLE_MMAP) {
    u->cq_ring = u->sq_ring;
  } else {
    u->cq_ring = mmap(NULL, u->cq_ring_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring, IORING_OFF_CQ_RING);
    if (u->cq_ring == MAP_FAILED) goto fail;
  }
  u->sqes_size = p.sq_entries * sizeof(struct io_uring_sqe);
  u->sqes = mmap(NULL, u->sqes_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring, IORING_OFF_SQES);
  if (u->sqes == MAP_FAILED) goto fail;
  uint8_t *sq = u->sq_ring, *cq = u->cq_ring;
  u->sq_head = (uint32_t *)(sq + p.sq_off.head);
  u->sq_tail = (uint32_t *)(sq + p.sq_off.tail);
  u->sq_mask = *(uint32_t *)(sq + p.sq_off.ring_mask);
  u->sq_array = (uint32_t *)(sq + p.sq_off.array);
  u->cq_head = (uint32_t *)(cq + p.cq_off.head);
  u->cq_tail = (uint32_t *)(cq + p.cq_off.tail);
  u->cq_mask = *(uint32_t *)(cq + p.cq_off.ring_mask);
  u->cqes = cq + p.cq_off.cqes;

  u->buf_count = buf_count;
  u->buf_size = buf_size;
  u->buf_ring_size = (size_t)buf_count * sizeof(struct io_uring_buf);
  u->buf_ring = mmap(NULL, u->buf_ring_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (u->buf_ring == MAP_FAILED) goto fail;
  u->bufs = malloc((size_t)buf_count * buf_size);
  if (!u->bufs) {
    errno = ENOMEM;
    goto fail;
  }
  struct io_uring_buf_reg reg;
  memset(&reg, 0, sizeof reg);
  reg.ring_addr = (uint64_t)(uintptr_t)u->buf_ring;
  reg.ring_entries = buf_count;
  reg.bgid = BUF_GROUP;
  if (sys_register(ring, IORING_REGISTER_PBUF_RING, &reg, 1) < 0) goto fail;
  for (uint16_t i = 0; i < buf_count; i++) put_buf(u, i);
  publish_bufs(u);
  return 0;
fail:
  err = -errno;
  ur_free(u);
  return err ? err : -EINVAL;
}

/* The next submission entry, zeroed; pushed by push_sqe. The queue has room: the two standing requests and at most UR_MAX_WRITES writes. */
static struct io_uring_sqe *next_sqe(uring_reader_t *u) {
  uint32_t tail = *u->sq_tail;
  struct io_uring_sqe *sqe = (struct io_uring_sqe *)u->sqes + (tail & u->sq_mask);
  memset(sqe, 0, sizeof *sqe);
  return sqe;
}

static void push_sqe(uring_reader_t *u) {
  uint32_t tail = *u->sq_tail;
  u->sq_array[tail & u->sq_mask] = tail & u->sq_mask;
  __atomic_store_n(u->sq_tail, tail + 1, __ATOMIC_RELEASE);
}

int ur_queue_write(uring_reader_t *u, const uint8_t *buf, size_t len, unsigned segments) {
  if (u->writes_queued >= UR_MAX_WRITES || len > UINT32_MAX || segments > UINT32_MAX >> 8) return -ENOSPC;
  struct io_uring_sqe *sqe = next_sqe(u);
  sqe->opcode = IORING_OP_WRITE;
  sqe->fd = u->fd;
  sqe->addr = (uint64_t)(uintptr_t)buf;
  sqe->len = (uint32_t)len;
  sqe->user_data = UD_WRITE | ((uint64_t)segments << 8);
  push_sqe(u);
  u->writes_queued++;
  return 0;
}

void ur_recycle(uring_reader_t *u, const uint16_t *bids, size_t n) {
  for (size_t i = 0; i < n; i++) put_buf(u, bids[i]);
  publish_bufs(u);
}

int ur_take(uring_reader_t *u, int timeout_ms, uint8_t **pkts, size_t *lens, uint16_t *bids, size_t max, int *woken) {
  *woken = 0;
  unsigned submit = 0;
  if (!u->read_armed) {
    struct io_uring_sqe *sqe = next_sqe(u);
    sqe->opcode = OP_READ_MULTISHOT;
    sqe->fd = u->fd;
    sqe->flags = IOSQE_BUFFER_SELECT;
    sqe->buf_group = BUF_GROUP;
    sqe->user_data = UD_READ;
    push_sqe(u);
    u->read_armed = 1;
    submit++;
  }
  if (!u->wake_armed) {
    struct io_uring_sqe *sqe = next_sqe(u);
    sqe->opcode = IORING_OP_POLL_ADD;
    sqe->fd = u->wake_fd;
    sqe->poll32_events = POLLIN;
    sqe->user_data = UD_WAKE;
    push_sqe(u);
    u->wake_armed = 1;
    submit++;
  }
  /* The round's writes go with the wait; they complete while being submitted (the device takes them without blocking). */
  unsigned writes = u->writes_queued;
  submit += writes;
  u->writes_inflight += writes;
  u->writes_queued = 0;
  uint32_t head = *u->cq_head;
  int empty = head == __atomic_load_n(u->cq_tail, __ATOMIC_ACQUIRE);
  /* Completions already waiting and nothing to submit: no system call at all. */
  if (empty || submit) {
    struct __kernel_timespec ts = {.tv_sec = timeout_ms / 1000, .tv_nsec = (long long)(timeout_ms % 1000) * 1000000};
    struct io_uring_getevents_arg arg;
    memset(&arg, 0, sizeof arg);
    if (timeout_ms >= 0) arg.ts = (uint64_t)(uintptr_t)&ts;
    unsigned flags = IORING_ENTER_EXT_ARG | (empty ? IORING_ENTER_GETEVENTS : 0);
    /* Wait for one completion beyond the writes' own, so their completions alone do not end the wait. */
    int rc = sys_enter(u->ring_fd, submit, empty ? writes + 1 : 0, flags, &arg, sizeof arg);
    if (rc < 0 && errno != ETIME && errno != EINTR) {
      int err = -errno;
      /* Nothing was submitted (a count comes back when anything was): the writes stay queued. */
      u->writes_inflight -= writes;
      u->writes_queued = writes;
      return err;
    }
  }
  size_t n = 0;
  int err = 0;
  uint32_t tail = __atomic_load_n(u->cq_tail, __ATOMIC_ACQUIRE);
  const struct io_uring_cqe *cqes = u->cqes;
  while (head != tail && n < max && !err) {
    const struct io_uring_cqe *cqe = &cqes[head & u->cq_mask];
    head++;
    if (UD_TAG(cqe->user_data) == UD_WRITE) {
      u->writes_inflight--;
      if (cqe->res < 0) u->write_failed += cqe->user_data >> 8;
      continue;
    }
    if (cqe->user_data == UD_WAKE) {
      u->wake_armed = 0;
      *woken = 1;
      uint64_t value;
      /* Drained so the next poll waits for a new wake-up; EAGAIN: already drained. */
      if (read(u->wake_fd, &value, sizeof value) < 0 && errno != EAGAIN) err = -errno;
      continue;
    }
    if (!(cqe->flags & IORING_CQE_F_MORE)) u->read_armed = 0;
    if (cqe->flags & IORING_CQE_F_BUFFER) {
      uint16_t bid = (uint16_t)(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
      if (bid >= u->buf_count) {
        err = -EIO;
      } else if (cqe->res > 0) {
        pkts[n] = u->bufs + (size_t)bid * u->buf_size;
        lens[n] = (size_t)cqe->res;
        bids[n++] = bid;
        u->proven = 1;
      } else {
        ur_recycle(u, &bid, 1);
      }
    } else if (cqe->res < 0 && cqe->res != -ENOBUFS) {
      /* ENOBUFS: every buffer is out; the read is armed again once some come back. */
      err = u->proven ? cqe->res : -ENOTSUP;
    }
  }
  __atomic_store_n(u->cq_head, head, __ATOMIC_RELEASE);
  if (err && n > 0) {
    /* Keep the packets; the error comes back with the next call. */
    head--;
    __atomic_store_n(u->cq_head, head, __ATOMIC_RELEASE);
    return (int)n;
  }
  return err ? err : (int)n;
}

void ur_finish_writes(uring_reader_t *u) {
  /* Bounded: ten waits of 100 ms, then the ring's close cancels what is left. */
  for (int tries = 0; tries < 10 && (u->writes_queued || u->writes_inflight); tries++) {
    uint8_t *pkts[8];
    size_t lens[8];
    uint16_t bids[8];
    int woken;
    int got = ur_take(u, 100, pkts, lens, bids, 8, &woken);
    if (got > 0) ur_recycle(u, bids, (size_t)got);
    else if (got < 0 && got != -EINTR && got != -ETIME) break;
  }
}
