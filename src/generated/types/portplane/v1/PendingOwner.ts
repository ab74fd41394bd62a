// Original file: proto/portplane/v1/confirm.proto

export const PendingOwner = {
  PENDING_OWNER_UNSPECIFIED: 'PENDING_OWNER_UNSPECIFIED',
  PENDING_OWNER_CONFIRM: 'PENDING_OWNER_CONFIRM',
  PENDING_OWNER_TRANSACTION: 'PENDING_OWNER_TRANSACTION',
} as const;

export type PendingOwner =
  | 'PENDING_OWNER_UNSPECIFIED'
  | 0
  | 'PENDING_OWNER_CONFIRM'
  | 1
  | 'PENDING_OWNER_TRANSACTION'
  | 2

export type PendingOwner__Output = typeof PendingOwner[keyof typeof PendingOwner]
