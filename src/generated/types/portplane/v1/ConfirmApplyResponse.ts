// Original file: proto/portplane/v1/confirm.proto

import type { ApplyResult as _portplane_v1_ApplyResult, ApplyResult__Output as _portplane_v1_ApplyResult__Output } from '../../portplane/v1/ApplyResult.js';

export interface ConfirmApplyResponse {
  'result'?: (_portplane_v1_ApplyResult | null);
}

export interface ConfirmApplyResponse__Output {
  'result': (_portplane_v1_ApplyResult__Output | null);
}
