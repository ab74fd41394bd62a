// Original file: proto/portplane/v1/telemetry_service.proto

import type { TrafficCounters as _portplane_v1_TrafficCounters, TrafficCounters__Output as _portplane_v1_TrafficCounters__Output } from '../../portplane/v1/TrafficCounters.js';

export interface TableCounters {
  'table'?: (string);
  'traffic'?: (_portplane_v1_TrafficCounters | null);
}

export interface TableCounters__Output {
  'table': (string);
  'traffic': (_portplane_v1_TrafficCounters__Output | null);
}
