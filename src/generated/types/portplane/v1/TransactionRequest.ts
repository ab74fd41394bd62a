// Original file: proto/portplane/v1/transaction.proto

import type { TransactionBegin as _portplane_v1_TransactionBegin, TransactionBegin__Output as _portplane_v1_TransactionBegin__Output } from '../../portplane/v1/TransactionBegin.js';
import type { TransactionTables as _portplane_v1_TransactionTables, TransactionTables__Output as _portplane_v1_TransactionTables__Output } from '../../portplane/v1/TransactionTables.js';
import type { TransactionCommand as _portplane_v1_TransactionCommand, TransactionCommand__Output as _portplane_v1_TransactionCommand__Output } from '../../portplane/v1/TransactionCommand.js';

export interface TransactionRequest {
  'begin'?: (_portplane_v1_TransactionBegin | null);
  'tables'?: (_portplane_v1_TransactionTables | null);
  'command'?: (_portplane_v1_TransactionCommand);
  'step'?: "begin"|"tables"|"command";
}

export interface TransactionRequest__Output {
  'begin'?: (_portplane_v1_TransactionBegin__Output | null);
  'tables'?: (_portplane_v1_TransactionTables__Output | null);
  'command'?: (_portplane_v1_TransactionCommand__Output);
  'step'?: "begin"|"tables"|"command";
}
