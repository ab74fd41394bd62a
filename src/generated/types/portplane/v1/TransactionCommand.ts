// Original file: proto/portplane/v1/transaction.proto

export const TransactionCommand = {
  TRANSACTION_COMMAND_UNSPECIFIED: 'TRANSACTION_COMMAND_UNSPECIFIED',
  TRANSACTION_COMMAND_APPLY: 'TRANSACTION_COMMAND_APPLY',
  TRANSACTION_COMMAND_COMMIT: 'TRANSACTION_COMMAND_COMMIT',
  TRANSACTION_COMMAND_ROLLBACK: 'TRANSACTION_COMMAND_ROLLBACK',
} as const;

export type TransactionCommand =
  | 'TRANSACTION_COMMAND_UNSPECIFIED'
  | 0
  | 'TRANSACTION_COMMAND_APPLY'
  | 1
  | 'TRANSACTION_COMMAND_COMMIT'
  | 2
  | 'TRANSACTION_COMMAND_ROLLBACK'
  | 3

export type TransactionCommand__Output = typeof TransactionCommand[keyof typeof TransactionCommand]
