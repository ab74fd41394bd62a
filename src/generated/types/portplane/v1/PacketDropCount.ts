// Original file: proto/portplane/v1/telemetry_service.proto

import type { Long } from '@grpc/proto-loader';

export interface PacketDropCount {
  'reason'?: (string);
  'count'?: (number | string | Long);
}

export interface PacketDropCount__Output {
  'reason': (string);
  'count': (string);
}
