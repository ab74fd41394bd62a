/*
 * UDP load for bench/udp.sh, in C so the load generator is not what limits
 * the forwarders it measures. Loopback only; every run is bounded in time.
 *
 *   udp-load echo PORT
 *       echo server on 127.0.0.1:PORT (recvmmsg/sendmmsg), until killed.
 *   udp-load pps PORT FLOWS WINDOW SECONDS SIZE
 *       FLOWS client sockets to 127.0.0.1:PORT, each keeping WINDOW datagrams
 *       of SIZE bytes in flight (closed loop: a reply sends the next; a flow
 *       with no reply for 50 ms refills its window). Prints replies per second.
 *   udp-load flows PORT CONCURRENCY SECONDS
 *       new flows: CONCURRENCY at a time, each a fresh socket (new source
 *       port) that sends one datagram and waits for its reply (200 ms at
 *       most), then closes. Prints completed flows per second and lost ones.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct sockaddr_in loopback(int port) {
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

static int connected_socket(int port) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  struct sockaddr_in a = loopback(port);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

static int echo(int port) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a = loopback(port);
  int size = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    perror("echo: bind");
    return 1;
  }
  static char bufs[BATCH][2048];
  struct mmsghdr msgs[BATCH];
  struct iovec iov[BATCH];
  struct sockaddr_in from[BATCH];
  for (;;) {
    for (int i = 0; i < BATCH; i++) {
      iov[i] = (struct iovec){bufs[i], sizeof bufs[i]};
      msgs[i].msg_hdr = (struct msghdr){.msg_name = &from[i], .msg_namelen = sizeof from[i], .msg_iov = &iov[i], .msg_iovlen = 1};
    }
    int n = recvmmsg(fd, msgs, BATCH, MSG_WAITFORONE, NULL);
    if (n < 0) {
      if (errno == EINTR) continue;
      perror("echo: recvmmsg");
      return 1;
    }
    for (int i = 0; i < n; i++) iov[i].iov_len = msgs[i].msg_len;
    (void)sendmmsg(fd, msgs, (unsigned)n, 0);
  }
}

static int pps(int port, int flows, int window, int seconds, int size) {
  int ep = epoll_create1(EPOLL_CLOEXEC);
  int *fds = calloc((size_t)flows, sizeof *fds);
  int64_t *last = calloc((size_t)flows, sizeof *last);
  char payload[2048] = {0}, buf[2048];
  if (!fds || !last || size < 1 || size > (int)sizeof payload) return 1;
  int64_t start = now_ms(), end = start + (int64_t)seconds * 1000;
  for (int i = 0; i < flows; i++) {
    fds[i] = connected_socket(port);
    if (fds[i] < 0) {
      perror("pps: socket");
      return 1;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
    epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev);
    for (int k = 0; k < window; k++) (void)send(fds[i], payload, (size_t)size, 0);
    last[i] = start;
  }
  uint64_t replies = 0;
  struct epoll_event evs[256];
  for (int64_t now = start; now < end; now = now_ms()) {
    int n = epoll_wait(ep, evs, 256, 10);
    for (int e = 0; e < n; e++) {
      int i = (int)evs[e].data.u32;
      for (int k = 0; k < BATCH; k++) {
        if (recv(fds[i], buf, sizeof buf, 0) < 0) break;
        replies++;
        (void)send(fds[i], payload, (size_t)size, 0);
      }
      last[i] = now;
    }
    for (int i = 0; i < flows; i++) {
      if (now - last[i] > 50) {
        for (int k = 0; k < window; k++) (void)send(fds[i], payload, (size_t)size, 0);
        last[i] = now;
      }
    }
  }
  printf("%.0f\n", (double)replies * 1000 / (double)(now_ms() - start));
  return 0;
}

static int new_flows(int port, int concurrency, int seconds) {
  int ep = epoll_create1(EPOLL_CLOEXEC);
  int *fds = calloc((size_t)concurrency, sizeof *fds);
  int64_t *sent = calloc((size_t)concurrency, sizeof *sent);
  if (!fds || !sent) return 1;
  uint64_t done = 0, lost = 0;
  int64_t start = now_ms(), end = start + (int64_t)seconds * 1000;
  const char query[32] = "flow";
  char buf[2048];
  for (int i = 0; i < concurrency; i++) fds[i] = -1;
  struct epoll_event evs[256];
  for (int64_t now = start; now < end; now = now_ms()) {
    for (int i = 0; i < concurrency; i++) {
      if (fds[i] >= 0 && now - sent[i] > 200) {
        close(fds[i]);
        fds[i] = -1;
        lost++;
      }
      if (fds[i] >= 0) continue;
      fds[i] = connected_socket(port);
      if (fds[i] < 0) continue;
      struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
      epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev);
      (void)send(fds[i], query, sizeof query, 0);
      sent[i] = now;
    }
    int n = epoll_wait(ep, evs, 256, 10);
    for (int e = 0; e < n; e++) {
      int i = (int)evs[e].data.u32;
      if (fds[i] < 0 || recv(fds[i], buf, sizeof buf, 0) < 0) continue;
      close(fds[i]);
      fds[i] = -1;
      done++;
    }
  }
  printf("%.0f %llu\n", (double)done * 1000 / (double)(now_ms() - start), (unsigned long long)lost);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "echo") == 0) return echo(atoi(argv[2]));
  if (argc == 7 && strcmp(argv[1], "pps") == 0) return pps(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]), atoi(argv[5]), atoi(argv[6]));
  if (argc == 5 && strcmp(argv[1], "flows") == 0) return new_flows(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]));
  fprintf(stderr, "usage: udp-load echo PORT | pps PORT FLOWS WINDOW SECONDS SIZE | flows PORT CONCURRENCY SECONDS\n");
  return 2;
}
