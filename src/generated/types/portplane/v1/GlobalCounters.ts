// Original file: proto/portplane/v1/telemetry_service.proto

import type { TrafficCounters as _portplane_v1_TrafficCounters, TrafficCounters__Output as _portplane_v1_TrafficCounters__Output } from '../../portplane/v1/TrafficCounters.js';
import type { PacketDropCount as _portplane_v1_PacketDropCount, PacketDropCount__Output as _portplane_v1_PacketDropCount__Output } from '../../portplane/v1/PacketDropCount.js';
import type { Long } from '@grpc/proto-loader';

export interface GlobalCounters {
  'traffic'?: (_portplane_v1_TrafficCounters | null);
  'bind_errors'?: (number | string | Long);
  'applies_succeeded'?: (number | string | Long);
  'applies_failed'?: (number | string | Long);
  'packet_drops'?: (_portplane_v1_PacketDropCount)[];
}

export interface GlobalCounters__Output {
  'traffic': (_portplane_v1_TrafficCounters__Output | null);
  'bind_errors': (string);
  'applies_succeeded': (string);
  'applies_failed': (string);
  'packet_drops': (_portplane_v1_PacketDropCount__Output)[];
}
