// Original file: proto/portplane/v1/trace_service.proto

export const LimitVerdict = {
  LIMIT_VERDICT_UNSPECIFIED: 'LIMIT_VERDICT_UNSPECIFIED',
  LIMIT_VERDICT_ALLOW: 'LIMIT_VERDICT_ALLOW',
  LIMIT_VERDICT_CAP: 'LIMIT_VERDICT_CAP',
  LIMIT_VERDICT_RATE: 'LIMIT_VERDICT_RATE',
  LIMIT_VERDICT_NOT_EVALUATED: 'LIMIT_VERDICT_NOT_EVALUATED',
} as const;

export type LimitVerdict =
  | 'LIMIT_VERDICT_UNSPECIFIED'
  | 0
  | 'LIMIT_VERDICT_ALLOW'
  | 1
  | 'LIMIT_VERDICT_CAP'
  | 2
  | 'LIMIT_VERDICT_RATE'
  | 3
  | 'LIMIT_VERDICT_NOT_EVALUATED'
  | 4

export type LimitVerdict__Output = typeof LimitVerdict[keyof typeof LimitVerdict]
