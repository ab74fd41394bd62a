// Original file: proto/portplane/v1/ha_service.proto

import type { Long } from '@grpc/proto-loader';

export interface SyncAck {
  'sequence'?: (number | string | Long);
}

export interface SyncAck__Output {
  'sequence': (string);
}
