// Original file: proto/portplane/v1/telemetry_service.proto

import type { DropReason as _portplane_v1_DropReason, DropReason__Output as _portplane_v1_DropReason__Output } from '../../portplane/v1/DropReason.js';
import type { Long } from '@grpc/proto-loader';

export interface DropCount {
  'reason'?: (_portplane_v1_DropReason);
  'count'?: (number | string | Long);
}

export interface DropCount__Output {
  'reason': (_portplane_v1_DropReason__Output);
  'count': (string);
}
