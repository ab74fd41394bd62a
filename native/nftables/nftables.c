/*
 * libnftables in-process: one nft batch per call, without spawning nft.
 * libnftables is opened with dlopen (Debian ships libnftables1 without its
 * headers unless libnftables-dev is installed), so the addon builds
 * everywhere and reports at open() time when the library is missing.
 *
 * A context may be bound to a network namespace (a /run/netns path): open()
 * and every run() enter it on the calling thread (setns(2) changes only the
 * calling thread's namespace) and return to the thread's own namespace before
 * they return, so the netlink socket libnftables opens (at nft_ctx_new in
 * 1.0.6, lazily in other versions) lives in that namespace.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <sys/socket.h>
#include <node_api.h>

/* From libnftables' public header (nftables/libnftables.h, stable ABI since 0.9). */
#define NFT_CTX_DEFAULT 0
#define NFT_CTX_OUTPUT_JSON (1 << 4)
struct nft_ctx;
typedef struct nft_ctx *(*ctx_new_fn)(uint32_t);
typedef void (*ctx_free_fn)(struct nft_ctx *);
typedef void (*set_flags_fn)(struct nft_ctx *, unsigned int);
typedef int (*buffer_fn)(struct nft_ctx *);
typedef const char *(*get_buffer_fn)(struct nft_ctx *);
typedef int (*run_fn)(struct nft_ctx *, const char *);

static struct {
  void *handle;
  ctx_new_fn ctx_new;
  ctx_free_fn ctx_free;
  set_flags_fn set_output_flags;
  buffer_fn buffer_output, buffer_error;
  get_buffer_fn get_output, get_error;
  run_fn run;
} lib;

struct context {
  struct nft_ctx *nft;
  int netns_fd; /* -1: the caller's namespace */
  int home_fd;  /* the thread's own namespace, to return to */
  int genl_fd;  /* NETLINK_NETFILTER socket in the context's namespace, for the generation id; -1 if none */
  int mon_fd;   /* the same, subscribed to nftables events (what `nft monitor` reads); -1 if none */
  int batch_fd; /* the same, for batches of hand-built messages (batch()); -1 if none */
  uint32_t seq;
  int mon_touched; /* events of the transaction being read touched the watched table */
};

#define CHECK(call)                                                        \
  do {                                                                     \
    if ((call) != napi_ok) {                                               \
      napi_throw_error(env, NULL, "nftables: N-API call failed: " #call); \
      return NULL;                                                         \
    }                                                                      \
  } while (0)

static napi_value fail(napi_env env, const char *what, const char *detail) {
  char message[512];
  snprintf(message, sizeof message, "nftables: %s: %s", what, detail);
  napi_throw_error(env, NULL, message);
  return NULL;
}

static const char *load_library(void) {
  if (lib.handle) return NULL;
  void *h = dlopen("libnftables.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!h) return dlerror();
  lib.ctx_new = (ctx_new_fn)dlsym(h, "nft_ctx_new");
  lib.ctx_free = (ctx_free_fn)dlsym(h, "nft_ctx_free");
  lib.set_output_flags = (set_flags_fn)dlsym(h, "nft_ctx_output_set_flags");
  lib.buffer_output = (buffer_fn)dlsym(h, "nft_ctx_buffer_output");
  lib.buffer_error = (buffer_fn)dlsym(h, "nft_ctx_buffer_error");
  lib.get_output = (get_buffer_fn)dlsym(h, "nft_ctx_get_output_buffer");
  lib.get_error = (get_buffer_fn)dlsym(h, "nft_ctx_get_error_buffer");
  lib.run = (run_fn)dlsym(h, "nft_run_cmd_from_buffer");
  if (!lib.ctx_new || !lib.ctx_free || !lib.set_output_flags || !lib.buffer_output || !lib.buffer_error ||
      !lib.get_output || !lib.get_error || !lib.run) {
    dlclose(h);
    return "libnftables.so.1 lacks an expected symbol";
  }
  lib.handle = h;
  return NULL;
}

static void finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  struct context *c = data;
  if (c->nft) lib.ctx_free(c->nft);
  if (c->netns_fd >= 0) close(c->netns_fd);
  if (c->home_fd >= 0) close(c->home_fd);
  if (c->genl_fd >= 0) close(c->genl_fd);
  if (c->mon_fd >= 0) close(c->mon_fd);
  if (c->batch_fd >= 0) close(c->batch_fd);
  free(c);
}

/*
 * The socket batch() sends on, or -1 (batch() then reports it). Room for a
 * batch of MAX_BATCH_BYTES and for one capped acknowledgement per message;
 * extended acks carry the kernel's reason for a refused message.
 */
static int open_batch_socket(void) {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
  if (fd < 0) return -1;
  int size = 32 * 1024 * 1024;
  int on = 1;
  struct sockaddr_nl local = {.nl_family = AF_NETLINK};
  if ((setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size) != 0 && setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size) != 0) ||
      (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) != 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size) != 0) ||
      setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &on, sizeof on) != 0 || setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &on, sizeof on) != 0 ||
      bind(fd, (struct sockaddr *)&local, sizeof local) != 0) {
    close(fd);
    return -1;
  }
  /* Connected to the kernel (port 0): no other process can queue forged acknowledgements here. */
  struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
  if (connect(fd, (struct sockaddr *)&kernel, sizeof kernel) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

/* open(netnsPath: string | null) -> context (JSON output; JSON or text input) */
static napi_value open_context(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char path[4096] = "";
  if (argc >= 1) {
    napi_valuetype type;
    CHECK(napi_typeof(env, argv[0], &type));
    if (type == napi_string) {
      size_t len;
      CHECK(napi_get_value_string_utf8(env, argv[0], path, sizeof path, &len));
      if (len == 0 || len >= sizeof path - 1) return fail(env, "open", "namespace path must be 1..4094 bytes");
    } else if (type != napi_null && type != napi_undefined) {
      napi_throw_type_error(env, NULL, "nftables: open expects a namespace path or null");
      return NULL;
    }
  }
  const char *why = load_library();
  if (why) return fail(env, "cannot load libnftables.so.1", why);
  struct context *c = calloc(1, sizeof *c);
  if (!c) return fail(env, "open", "out of memory");
  c->netns_fd = -1;
  c->home_fd = -1;
  c->genl_fd = -1;
  c->mon_fd = -1;
  c->batch_fd = -1;
  if (path[0]) {
    c->netns_fd = open(path, O_RDONLY | O_CLOEXEC);
    c->home_fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (c->netns_fd < 0 || c->home_fd < 0) {
      int err = errno;
      finalize(env, c, NULL);
      return fail(env, path, strerror(err));
    }
  }
  /* The context's netlink socket may be opened here (it is in libnftables 1.0.6): inside the namespace. */
  if (c->netns_fd >= 0 && setns(c->netns_fd, CLONE_NEWNET) != 0) {
    int err = errno;
    finalize(env, c, NULL);
    return fail(env, "setns into the namespace", strerror(err));
  }
  c->nft = lib.ctx_new(NFT_CTX_DEFAULT);
  /* A socket keeps the namespace it was created in: generation() needs no setns. Failure leaves -1
   * (generation() then reports it and callers fall back to listing the table). */
  c->genl_fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
  c->mon_fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_NETFILTER);
  if (c->mon_fd >= 0) {
    /* A whole rewrite of 10,000 ports is ~25,000 events: room for several before they are read. */
    int size = 64 * 1024 * 1024;
    int group = NFNLGRP_NFTABLES;
    struct sockaddr_nl local = {.nl_family = AF_NETLINK};
    if ((setsockopt(c->mon_fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) != 0 &&
         setsockopt(c->mon_fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size) != 0) ||
        bind(c->mon_fd, (struct sockaddr *)&local, sizeof local) != 0 ||
        setsockopt(c->mon_fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &group, sizeof group) != 0) {
      close(c->mon_fd);
      c->mon_fd = -1;
    }
  }
  c->batch_fd = open_batch_socket();
  if (c->netns_fd >= 0 && setns(c->home_fd, CLONE_NEWNET) != 0) {
    fprintf(stderr, "nftables: cannot return to the home network namespace: %s\n", strerror(errno));
    abort();
  }
  if (!c->nft) {
    finalize(env, c, NULL);
    return fail(env, "open", "nft_ctx_new failed");
  }
  lib.set_output_flags(c->nft, NFT_CTX_OUTPUT_JSON);
  if (lib.buffer_output(c->nft) != 0 || lib.buffer_error(c->nft) != 0) {
    finalize(env, c, NULL);
    return fail(env, "open", "cannot buffer libnftables output");
  }
  napi_value external;
  if (napi_create_external(env, c, finalize, NULL, &external) != napi_ok) {
    finalize(env, c, NULL);
    return fail(env, "open", "napi_create_external failed");
  }
  return external;
}

static napi_value set_string(napi_env env, napi_value obj, const char *key, const char *value) {
  napi_value v;
  if (napi_create_string_utf8(env, value ? value : "", NAPI_AUTO_LENGTH, &v) != napi_ok) return NULL;
  if (napi_set_named_property(env, obj, key, v) != napi_ok) return NULL;
  return obj;
}

/* The context open() made, held in `value`; NULL (nothing thrown) for anything else. */
static struct context *context_of(napi_env env, napi_value value) {
  napi_valuetype type;
  struct context *c = NULL;
  if (napi_typeof(env, value, &type) != napi_ok || type != napi_external || napi_get_value_external(env, value, (void **)&c) != napi_ok) return NULL;
  return c;
}

/*
 * The arguments of a call taking `want` of them into `argv`, the first being
 * the context open() made; NULL after throwing `usage` (a TypeError) when
 * fewer came or the first is no context.
 */
static struct context *context_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv, const char *usage) {
  size_t argc = want;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  struct context *c = argc >= want ? context_of(env, argv[0]) : NULL;
  if (!c) napi_throw_type_error(env, NULL, usage);
  return c;
}

/* run(context, commands: string) -> { ok: boolean, output: string, error: string } */
static napi_value run(napi_env env, napi_callback_info info) {
  static const char usage[] = "nftables: run expects a context from open()";
  napi_value argv[2];
  struct context *c = context_args(env, info, 2, argv, usage);
  if (!c) return NULL;
  if (!c->nft) {
    napi_throw_type_error(env, NULL, usage);
    return NULL;
  }
  size_t len;
  if (napi_get_value_string_utf8(env, argv[1], NULL, 0, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "nftables: run expects the commands as a string");
    return NULL;
  }
  char *commands = malloc(len + 1);
  if (!commands) return fail(env, "run", "out of memory");
  if (napi_get_value_string_utf8(env, argv[1], commands, len + 1, &len) != napi_ok) {
    free(commands);
    return fail(env, "run", "cannot read the commands");
  }
  if (c->netns_fd >= 0 && setns(c->netns_fd, CLONE_NEWNET) != 0) {
    int err = errno;
    free(commands);
    return fail(env, "setns into the namespace", strerror(err));
  }
  int rc = lib.run(c->nft, commands);
  free(commands);
  if (c->netns_fd >= 0 && setns(c->home_fd, CLONE_NEWNET) != 0) {
    /* The thread would stay in the wrong namespace: nothing after this is safe. */
    fprintf(stderr, "nftables: cannot return to the home network namespace: %s\n", strerror(errno));
    abort();
  }
  napi_value result, ok;
  CHECK(napi_create_object(env, &result));
  CHECK(napi_get_boolean(env, rc == 0, &ok));
  CHECK(napi_set_named_property(env, result, "ok", ok));
  if (!set_string(env, result, "output", lib.get_output(c->nft)) ||
      !set_string(env, result, "error", lib.get_error(c->nft))) {
    return NULL;
  }
  return result;
}

/*
 * generation(context) -> number: the ruleset generation id of the context's namespace (NFT_MSG_GETGEN).
 * The kernel bumps it by one on every committed nftables transaction, by anyone: an unchanged id
 * proves that nothing changed since it was read, at the cost of one netlink round trip.
 */
static napi_value generation(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  struct context *c = context_args(env, info, 1, argv, "nftables: generation expects a context from open()");
  if (!c) return NULL;
  if (c->genl_fd < 0) return fail(env, "generation", "no netfilter netlink socket (socket() failed at open)");
  struct {
    struct nlmsghdr nlh;
    struct nfgenmsg nfg;
  } req;
  memset(&req, 0, sizeof req);
  req.nlh.nlmsg_len = NLMSG_LENGTH(sizeof(struct nfgenmsg));
  req.nlh.nlmsg_type = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETGEN;
  req.nlh.nlmsg_flags = NLM_F_REQUEST;
  req.nlh.nlmsg_seq = ++c->seq;
  req.nfg.nfgen_family = AF_UNSPEC;
  req.nfg.version = NFNETLINK_V0;
  struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
  if (sendto(c->genl_fd, &req, req.nlh.nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0) {
    return fail(env, "generation: sendto", strerror(errno));
  }
  char buf[8192] __attribute__((aligned(NLMSG_ALIGNTO)));
  for (;;) {
    ssize_t n = recv(c->genl_fd, buf, sizeof buf, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(env, "generation: recv", strerror(errno));
    }
    for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, n); h = NLMSG_NEXT(h, n)) {
      if (h->nlmsg_seq != c->seq) continue; /* a stale answer to an earlier, failed call */
      if (h->nlmsg_type == NLMSG_ERROR) {
        const struct nlmsgerr *e = NLMSG_DATA(h);
        return fail(env, "generation", e->error ? strerror(-e->error) : "kernel answered without an id");
      }
      if (h->nlmsg_type != ((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWGEN)) continue;
      size_t off = NLMSG_ALIGN(sizeof(struct nfgenmsg));
      const char *attrs = (const char *)NLMSG_DATA(h);
      size_t end = h->nlmsg_len - NLMSG_HDRLEN;
      while (off + NLA_HDRLEN <= end) {
        const struct nlattr *a = (const struct nlattr *)(attrs + off);
        if (a->nla_len < NLA_HDRLEN || off + a->nla_len > end) break;
        if ((a->nla_type & NLA_TYPE_MASK) == NFTA_GEN_ID && a->nla_len >= NLA_HDRLEN + sizeof(uint32_t)) {
          uint32_t id;
          memcpy(&id, (const char *)a + NLA_HDRLEN, sizeof id);
          napi_value out;
          CHECK(napi_create_uint32(env, ntohl(id), &out));
          return out;
        }
        off += NLA_ALIGN(a->nla_len);
      }
      return fail(env, "generation", "answer without NFTA_GEN_ID");
    }
  }
}

/* The table name attribute of an nftables object message: type 1 for tables, chains, rules, sets,
 * set elements, objects and flowtables alike. NULL when absent, malformed or given twice: the kernel
 * reads the last of duplicates, so a first one naming our table must not vouch for the message. */
static const char *message_table(const struct nlmsghdr *h, size_t *len) {
  size_t off = NLMSG_ALIGN(sizeof(struct nfgenmsg));
  const char *attrs = (const char *)NLMSG_DATA(h);
  if (h->nlmsg_len < NLMSG_HDRLEN + off) return NULL;
  size_t end = h->nlmsg_len - NLMSG_HDRLEN;
  const char *name = NULL;
  while (off + NLA_HDRLEN <= end) {
    const struct nlattr *a = (const struct nlattr *)(attrs + off);
    if (a->nla_len < NLA_HDRLEN || off + a->nla_len > end) return NULL;
    if ((a->nla_type & NLA_TYPE_MASK) == 1) {
      if (name) return NULL;
      *len = strnlen((const char *)a + NLA_HDRLEN, a->nla_len - NLA_HDRLEN);
      name = (const char *)a + NLA_HDRLEN;
    }
    off += NLA_ALIGN(a->nla_len);
  }
  return name;
}

/*
 * changes(context, family, table) -> { generations: number[], lost: boolean }
 * Reads every nftables event queued since the last call (without waiting) and returns the generation
 * ids of the transactions that touched table `table` of family `family` (NFPROTO_*), whoever made
 * them. `lost`: the kernel dropped events (the socket overflowed): the caller cannot tell and must
 * compare the table itself.
 */
static napi_value changes(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  struct context *c = context_args(env, info, 3, argv, "nftables: changes expects a context from open(), a family and a table name");
  if (!c) return NULL;
  uint32_t family;
  char table[257];
  size_t table_len;
  if (napi_get_value_uint32(env, argv[1], &family) != napi_ok || family > 255 ||
      napi_get_value_string_utf8(env, argv[2], table, sizeof table, &table_len) != napi_ok || table_len == 0 ||
      table_len >= sizeof table - 1) {
    napi_throw_type_error(env, NULL, "nftables: changes expects a family (0..255) and a table name of 1..255 bytes");
    return NULL;
  }
  if (c->mon_fd < 0) return fail(env, "changes", "no nftables event socket (socket, bind or membership failed at open)");
  napi_value result, generations, lost;
  CHECK(napi_create_object(env, &result));
  CHECK(napi_create_array(env, &generations));
  uint32_t count = 0;
  int overflow = 0;
  char buf[65536] __attribute__((aligned(NLMSG_ALIGNTO)));
  for (;;) {
    ssize_t n = recv(c->mon_fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == ENOBUFS) {
        overflow = 1;
        c->mon_touched = 0;
        continue;
      }
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      return fail(env, "changes: recv", strerror(errno));
    }
    for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, n); h = NLMSG_NEXT(h, n)) {
      if ((h->nlmsg_type >> 8) != NFNL_SUBSYS_NFTABLES) continue;
      int msg = h->nlmsg_type & 0xff;
      if (msg == NFT_MSG_NEWGEN) {
        if (c->mon_touched) {
          size_t off = NLMSG_ALIGN(sizeof(struct nfgenmsg));
          const char *attrs = (const char *)NLMSG_DATA(h);
          size_t end = h->nlmsg_len >= NLMSG_HDRLEN ? h->nlmsg_len - NLMSG_HDRLEN : 0;
          while (off + NLA_HDRLEN <= end) {
            const struct nlattr *a = (const struct nlattr *)(attrs + off);
            if (a->nla_len < NLA_HDRLEN || off + a->nla_len > end) break;
            if ((a->nla_type & NLA_TYPE_MASK) == NFTA_GEN_ID && a->nla_len >= NLA_HDRLEN + sizeof(uint32_t)) {
              uint32_t id;
              memcpy(&id, (const char *)a + NLA_HDRLEN, sizeof id);
              napi_value v;
              CHECK(napi_create_uint32(env, ntohl(id), &v));
              CHECK(napi_set_element(env, generations, count++, v));
              break;
            }
            off += NLA_ALIGN(a->nla_len);
          }
        }
        c->mon_touched = 0;
        continue;
      }
      const struct nfgenmsg *g = NLMSG_DATA(h);
      if (h->nlmsg_len < NLMSG_HDRLEN + sizeof *g || g->nfgen_family != family) continue;
      size_t len;
      const char *name = message_table(h, &len);
      if (name && len == table_len && memcmp(name, table, len) == 0) c->mon_touched = 1;
    }
  }
  CHECK(napi_set_named_property(env, result, "generations", generations));
  CHECK(napi_get_boolean(env, overflow, &lost));
  CHECK(napi_set_named_property(env, result, "lost", lost));
  return result;
}


/* Largest batch batch() takes (the caller sends larger ones through libnftables). */
#define MAX_BATCH_BYTES (16 * 1024 * 1024)

static int allowed_message(int msg) {
  switch (msg) {
    case NFT_MSG_NEWCHAIN:
    case NFT_MSG_DELCHAIN:
    case NFT_MSG_NEWRULE:
    case NFT_MSG_DELRULE:
    case NFT_MSG_NEWSET:
    case NFT_MSG_DELSET:
    case NFT_MSG_NEWSETELEM:
    case NFT_MSG_DELSETELEM:
    case NFT_MSG_NEWOBJ:
    case NFT_MSG_DELOBJ:
      return 1;
    default:
      return 0;
  }
}

/* Appends a batch delimiter (NFNL_MSG_BATCH_BEGIN/END) at `at`; BEGIN carries the generation the batch expects. */
static size_t put_delimiter(char *at, uint16_t type, uint32_t seq, int with_genid, uint32_t genid) {
  struct nlmsghdr *h = (struct nlmsghdr *)at;
  size_t len = NLMSG_LENGTH(sizeof(struct nfgenmsg)) + (with_genid ? NLA_HDRLEN + sizeof(uint32_t) : 0);
  memset(at, 0, NLMSG_ALIGN(len));
  h->nlmsg_len = len;
  h->nlmsg_type = type;
  h->nlmsg_flags = NLM_F_REQUEST;
  h->nlmsg_seq = seq;
  struct nfgenmsg *g = NLMSG_DATA(h);
  g->nfgen_family = AF_UNSPEC;
  g->version = NFNETLINK_V0;
  g->res_id = htons(NFNL_SUBSYS_NFTABLES);
  if (with_genid) {
    struct nlattr *a = (struct nlattr *)((char *)g + NLMSG_ALIGN(sizeof *g));
    a->nla_len = NLA_HDRLEN + sizeof(uint32_t);
    a->nla_type = NFNL_BATCH_GENID;
    uint32_t be = htonl(genid);
    memcpy((char *)a + NLA_HDRLEN, &be, sizeof be);
  }
  return NLMSG_ALIGN(len);
}

/* The extended ack's text (NLMSGERR_ATTR_MSG) of an error message with capped payload, or "". */
static void ack_text(const struct nlmsghdr *h, char *out, size_t size) {
  out[0] = 0;
  if (!(h->nlmsg_flags & NLM_F_ACK_TLVS)) return;
  size_t off = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct nlmsgerr));
  while (off + NLA_HDRLEN <= h->nlmsg_len) {
    const struct nlattr *a = (const struct nlattr *)((const char *)h + off);
    if (a->nla_len < NLA_HDRLEN || off + a->nla_len > h->nlmsg_len) return;
    if ((a->nla_type & NLA_TYPE_MASK) == NLMSGERR_ATTR_MSG) {
      size_t n = strnlen((const char *)a + NLA_HDRLEN, a->nla_len - NLA_HDRLEN);
      if (n >= size) n = size - 1;
      memcpy(out, (const char *)a + NLA_HDRLEN, n);
      out[n] = 0;
      return;
    }
    off += NLA_ALIGN(a->nla_len);
  }
}

/*
 * batch(context, table, messages: Buffer, generation) -> { ok, uncertain, errno, restart, index, message }
 *
 * Sends `messages` (complete nf_tables messages, family inet, each naming
 * table `table`: chains, rules, sets, set elements and stateful objects
 * (a rule's named limit) only) as one NFNL
 * batch: one transaction, all or nothing. BATCH_BEGIN carries
 * `generation`: the kernel refuses the batch (restart: true, ERESTART) when
 * any commit moved the ruleset's generation since the caller read it, so a
 * batch committed as generation + 1 exactly. Every message is acknowledged
 * (capped); ok: all were and none failed. errno/index/message: the first
 * refusal (index of the message in `messages`, -1 for the batch itself).
 * uncertain: no refusal but acknowledgements missing (the receive queue
 * overflowed): whether it committed is unknown.
 */
static napi_value batch(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  struct context *c = context_args(env, info, 4, argv, "nftables: batch expects a context from open(), a table name, a Buffer of messages and a generation");
  if (!c) return NULL;
  char table[257];
  size_t table_len;
  if (napi_get_value_string_utf8(env, argv[1], table, sizeof table, &table_len) != napi_ok || table_len == 0 || table_len >= sizeof table - 1) {
    napi_throw_type_error(env, NULL, "nftables: batch expects a table name of 1..255 bytes");
    return NULL;
  }
  bool is_buffer = false;
  void *input = NULL;
  size_t input_len = 0;
  if (napi_is_buffer(env, argv[2], &is_buffer) != napi_ok || !is_buffer || napi_get_buffer_info(env, argv[2], &input, &input_len) != napi_ok ||
      input_len == 0 || input_len > MAX_BATCH_BYTES) {
    napi_throw_type_error(env, NULL, "nftables: batch expects the messages as a Buffer of 1.." "16777216 bytes");
    return NULL;
  }
  napi_valuetype type;
  double generation_value;
  if (napi_typeof(env, argv[3], &type) != napi_ok || type != napi_number || napi_get_value_double(env, argv[3], &generation_value) != napi_ok ||
      !(generation_value >= 1 && generation_value <= 4294967295.0) || generation_value != (double)(uint32_t)generation_value) {
    /* 0 would turn the kernel's generation check off. */
    napi_throw_type_error(env, NULL, "nftables: batch expects the generation as an integer 1..2^32-1");
    return NULL;
  }
  uint32_t genid = (uint32_t)generation_value;
  if (c->batch_fd < 0) return fail(env, "batch", "no netfilter netlink socket for batches (socket or its options failed at open)");

  size_t delimiters = 2 * NLMSG_ALIGN(NLMSG_LENGTH(sizeof(struct nfgenmsg)) + NLA_HDRLEN + sizeof(uint32_t));
  char *buf = malloc(input_len + delimiters + NLMSG_ALIGNTO);
  if (!buf) return fail(env, "batch", "out of memory");
  uint32_t base = c->seq;
  size_t len = put_delimiter(buf, NFNL_MSG_BATCH_BEGIN, base, 1, genid);
  uint32_t count = 0;
  /* Each message checked on the copy: framing, kind, family and table. */
  for (size_t off = 0; off < input_len; count++) {
    char why[160];
    const char *reason = NULL;
    struct nlmsghdr *h = (struct nlmsghdr *)(buf + len);
    if (input_len - off < NLMSG_LENGTH(sizeof(struct nfgenmsg))) {
      reason = "truncated header";
    } else {
      memcpy(h, (const char *)input + off, NLMSG_HDRLEN);
      if (h->nlmsg_len < NLMSG_LENGTH(sizeof(struct nfgenmsg)) || h->nlmsg_len > input_len - off) reason = "bad length";
    }
    if (!reason) {
      /* The checked length stays: the Buffer's memory may change under us (a SharedArrayBuffer). */
      uint32_t checked_len = h->nlmsg_len;
      memcpy(h, (const char *)input + off, checked_len);
      h->nlmsg_len = checked_len;
      const struct nfgenmsg *g = NLMSG_DATA(h);
      size_t name_len = 0;
      const char *name = message_table(h, &name_len);
      if ((h->nlmsg_type >> 8) != NFNL_SUBSYS_NFTABLES || !allowed_message(h->nlmsg_type & 0xff)) reason = "not a chain, rule, set, element or object message";
      else if (h->nlmsg_flags & ~(NLM_F_CREATE | NLM_F_APPEND | NLM_F_EXCL)) reason = "flags other than create, append, excl";
      else if (g->nfgen_family != NFPROTO_INET) reason = "family is not inet";
      else if (!name || name_len != table_len || memcmp(name, table, table_len) != 0) reason = "names another table";
    }
    if (reason) {
      free(buf);
      snprintf(why, sizeof why, "message %u at byte %zu: %s", count, off, reason);
      return fail(env, "batch", why);
    }
    off += NLMSG_ALIGN(h->nlmsg_len);
    h->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
    h->nlmsg_seq = base + 1 + count;
    h->nlmsg_pid = 0;
    len += NLMSG_ALIGN(h->nlmsg_len);
  }
  len += put_delimiter(buf + len, NFNL_MSG_BATCH_END, base + 1 + count, 0, 0);
  c->seq = base + 2 + count;

  /* Answers to an earlier call that failed midway are stale: drop them first. */
  char rbuf[65536] __attribute__((aligned(NLMSG_ALIGNTO)));
  while (recv(c->batch_fd, rbuf, sizeof rbuf, MSG_DONTWAIT) > 0 || errno == ENOBUFS || errno == EINTR) {
  }
  struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
  ssize_t sent;
  do sent = sendto(c->batch_fd, buf, len, 0, (struct sockaddr *)&kernel, sizeof kernel);
  while (sent < 0 && errno == EINTR);
  int send_errno = errno;
  free(buf);
  if (sent < 0) return fail(env, "batch: sendto", strerror(send_errno));

  /* The kernel runs the whole batch inside sendto(): every answer is queued by now. */
  uint32_t acked = 0;
  int error = 0, lost = 0;
  int64_t index = -1;
  char text[256] = "";
  for (;;) {
    ssize_t n = recv(c->batch_fd, rbuf, sizeof rbuf, MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == ENOBUFS) {
        lost = 1;
        continue;
      }
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      /* The batch was sent and may have committed: uncertain (the caller rewrites the table whole), not a failure. */
      lost = 1;
      break;
    }
    for (struct nlmsghdr *h = (struct nlmsghdr *)rbuf; NLMSG_OK(h, n); h = NLMSG_NEXT(h, n)) {
      if (h->nlmsg_type != NLMSG_ERROR || h->nlmsg_len < NLMSG_LENGTH(sizeof(struct nlmsgerr))) continue;
      uint32_t seq = h->nlmsg_seq;
      if (seq - base > count + 1) continue; /* not this batch's */
      const struct nlmsgerr *e = NLMSG_DATA(h);
      if (e->error == 0) {
        if (seq != base) acked++;
      } else if (!error) {
        error = -e->error;
        index = seq == base ? -1 : (int64_t)(seq - base - 1);
        ack_text(h, text, sizeof text);
      }
    }
  }
  napi_value result, v;
  CHECK(napi_create_object(env, &result));
  CHECK(napi_get_boolean(env, !error && !lost && acked == count, &v));
  CHECK(napi_set_named_property(env, result, "ok", v));
  CHECK(napi_get_boolean(env, !error && (lost || acked != count), &v));
  CHECK(napi_set_named_property(env, result, "uncertain", v));
  CHECK(napi_create_int32(env, error, &v));
  CHECK(napi_set_named_property(env, result, "errno", v));
  CHECK(napi_get_boolean(env, error == ERESTART, &v));
  CHECK(napi_set_named_property(env, result, "restart", v));
  CHECK(napi_create_int64(env, index, &v));
  CHECK(napi_set_named_property(env, result, "index", v));
  char message[512];
  snprintf(message, sizeof message, "%s%s%s", error ? strerror(error) : "", text[0] ? ": " : "", text);
  if (!set_string(env, result, "message", message)) return NULL;
  return result;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"open", NULL, open_context, NULL, NULL, NULL, napi_default, NULL},
      {"run", NULL, run, NULL, NULL, NULL, napi_default, NULL},
      {"generation", NULL, generation, NULL, NULL, NULL, napi_default, NULL},
      {"changes", NULL, changes, NULL, NULL, NULL, napi_default, NULL},
      {"batch", NULL, batch, NULL, NULL, NULL, napi_default, NULL},
  };
  CHECK(napi_define_properties(env, exports, sizeof props / sizeof props[0], props));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
