// Original file: proto/portplane/v1/transaction.proto

import type { Plan as _portplane_v1_Plan, Plan__Output as _portplane_v1_Plan__Output } from '../../portplane/v1/Plan.js';

export interface TransactionValidated {
  'plan'?: (_portplane_v1_Plan | null);
  'config_digest'?: (string);
}

export interface TransactionValidated__Output {
  'plan': (_portplane_v1_Plan__Output | null);
  'config_digest': (string);
}
