// Original file: proto/portplane/v1/confirm.proto

import type { Timestamp as _google_protobuf_Timestamp, Timestamp__Output as _google_protobuf_Timestamp__Output } from '../../google/protobuf/Timestamp.js';
import type { PendingOwner as _portplane_v1_PendingOwner, PendingOwner__Output as _portplane_v1_PendingOwner__Output } from '../../portplane/v1/PendingOwner.js';
import type { ApplyHistoryEntry as _portplane_v1_ApplyHistoryEntry, ApplyHistoryEntry__Output as _portplane_v1_ApplyHistoryEntry__Output } from '../../portplane/v1/ApplyHistoryEntry.js';
import type { Long } from '@grpc/proto-loader';

export interface PendingApply {
  'generation'?: (number | string | Long);
  'base_generation'?: (number | string | Long);
  'deadline'?: (_google_protobuf_Timestamp | null);
  'owner'?: (_portplane_v1_PendingOwner);
  'entry'?: (_portplane_v1_ApplyHistoryEntry | null);
}

export interface PendingApply__Output {
  'generation': (string);
  'base_generation': (string);
  'deadline': (_google_protobuf_Timestamp__Output | null);
  'owner': (_portplane_v1_PendingOwner__Output);
  'entry': (_portplane_v1_ApplyHistoryEntry__Output | null);
}
