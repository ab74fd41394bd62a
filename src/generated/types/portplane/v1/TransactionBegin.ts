// Original file: proto/portplane/v1/transaction.proto


export interface TransactionBegin {
  'no_wait'?: (boolean);
}

export interface TransactionBegin__Output {
  'no_wait': (boolean);
}
