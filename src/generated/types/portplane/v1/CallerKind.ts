// Original file: proto/portplane/v1/caller.proto

export const CallerKind = {
  CALLER_KIND_UNSPECIFIED: 'CALLER_KIND_UNSPECIFIED',
  CALLER_KIND_UNIX: 'CALLER_KIND_UNIX',
  CALLER_KIND_TLS: 'CALLER_KIND_TLS',
  CALLER_KIND_TOKEN: 'CALLER_KIND_TOKEN',
  CALLER_KIND_TCP: 'CALLER_KIND_TCP',
  CALLER_KIND_INTERNAL: 'CALLER_KIND_INTERNAL',
  CALLER_KIND_ETCD: 'CALLER_KIND_ETCD',
} as const;

export type CallerKind =
  | 'CALLER_KIND_UNSPECIFIED'
  | 0
  | 'CALLER_KIND_UNIX'
  | 1
  | 'CALLER_KIND_TLS'
  | 2
  | 'CALLER_KIND_TOKEN'
  | 3
  | 'CALLER_KIND_TCP'
  | 4
  | 'CALLER_KIND_INTERNAL'
  | 5
  | 'CALLER_KIND_ETCD'
  | 6

export type CallerKind__Output = typeof CallerKind[keyof typeof CallerKind]
