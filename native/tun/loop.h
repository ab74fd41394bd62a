/* The native packet loop's N-API functions (loop.c), added to the addon's exports by tun.c. */
#ifndef PORTPLANE_LOOP_H
#define PORTPLANE_LOOP_H

#include <node_api.h>

napi_status loop_register(napi_env env, napi_value exports);

#endif
