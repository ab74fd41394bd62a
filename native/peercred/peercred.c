/*
 * Peer credentials of a connected UNIX socket: SO_PEERCRED (pid, uid, gid as
 * of connect()) and SO_PEERGROUPS (the peer's supplementary groups, Linux
 * 4.13+). Node.js exposes neither, and they are what identifies a caller on
 * the control socket without any secret.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <node_api.h>

#define CHECK(call)                                                        \
  do {                                                                     \
    if ((call) != napi_ok) {                                               \
      napi_throw_error(env, NULL, "peercred: N-API call failed: " #call); \
      return NULL;                                                         \
    }                                                                      \
  } while (0)

static napi_value throw_errno(napi_env env, const char *what, int err) {
  char message[160];
  snprintf(message, sizeof message, "peercred: %s: %s", what, strerror(err));
  napi_throw_error(env, NULL, message);
  return NULL;
}

static napi_value set_uint(napi_env env, napi_value obj, const char *key, double value) {
  napi_value v;
  if (napi_create_double(env, value, &v) != napi_ok) return NULL;
  if (napi_set_named_property(env, obj, key, v) != napi_ok) return NULL;
  return obj;
}

/* peerCredentials(fd) -> { pid, uid, gid, groups: number[] | null } */
static napi_value peer_credentials(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) {
    napi_throw_type_error(env, NULL, "peercred: expected a file descriptor");
    return NULL;
  }

  struct ucred cred;
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return throw_errno(env, "SO_PEERCRED", errno);

  napi_value result;
  CHECK(napi_create_object(env, &result));
  if (!set_uint(env, result, "pid", cred.pid) || !set_uint(env, result, "uid", cred.uid) ||
      !set_uint(env, result, "gid", cred.gid)) {
    return NULL;
  }

  napi_value groups;
#ifdef SO_PEERGROUPS
  /* The kernel says how much room it needs with ERANGE; groups can change in between, so retry a few times. */
  gid_t stack[64];
  gid_t *list = stack;
  socklen_t size = sizeof stack;
  int rc = -1;
  for (int attempt = 0; attempt < 4; attempt++) {
    rc = getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, list, &size);
    if (rc == 0 || errno != ERANGE) break;
    if (list != stack) free(list);
    list = malloc(size);
    if (!list) return throw_errno(env, "SO_PEERGROUPS", ENOMEM);
  }
  if (rc == 0) {
    uint32_t count = size / sizeof(gid_t);
    CHECK(napi_create_array_with_length(env, count, &groups));
    for (uint32_t i = 0; i < count; i++) {
      napi_value g;
      CHECK(napi_create_double(env, list[i], &g));
      CHECK(napi_set_element(env, groups, i, g));
    }
  } else {
    /* An older kernel: the primary gid is all we know. */
    CHECK(napi_get_null(env, &groups));
  }
  if (list != stack) free(list);
#else
  CHECK(napi_get_null(env, &groups));
#endif
  CHECK(napi_set_named_property(env, result, "groups", groups));
  return result;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  CHECK(napi_create_function(env, "peerCredentials", NAPI_AUTO_LENGTH, peer_credentials, NULL, &fn));
  CHECK(napi_set_named_property(env, exports, "peerCredentials", fn));
  return exports;
}
