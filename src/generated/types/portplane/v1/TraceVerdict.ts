// Original file: proto/portplane/v1/trace_service.proto

export const TraceVerdict = {
  TRACE_VERDICT_UNSPECIFIED: 'TRACE_VERDICT_UNSPECIFIED',
  TRACE_VERDICT_FORWARD: 'TRACE_VERDICT_FORWARD',
  TRACE_VERDICT_DROP: 'TRACE_VERDICT_DROP',
} as const;

export type TraceVerdict =
  | 'TRACE_VERDICT_UNSPECIFIED'
  | 0
  | 'TRACE_VERDICT_FORWARD'
  | 1
  | 'TRACE_VERDICT_DROP'
  | 2

export type TraceVerdict__Output = typeof TraceVerdict[keyof typeof TraceVerdict]
