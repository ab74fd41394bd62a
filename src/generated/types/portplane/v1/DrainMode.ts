// Original file: proto/portplane/v1/config.proto

export const DrainMode = {
  DRAIN_MODE_UNSPECIFIED: 'DRAIN_MODE_UNSPECIFIED',
  DRAIN_MODE_KEEP: 'DRAIN_MODE_KEEP',
  DRAIN_MODE_TERMINATE: 'DRAIN_MODE_TERMINATE',
  DRAIN_MODE_DRAIN: 'DRAIN_MODE_DRAIN',
} as const;

export type DrainMode =
  | 'DRAIN_MODE_UNSPECIFIED'
  | 0
  | 'DRAIN_MODE_KEEP'
  | 1
  | 'DRAIN_MODE_TERMINATE'
  | 2
  | 'DRAIN_MODE_DRAIN'
  | 3

export type DrainMode__Output = typeof DrainMode[keyof typeof DrainMode]
