// Original file: proto/portplane/v1/transaction.proto

import type { ApplyResult as _portplane_v1_ApplyResult, ApplyResult__Output as _portplane_v1_ApplyResult__Output } from '../../portplane/v1/ApplyResult.js';
import type { ApplyHistoryEntry as _portplane_v1_ApplyHistoryEntry, ApplyHistoryEntry__Output as _portplane_v1_ApplyHistoryEntry__Output } from '../../portplane/v1/ApplyHistoryEntry.js';
import type { Long } from '@grpc/proto-loader';

export interface TransactionRolledBack {
  'rolled_back_generation'?: (number | string | Long);
  'result'?: (_portplane_v1_ApplyResult | null);
  'reason'?: (string);
  'restored'?: (_portplane_v1_ApplyHistoryEntry | null);
}

export interface TransactionRolledBack__Output {
  'rolled_back_generation': (string);
  'result': (_portplane_v1_ApplyResult__Output | null);
  'reason': (string);
  'restored': (_portplane_v1_ApplyHistoryEntry__Output | null);
}
