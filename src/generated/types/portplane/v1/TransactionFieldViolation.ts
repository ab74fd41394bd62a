// Original file: proto/portplane/v1/transaction.proto


export interface TransactionFieldViolation {
  'field'?: (string);
  'description'?: (string);
}

export interface TransactionFieldViolation__Output {
  'field': (string);
  'description': (string);
}
