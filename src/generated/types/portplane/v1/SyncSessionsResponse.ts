// Original file: proto/portplane/v1/ha_service.proto

import type { SessionEvent as _portplane_v1_SessionEvent, SessionEvent__Output as _portplane_v1_SessionEvent__Output } from '../../portplane/v1/SessionEvent.js';
import type { Timestamp as _google_protobuf_Timestamp, Timestamp__Output as _google_protobuf_Timestamp__Output } from '../../google/protobuf/Timestamp.js';
import type { Long } from '@grpc/proto-loader';

export interface SyncSessionsResponse {
  'events'?: (_portplane_v1_SessionEvent)[];
  'head_sequence'?: (number | string | Long);
  'backend_epoch'?: (string);
  'sent_at'?: (_google_protobuf_Timestamp | null);
}

export interface SyncSessionsResponse__Output {
  'events': (_portplane_v1_SessionEvent__Output)[];
  'head_sequence': (string);
  'backend_epoch': (string);
  'sent_at': (_google_protobuf_Timestamp__Output | null);
}
