// Original file: proto/portplane/v1/ha_service.proto

import type { SyncState as _portplane_v1_SyncState, SyncState__Output as _portplane_v1_SyncState__Output } from '../../portplane/v1/SyncState.js';
import type { Timestamp as _google_protobuf_Timestamp, Timestamp__Output as _google_protobuf_Timestamp__Output } from '../../google/protobuf/Timestamp.js';
import type { Long } from '@grpc/proto-loader';

export interface SyncStatus {
  'state'?: (_portplane_v1_SyncState);
  'detail'?: (string);
  'peer'?: (string);
  'lag_events'?: (number | string | Long);
  'lag_millis'?: (number | string | Long);
  'peer_epoch'?: (string);
  'applied_sequence'?: (number | string | Long);
  'last_bulk_sync_at'?: (_google_protobuf_Timestamp | null);
  'bulk_syncs'?: (number | string | Long);
  'resent_events'?: (number | string | Long);
  'sessions_imported'?: (number | string | Long);
  'sessions_rejected'?: (number | string | Long);
  'late_heartbeats'?: (number | string | Long);
  'reconnects'?: (number | string | Long);
}

export interface SyncStatus__Output {
  'state': (_portplane_v1_SyncState__Output);
  'detail': (string);
  'peer': (string);
  'lag_events': (string);
  'lag_millis': (string);
  'peer_epoch': (string);
  'applied_sequence': (string);
  'last_bulk_sync_at': (_google_protobuf_Timestamp__Output | null);
  'bulk_syncs': (string);
  'resent_events': (string);
  'sessions_imported': (string);
  'sessions_rejected': (string);
  'late_heartbeats': (string);
  'reconnects': (string);
}
