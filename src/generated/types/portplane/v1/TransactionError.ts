// Original file: proto/portplane/v1/transaction.proto

import type { TransactionFieldViolation as _portplane_v1_TransactionFieldViolation, TransactionFieldViolation__Output as _portplane_v1_TransactionFieldViolation__Output } from '../../portplane/v1/TransactionFieldViolation.js';
import type { PortFailure as _portplane_v1_PortFailure, PortFailure__Output as _portplane_v1_PortFailure__Output } from '../../portplane/v1/PortFailure.js';

export interface TransactionError {
  'code'?: (string);
  'message'?: (string);
  'reason'?: (string);
  'metadata'?: ({[key: string]: string});
  'field_violations'?: (_portplane_v1_TransactionFieldViolation)[];
  'port_failures'?: (_portplane_v1_PortFailure)[];
}

export interface TransactionError__Output {
  'code': (string);
  'message': (string);
  'reason': (string);
  'metadata': ({[key: string]: string});
  'field_violations': (_portplane_v1_TransactionFieldViolation__Output)[];
  'port_failures': (_portplane_v1_PortFailure__Output)[];
}
