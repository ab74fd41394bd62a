// Original file: proto/portplane/v1/trace_service.proto

export const SessionLookup = {
  SESSION_LOOKUP_UNSPECIFIED: 'SESSION_LOOKUP_UNSPECIFIED',
  SESSION_LOOKUP_HIT: 'SESSION_LOOKUP_HIT',
  SESSION_LOOKUP_MISS: 'SESSION_LOOKUP_MISS',
} as const;

export type SessionLookup =
  | 'SESSION_LOOKUP_UNSPECIFIED'
  | 0
  | 'SESSION_LOOKUP_HIT'
  | 1
  | 'SESSION_LOOKUP_MISS'
  | 2

export type SessionLookup__Output = typeof SessionLookup[keyof typeof SessionLookup]
