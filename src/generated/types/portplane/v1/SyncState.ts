// Original file: proto/portplane/v1/ha_service.proto

export const SyncState = {
  SYNC_STATE_UNSPECIFIED: 'SYNC_STATE_UNSPECIFIED',
  SYNC_STATE_IDLE: 'SYNC_STATE_IDLE',
  SYNC_STATE_CONNECTING: 'SYNC_STATE_CONNECTING',
  SYNC_STATE_IN_SYNC: 'SYNC_STATE_IN_SYNC',
  SYNC_STATE_DEGRADED: 'SYNC_STATE_DEGRADED',
  SYNC_STATE_DOWN: 'SYNC_STATE_DOWN',
} as const;

export type SyncState =
  | 'SYNC_STATE_UNSPECIFIED'
  | 0
  | 'SYNC_STATE_IDLE'
  | 1
  | 'SYNC_STATE_CONNECTING'
  | 2
  | 'SYNC_STATE_IN_SYNC'
  | 3
  | 'SYNC_STATE_DEGRADED'
  | 4
  | 'SYNC_STATE_DOWN'
  | 5

export type SyncState__Output = typeof SyncState[keyof typeof SyncState]
