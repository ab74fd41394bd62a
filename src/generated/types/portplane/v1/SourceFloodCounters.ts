// Original file: proto/portplane/v1/telemetry_service.proto

import type { DropCount as _portplane_v1_DropCount, DropCount__Output as _portplane_v1_DropCount__Output } from '../../portplane/v1/DropCount.js';
import type { Long } from '@grpc/proto-loader';

export interface SourceFloodCounters {
  'prefix'?: (string);
  'refused'?: (number | string | Long);
  'by_reason'?: (_portplane_v1_DropCount)[];
}

export interface SourceFloodCounters__Output {
  'prefix': (string);
  'refused': (string);
  'by_reason': (_portplane_v1_DropCount__Output)[];
}
