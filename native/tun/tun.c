/*
 * A Linux TUN device for the userspace packet backend: open() attaches to
 * (or creates) a layer-3 TUN interface with TUNSETIFF (IFF_TUN | IFF_NO_PI,
 * so every read and write is exactly one IP packet), and startReader() polls
 * the non-blocking descriptor on Node's own event loop (uv_poll), handing
 * each packet to JavaScript in place. Node.js cannot do either: net.Socket
 * rejects a character device, and fs.read would park a threadpool thread in
 * a read that close() cannot interrupt. Writes go through fs.writeSync.
 *
 * With offloads (open(name, true)) the device is opened with IFF_VNET_HDR:
 * every read and write starts with a virtio-net header, and TUNSETOFFLOAD
 * lets the kernel hand over (and take back) GSO super-packets of up to
 * 64 KiB with partial checksums instead of MTU-sized segments. The native
 * loop (loop.c) then moves the packets.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <node_api.h>
#include <uv.h>

#include "loop.h"

/* USO arrived in Linux 6.2; older headers lack the flags (and older kernels refuse them: probed). */
#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20
#endif
#ifndef TUN_F_USO6
#define TUN_F_USO6 0x40
#endif

/* Packets read per readiness event, so a flood cannot starve the rest of the loop. */
#define BATCH 64

#define CHECK(call)                                                   \
  do {                                                                \
    if ((call) != napi_ok) {                                          \
      napi_throw_error(env, NULL, "tun: N-API call failed: " #call); \
      return NULL;                                                    \
    }                                                                 \
  } while (0)

typedef struct {
  uv_poll_t poll;
  napi_env env;
  int fd;
  uint8_t *data;
  size_t size;
  napi_ref callback;
  napi_ref buffer;
  napi_async_context context;
  int stopped;
  /* Owners: the poll handle until on_close, and the JavaScript handle until its finaliser; the last frees. */
  int owners;
} reader_t;

static napi_value throw_errno(napi_env env, const char *what, const char *name, int err) {
  char message[200];
  snprintf(message, sizeof message, "tun: %s %s: %s", what, name, strerror(err));
  napi_value code, msg, error;
  if (napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &msg) != napi_ok) return NULL;
  if (napi_create_string_utf8(env, strerrorname_np(err) ? strerrorname_np(err) : "EUNKNOWN", NAPI_AUTO_LENGTH, &code) != napi_ok) return NULL;
  if (napi_create_error(env, code, msg, &error) != napi_ok) return NULL;
  napi_throw(env, error);
  return NULL;
}

/* The offload sets tried in order, most first: a kernel refuses a set with a flag it does not know (EINVAL). */
static const struct {
  unsigned flags;
  const char *names;
} OFFLOAD_SETS[] = {
  {TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_USO4 | TUN_F_USO6, "csum,tso4,tso6,uso4,uso6"},
  {TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6, "csum,tso4,tso6"},
  {TUN_F_CSUM, "csum"},
};

/*
 * open(name, offloads, multiQueue) -> { fd, name, vnetHeader, offloads, offloadError }: name may be a pattern
 * such as "pp%d"; the kernel's choice is returned. With offloads, IFF_VNET_HDR and the largest offload set the
 * kernel accepts ("" and the reason in offloadError when none). With multiQueue (IFF_MULTI_QUEUE), each open
 * of the same name attaches one more queue: the kernel spreads the flows it sends to portplane over them.
 */
static napi_value tun_open(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  char name[IFNAMSIZ] = {0};
  size_t len = 0;
  bool offloads = false;
  bool multi_queue = false;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || napi_get_value_string_utf8(env, argv[0], name, sizeof name, &len) != napi_ok || len == 0 || len >= IFNAMSIZ - 1 ||
      (argc >= 2 && napi_get_value_bool(env, argv[1], &offloads) != napi_ok) || (argc >= 3 && napi_get_value_bool(env, argv[2], &multi_queue) != napi_ok)) {
    napi_throw_type_error(env, NULL, "tun: open(name, offloads, multiQueue): expected an interface name of 1 to 14 characters and two booleans");
    return NULL;
  }
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return throw_errno(env, "open /dev/net/tun for", name, errno);
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI | (offloads ? IFF_VNET_HDR : 0) | (multi_queue ? IFF_MULTI_QUEUE : 0);
  memcpy(ifr.ifr_name, name, len);
  if (ioctl(fd, TUNSETIFF, &ifr) != 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, "TUNSETIFF", name, err);
  }
  const char *enabled = "";
  char offload_error[120] = "";
  if (offloads) {
    int err = 0;
    for (size_t i = 0; i < sizeof OFFLOAD_SETS / sizeof OFFLOAD_SETS[0]; i++) {
      if (ioctl(fd, TUNSETOFFLOAD, OFFLOAD_SETS[i].flags) == 0) {
        enabled = OFFLOAD_SETS[i].names;
        break;
      }
      err = errno;
    }
    if (!*enabled) snprintf(offload_error, sizeof offload_error, "TUNSETOFFLOAD refused every set: %s", strerror(err));
  }
  napi_value result, vfd, vname, vvnet, voffloads, verror;
  if (napi_create_object(env, &result) != napi_ok || napi_create_int32(env, fd, &vfd) != napi_ok ||
      napi_create_string_utf8(env, ifr.ifr_name, strnlen(ifr.ifr_name, IFNAMSIZ), &vname) != napi_ok ||
      napi_get_boolean(env, offloads, &vvnet) != napi_ok || napi_create_string_utf8(env, enabled, NAPI_AUTO_LENGTH, &voffloads) != napi_ok ||
      napi_create_string_utf8(env, offload_error, NAPI_AUTO_LENGTH, &verror) != napi_ok || napi_set_named_property(env, result, "fd", vfd) != napi_ok ||
      napi_set_named_property(env, result, "name", vname) != napi_ok || napi_set_named_property(env, result, "vnetHeader", vvnet) != napi_ok ||
      napi_set_named_property(env, result, "offloads", voffloads) != napi_ok || napi_set_named_property(env, result, "offloadError", verror) != napi_ok) {
    close(fd);
    napi_throw_error(env, NULL, "tun: open: N-API call failed building the result");
    return NULL;
  }
  return result;
}

/*
 * Calls callback(length); false when JavaScript threw. The exception is
 * reported as a process warning and reading goes on with the next readiness:
 * a handler's bug must not take the daemon down.
 */
static int deliver(reader_t *r, napi_value callback, napi_value recv, int64_t length) {
  napi_env env = r->env;
  napi_value arg, result;
  if (napi_create_int64(env, length, &arg) != napi_ok) return 0;
  if (napi_make_callback(env, r->context, recv, callback, 1, &arg, &result) == napi_ok) return 1;
  napi_value exception, global, process, warn, ignored;
  if (napi_get_and_clear_last_exception(env, &exception) != napi_ok) return 0;
  if (napi_get_global(env, &global) == napi_ok && napi_get_named_property(env, global, "process", &process) == napi_ok &&
      napi_get_named_property(env, process, "emitWarning", &warn) == napi_ok) {
    napi_call_function(env, process, warn, 1, &exception, &ignored);
  }
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending) napi_get_and_clear_last_exception(env, &ignored);
  return 0;
}

static void on_readable(uv_poll_t *handle, int status, int events) {
  (void)events;
  reader_t *r = handle->data;
  if (r->stopped) return;
  napi_env env = r->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value callback, recv;
  if (napi_get_reference_value(env, r->callback, &callback) == napi_ok && napi_get_global(env, &recv) == napi_ok) {
    if (status < 0) {
      /* The descriptor is unusable: stop polling (or it would spin) and say why. */
      uv_poll_stop(handle);
      deliver(r, callback, recv, status);
    } else {
      for (int i = 0; i < BATCH && !r->stopped; i++) {
        ssize_t n = read(r->fd, r->data, r->size);
        if (n < 0) {
          if (errno == EINTR) continue;
          if (errno == EAGAIN || errno == EWOULDBLOCK) break;
          uv_poll_stop(handle);
          deliver(r, callback, recv, -errno);
          break;
        }
        if (!deliver(r, callback, recv, n)) break;
      }
    }
  }
  napi_close_handle_scope(env, scope);
}

static void reader_release(reader_t *r) {
  if (--r->owners == 0) free(r);
}

/* Frees what setup took (any part of it may be missing after a failed setup). */
static void on_close(uv_handle_t *handle) {
  reader_t *r = handle->data;
  if (r->callback) napi_delete_reference(r->env, r->callback);
  if (r->buffer) napi_delete_reference(r->env, r->buffer);
  if (r->context) napi_async_destroy(r->env, r->context);
  r->callback = r->buffer = NULL;
  r->context = NULL;
  reader_release(r);
}

static void on_handle_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  reader_release(data);
}

/* startReader(fd, buffer, callback(length)) -> handle: a negative length is -errno of a failed read (reading has stopped). */
static napi_value tun_start_reader(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  int32_t fd;
  void *data;
  size_t size;
  napi_valuetype type;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 3 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0 ||
      napi_get_buffer_info(env, argv[1], &data, &size) != napi_ok || size == 0 ||
      napi_typeof(env, argv[2], &type) != napi_ok || type != napi_function) {
    napi_throw_type_error(env, NULL, "tun: startReader(fd, buffer, callback)");
    return NULL;
  }
  uv_loop_t *loop;
  CHECK(napi_get_uv_event_loop(env, &loop));
  reader_t *r = calloc(1, sizeof *r);
  if (!r) return throw_errno(env, "startReader", "", ENOMEM);
  r->env = env;
  r->fd = fd;
  r->data = data;
  r->size = size;
  r->poll.data = r;
  r->owners = 1; /* the poll handle */
  napi_value resource_name;
  int rc = uv_poll_init(loop, &r->poll, fd);
  if (rc != 0) {
    free(r);
    return throw_errno(env, "uv_poll_init", "", -rc);
  }
  if (napi_create_reference(env, argv[2], 1, &r->callback) != napi_ok || napi_create_reference(env, argv[1], 1, &r->buffer) != napi_ok ||
      napi_create_string_utf8(env, "portplane:tun", NAPI_AUTO_LENGTH, &resource_name) != napi_ok ||
      napi_async_init(env, NULL, resource_name, &r->context) != napi_ok) {
    r->stopped = 1;
    uv_close((uv_handle_t *)&r->poll, on_close);
    napi_throw_error(env, NULL, "tun: startReader: N-API setup failed");
    return NULL;
  }
  rc = uv_poll_start(&r->poll, UV_READABLE, on_readable);
  if (rc != 0) {
    r->stopped = 1;
    uv_close((uv_handle_t *)&r->poll, on_close);
    return throw_errno(env, "uv_poll_start", "", -rc);
  }
  napi_value handle;
  if (napi_create_external(env, r, on_handle_finalize, NULL, &handle) != napi_ok) {
    r->stopped = 1;
    uv_poll_stop(&r->poll);
    uv_close((uv_handle_t *)&r->poll, on_close);
    napi_throw_error(env, NULL, "tun: startReader: N-API setup failed");
    return NULL;
  }
  r->owners++;
  return handle;
}

/* stopReader(handle): no callback after this returns; the caller may then close the descriptor. */
static napi_value tun_stop_reader(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  void *data;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || napi_get_value_external(env, argv[0], &data) != napi_ok || !data) {
    napi_throw_type_error(env, NULL, "tun: stopReader(handle)");
    return NULL;
  }
  reader_t *r = data;
  /* Still ours while the JavaScript handle lives (see owners), so a second stopReader is safe. */
  if (!r->stopped) {
    r->stopped = 1;
    uv_poll_stop(&r->poll);
    /* Freed in on_close, on a later loop turn: a callback may be stopping its own reader. */
    uv_close((uv_handle_t *)&r->poll, on_close);
  }
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"open", NULL, tun_open, NULL, NULL, NULL, napi_default, NULL},
    {"startReader", NULL, tun_start_reader, NULL, NULL, NULL, napi_default, NULL},
    {"stopReader", NULL, tun_stop_reader, NULL, NULL, NULL, napi_default, NULL},
  };
  CHECK(napi_define_properties(env, exports, sizeof props / sizeof props[0], props));
  CHECK(loop_register(env, exports));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
