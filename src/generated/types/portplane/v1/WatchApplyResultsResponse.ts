// Original file: proto/portplane/v1/watch.proto

import type { ApplyEventKind as _portplane_v1_ApplyEventKind, ApplyEventKind__Output as _portplane_v1_ApplyEventKind__Output } from '../../portplane/v1/ApplyEventKind.js';
import type { ApplyResult as _portplane_v1_ApplyResult, ApplyResult__Output as _portplane_v1_ApplyResult__Output } from '../../portplane/v1/ApplyResult.js';
import type { ApplyHistoryEntry as _portplane_v1_ApplyHistoryEntry, ApplyHistoryEntry__Output as _portplane_v1_ApplyHistoryEntry__Output } from '../../portplane/v1/ApplyHistoryEntry.js';
import type { PendingApply as _portplane_v1_PendingApply, PendingApply__Output as _portplane_v1_PendingApply__Output } from '../../portplane/v1/PendingApply.js';
import type { Long } from '@grpc/proto-loader';

export interface WatchApplyResultsResponse {
  'kind'?: (_portplane_v1_ApplyEventKind);
  'generation'?: (number | string | Long);
  'result'?: (_portplane_v1_ApplyResult | null);
  'entry'?: (_portplane_v1_ApplyHistoryEntry | null);
  'restored'?: (_portplane_v1_ApplyHistoryEntry | null);
  'pending'?: (_portplane_v1_PendingApply | null);
}

export interface WatchApplyResultsResponse__Output {
  'kind': (_portplane_v1_ApplyEventKind__Output);
  'generation': (string);
  'result': (_portplane_v1_ApplyResult__Output | null);
  'entry': (_portplane_v1_ApplyHistoryEntry__Output | null);
  'restored': (_portplane_v1_ApplyHistoryEntry__Output | null);
  'pending': (_portplane_v1_PendingApply__Output | null);
}
