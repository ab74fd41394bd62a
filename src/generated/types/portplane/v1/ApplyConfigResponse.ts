// Original file: proto/portplane/v1/config_service.proto

import type { ApplyResult as _portplane_v1_ApplyResult, ApplyResult__Output as _portplane_v1_ApplyResult__Output } from '../../portplane/v1/ApplyResult.js';
import type { Plan as _portplane_v1_Plan, Plan__Output as _portplane_v1_Plan__Output } from '../../portplane/v1/Plan.js';
import type { PendingApply as _portplane_v1_PendingApply, PendingApply__Output as _portplane_v1_PendingApply__Output } from '../../portplane/v1/PendingApply.js';

export interface ApplyConfigResponse {
  'result'?: (_portplane_v1_ApplyResult | null);
  'plan'?: (_portplane_v1_Plan | null);
  'pending'?: (_portplane_v1_PendingApply | null);
}

export interface ApplyConfigResponse__Output {
  'result': (_portplane_v1_ApplyResult__Output | null);
  'plan': (_portplane_v1_Plan__Output | null);
  'pending': (_portplane_v1_PendingApply__Output | null);
}
