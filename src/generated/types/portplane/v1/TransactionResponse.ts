// Original file: proto/portplane/v1/transaction.proto

import type { TransactionHello as _portplane_v1_TransactionHello, TransactionHello__Output as _portplane_v1_TransactionHello__Output } from '../../portplane/v1/TransactionHello.js';
import type { TransactionValidated as _portplane_v1_TransactionValidated, TransactionValidated__Output as _portplane_v1_TransactionValidated__Output } from '../../portplane/v1/TransactionValidated.js';
import type { TransactionError as _portplane_v1_TransactionError, TransactionError__Output as _portplane_v1_TransactionError__Output } from '../../portplane/v1/TransactionError.js';
import type { TransactionApplied as _portplane_v1_TransactionApplied, TransactionApplied__Output as _portplane_v1_TransactionApplied__Output } from '../../portplane/v1/TransactionApplied.js';
import type { TransactionCommitted as _portplane_v1_TransactionCommitted, TransactionCommitted__Output as _portplane_v1_TransactionCommitted__Output } from '../../portplane/v1/TransactionCommitted.js';
import type { TransactionRolledBack as _portplane_v1_TransactionRolledBack, TransactionRolledBack__Output as _portplane_v1_TransactionRolledBack__Output } from '../../portplane/v1/TransactionRolledBack.js';

export interface TransactionResponse {
  'hello'?: (_portplane_v1_TransactionHello | null);
  'validated'?: (_portplane_v1_TransactionValidated | null);
  'rejected'?: (_portplane_v1_TransactionError | null);
  'applied'?: (_portplane_v1_TransactionApplied | null);
  'apply_failed'?: (_portplane_v1_TransactionError | null);
  'committed'?: (_portplane_v1_TransactionCommitted | null);
  'rolled_back'?: (_portplane_v1_TransactionRolledBack | null);
  'step'?: "hello"|"validated"|"rejected"|"applied"|"apply_failed"|"committed"|"rolled_back";
}

export interface TransactionResponse__Output {
  'hello'?: (_portplane_v1_TransactionHello__Output | null);
  'validated'?: (_portplane_v1_TransactionValidated__Output | null);
  'rejected'?: (_portplane_v1_TransactionError__Output | null);
  'applied'?: (_portplane_v1_TransactionApplied__Output | null);
  'apply_failed'?: (_portplane_v1_TransactionError__Output | null);
  'committed'?: (_portplane_v1_TransactionCommitted__Output | null);
  'rolled_back'?: (_portplane_v1_TransactionRolledBack__Output | null);
  'step'?: "hello"|"validated"|"rejected"|"applied"|"apply_failed"|"committed"|"rolled_back";
}
