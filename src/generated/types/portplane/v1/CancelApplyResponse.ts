// Original file: proto/portplane/v1/confirm.proto

import type { ApplyResult as _portplane_v1_ApplyResult, ApplyResult__Output as _portplane_v1_ApplyResult__Output } from '../../portplane/v1/ApplyResult.js';
import type { ApplyHistoryEntry as _portplane_v1_ApplyHistoryEntry, ApplyHistoryEntry__Output as _portplane_v1_ApplyHistoryEntry__Output } from '../../portplane/v1/ApplyHistoryEntry.js';

export interface CancelApplyResponse {
  'result'?: (_portplane_v1_ApplyResult | null);
  'rolled_back'?: (_portplane_v1_ApplyHistoryEntry | null);
  'restored'?: (_portplane_v1_ApplyHistoryEntry | null);
}

export interface CancelApplyResponse__Output {
  'result': (_portplane_v1_ApplyResult__Output | null);
  'rolled_back': (_portplane_v1_ApplyHistoryEntry__Output | null);
  'restored': (_portplane_v1_ApplyHistoryEntry__Output | null);
}
