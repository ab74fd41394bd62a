/*
 * sd_notify without libsystemd: one datagram on the AF_UNIX socket named by
 * $NOTIFY_SOCKET (a path, or "@name" for the abstract namespace). Node.js
 * has no UNIX datagram sockets, and the message must come from the daemon's
 * own pid (systemd's NotifyAccess=main), so a child process cannot send it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <node_api.h>

#define CHECK(call)                                                         \
  do {                                                                      \
    if ((call) != napi_ok) {                                                \
      napi_throw_error(env, NULL, "sdnotify: N-API call failed: " #call);  \
      return NULL;                                                          \
    }                                                                       \
  } while (0)

/* A string argument copied into buf (NUL-terminated); its length in *len, or throws. */
static int string_arg(napi_env env, napi_value value, const char *what, char *buf, size_t size, size_t *len) {
  napi_valuetype type;
  if (napi_typeof(env, value, &type) != napi_ok || type != napi_string) {
    char message[96];
    snprintf(message, sizeof message, "sdnotify: %s must be a string", what);
    napi_throw_type_error(env, NULL, message);
    return 0;
  }
  size_t needed;
  if (napi_get_value_string_utf8(env, value, NULL, 0, &needed) != napi_ok) {
    napi_throw_error(env, NULL, "sdnotify: cannot read a string argument");
    return 0;
  }
  if (needed >= size) {
    char message[96];
    snprintf(message, sizeof message, "sdnotify: %s is longer than %zu bytes", what, size - 1);
    napi_throw_range_error(env, NULL, message);
    return 0;
  }
  if (napi_get_value_string_utf8(env, value, buf, size, len) != napi_ok) {
    napi_throw_error(env, NULL, "sdnotify: cannot read a string argument");
    return 0;
  }
  return 1;
}

/* notify(socketPath, message): sends message as one datagram; throws with errno text on failure. */
static napi_value notify(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2) {
    napi_throw_type_error(env, NULL, "sdnotify: notify(socketPath, message) takes two strings");
    return NULL;
  }
  struct sockaddr_un addr;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  char path[sizeof addr.sun_path + 1];
  size_t path_len;
  if (!string_arg(env, argv[0], "socketPath", path, sizeof path, &path_len)) return NULL;
  if (path_len == 0 || (path[0] != '/' && path[0] != '@')) {
    napi_throw_range_error(env, NULL, "sdnotify: socketPath must be absolute or start with @ (abstract)");
    return NULL;
  }
  if (path_len > sizeof addr.sun_path) {
    napi_throw_range_error(env, NULL, "sdnotify: socketPath is too long for a UNIX socket address");
    return NULL;
  }
  memcpy(addr.sun_path, path, path_len);
  if (path[0] == '@') addr.sun_path[0] = '\0';
  socklen_t addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + path_len);

  char message[4096];
  size_t message_len;
  if (!string_arg(env, argv[1], "message", message, sizeof message, &message_len)) return NULL;

  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    char text[160];
    snprintf(text, sizeof text, "sdnotify: socket: %s", strerror(errno));
    napi_throw_error(env, NULL, text);
    return NULL;
  }
  ssize_t sent = sendto(fd, message, message_len, MSG_NOSIGNAL, (struct sockaddr *)&addr, addr_len);
  int err = errno;
  close(fd);
  if (sent < 0) {
    char text[160 + sizeof path];
    snprintf(text, sizeof text, "sdnotify: sendto %s: %s", path, strerror(err));
    napi_throw_error(env, NULL, text);
    return NULL;
  }
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_value fn;
  CHECK(napi_create_function(env, "notify", NAPI_AUTO_LENGTH, notify, NULL, &fn));
  CHECK(napi_set_named_property(env, exports, "notify", fn));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
