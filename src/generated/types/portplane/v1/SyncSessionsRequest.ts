// Original file: proto/portplane/v1/ha_service.proto

import type { SyncHello as _portplane_v1_SyncHello, SyncHello__Output as _portplane_v1_SyncHello__Output } from '../../portplane/v1/SyncHello.js';
import type { SyncAck as _portplane_v1_SyncAck, SyncAck__Output as _portplane_v1_SyncAck__Output } from '../../portplane/v1/SyncAck.js';

export interface SyncSessionsRequest {
  'hello'?: (_portplane_v1_SyncHello | null);
  'ack'?: (_portplane_v1_SyncAck | null);
  'message'?: "hello"|"ack";
}

export interface SyncSessionsRequest__Output {
  'hello'?: (_portplane_v1_SyncHello__Output | null);
  'ack'?: (_portplane_v1_SyncAck__Output | null);
  'message'?: "hello"|"ack";
}
