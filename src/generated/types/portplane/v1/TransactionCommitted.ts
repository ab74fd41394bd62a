// Original file: proto/portplane/v1/transaction.proto

import type { ApplyResult as _portplane_v1_ApplyResult, ApplyResult__Output as _portplane_v1_ApplyResult__Output } from '../../portplane/v1/ApplyResult.js';

export interface TransactionCommitted {
  'result'?: (_portplane_v1_ApplyResult | null);
}

export interface TransactionCommitted__Output {
  'result': (_portplane_v1_ApplyResult__Output | null);
}
