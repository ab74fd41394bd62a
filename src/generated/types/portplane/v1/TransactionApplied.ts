// Original file: proto/portplane/v1/transaction.proto

import type { ApplyResult as _portplane_v1_ApplyResult, ApplyResult__Output as _portplane_v1_ApplyResult__Output } from '../../portplane/v1/ApplyResult.js';
import type { Plan as _portplane_v1_Plan, Plan__Output as _portplane_v1_Plan__Output } from '../../portplane/v1/Plan.js';
import type { PortOutcome as _portplane_v1_PortOutcome, PortOutcome__Output as _portplane_v1_PortOutcome__Output } from '../../portplane/v1/PortOutcome.js';
import type { PendingApply as _portplane_v1_PendingApply, PendingApply__Output as _portplane_v1_PendingApply__Output } from '../../portplane/v1/PendingApply.js';

export interface TransactionApplied {
  'result'?: (_portplane_v1_ApplyResult | null);
  'plan'?: (_portplane_v1_Plan | null);
  'ports'?: (_portplane_v1_PortOutcome)[];
  'pending'?: (_portplane_v1_PendingApply | null);
}

export interface TransactionApplied__Output {
  'result': (_portplane_v1_ApplyResult__Output | null);
  'plan': (_portplane_v1_Plan__Output | null);
  'ports': (_portplane_v1_PortOutcome__Output)[];
  'pending': (_portplane_v1_PendingApply__Output | null);
}
