// Original file: proto/portplane/v1/trace_service.proto

export const FilterVerdict = {
  FILTER_VERDICT_UNSPECIFIED: 'FILTER_VERDICT_UNSPECIFIED',
  FILTER_VERDICT_ALLOW: 'FILTER_VERDICT_ALLOW',
  FILTER_VERDICT_DENY: 'FILTER_VERDICT_DENY',
  FILTER_VERDICT_NOT_EVALUATED: 'FILTER_VERDICT_NOT_EVALUATED',
} as const;

export type FilterVerdict =
  | 'FILTER_VERDICT_UNSPECIFIED'
  | 0
  | 'FILTER_VERDICT_ALLOW'
  | 1
  | 'FILTER_VERDICT_DENY'
  | 2
  | 'FILTER_VERDICT_NOT_EVALUATED'
  | 3

export type FilterVerdict__Output = typeof FilterVerdict[keyof typeof FilterVerdict]
