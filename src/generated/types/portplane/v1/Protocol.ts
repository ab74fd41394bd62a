// Original file: proto/portplane/v1/config.proto

export const Protocol = {
  PROTOCOL_UNSPECIFIED: 'PROTOCOL_UNSPECIFIED',
  PROTOCOL_TCP: 'PROTOCOL_TCP',
  PROTOCOL_UDP: 'PROTOCOL_UDP',
} as const;

export type Protocol =
  | 'PROTOCOL_UNSPECIFIED'
  | 0
  | 'PROTOCOL_TCP'
  | 1
  | 'PROTOCOL_UDP'
  | 2

export type Protocol__Output = typeof Protocol[keyof typeof Protocol]
