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
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
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
  free(c);
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

/* run(context, commands: string) -> { ok: boolean, output: string, error: string } */
static napi_value run(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  struct context *c = argc >= 2 ? context_of(env, argv[0]) : NULL;
  if (!c || !c->nft) {
    napi_throw_type_error(env, NULL, "nftables: run expects a context from open()");
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
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  struct context *c = argc >= 1 ? context_of(env, argv[0]) : NULL;
  if (!c) {
    napi_throw_type_error(env, NULL, "nftables: generation expects a context from open()");
    return NULL;
  }
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
    for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
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
 * set elements, objects and flowtables alike. NULL when absent. */
static const char *message_table(const struct nlmsghdr *h, size_t *len) {
  size_t off = NLMSG_ALIGN(sizeof(struct nfgenmsg));
  const char *attrs = (const char *)NLMSG_DATA(h);
  if (h->nlmsg_len < NLMSG_HDRLEN + off) return NULL;
  size_t end = h->nlmsg_len - NLMSG_HDRLEN;
  while (off + NLA_HDRLEN <= end) {
    const struct nlattr *a = (const struct nlattr *)(attrs + off);
    if (a->nla_len < NLA_HDRLEN || off + a->nla_len > end) return NULL;
    if ((a->nla_type & NLA_TYPE_MASK) == 1) {
      *len = strnlen((const char *)a + NLA_HDRLEN, a->nla_len - NLA_HDRLEN);
      return (const char *)a + NLA_HDRLEN;
    }
    off += NLA_ALIGN(a->nla_len);
  }
  return NULL;
}

/*
 * changes(context, family, table) -> { generations: number[], lost: boolean }
 * Reads every nftables event queued since the last call (without waiting) and returns the generation
 * ids of the transactions that touched table `table` of family `family` (NFPROTO_*), whoever made
 * them. `lost`: the kernel dropped events (the socket overflowed): the caller cannot tell and must
 * compare the table itself.
 */
static napi_value changes(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  struct context *c = argc >= 3 ? context_of(env, argv[0]) : NULL;
  if (!c) {
    napi_throw_type_error(env, NULL, "nftables: changes expects a context from open(), a family and a table name");
    return NULL;
  }
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
    for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
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

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"open", NULL, open_context, NULL, NULL, NULL, napi_default, NULL},
      {"run", NULL, run, NULL, NULL, NULL, napi_default, NULL},
      {"generation", NULL, generation, NULL, NULL, NULL, napi_default, NULL},
      {"changes", NULL, changes, NULL, NULL, NULL, napi_default, NULL},
  };
  CHECK(napi_define_properties(env, exports, sizeof props / sizeof props[0], props));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
