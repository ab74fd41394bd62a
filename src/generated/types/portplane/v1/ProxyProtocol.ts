// Original file: proto/portplane/v1/config.proto

export const ProxyProtocol = {
  PROXY_PROTOCOL_UNSPECIFIED: 'PROXY_PROTOCOL_UNSPECIFIED',
  PROXY_PROTOCOL_NONE: 'PROXY_PROTOCOL_NONE',
  PROXY_PROTOCOL_V1: 'PROXY_PROTOCOL_V1',
  PROXY_PROTOCOL_V2: 'PROXY_PROTOCOL_V2',
} as const;

export type ProxyProtocol =
  | 'PROXY_PROTOCOL_UNSPECIFIED'
  | 0
  | 'PROXY_PROTOCOL_NONE'
  | 1
  | 'PROXY_PROTOCOL_V1'
  | 2
  | 'PROXY_PROTOCOL_V2'
  | 3

export type ProxyProtocol__Output = typeof ProxyProtocol[keyof typeof ProxyProtocol]
