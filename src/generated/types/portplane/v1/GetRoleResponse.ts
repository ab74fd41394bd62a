// Original file: proto/portplane/v1/ha_service.proto

import type { HARole as _portplane_v1_HARole, HARole__Output as _portplane_v1_HARole__Output } from '../../portplane/v1/HARole.js';
import type { Timestamp as _google_protobuf_Timestamp, Timestamp__Output as _google_protobuf_Timestamp__Output } from '../../google/protobuf/Timestamp.js';
import type { SyncStatus as _portplane_v1_SyncStatus, SyncStatus__Output as _portplane_v1_SyncStatus__Output } from '../../portplane/v1/SyncStatus.js';
import type { Long } from '@grpc/proto-loader';

export interface GetRoleResponse {
  'role'?: (_portplane_v1_HARole);
  'since'?: (_google_protobuf_Timestamp | null);
  'role_changes'?: (number | string | Long);
  'sync'?: (_portplane_v1_SyncStatus | null);
  'session_sync_supported'?: (boolean);
  'unsupported_reason'?: (string);
}

export interface GetRoleResponse__Output {
  'role': (_portplane_v1_HARole__Output);
  'since': (_google_protobuf_Timestamp__Output | null);
  'role_changes': (string);
  'sync': (_portplane_v1_SyncStatus__Output | null);
  'session_sync_supported': (boolean);
  'unsupported_reason': (string);
}
