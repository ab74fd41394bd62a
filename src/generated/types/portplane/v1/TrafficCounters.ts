// Original file: proto/portplane/v1/telemetry_service.proto

import type { DropCount as _portplane_v1_DropCount, DropCount__Output as _portplane_v1_DropCount__Output } from '../../portplane/v1/DropCount.js';
import type { Long } from '@grpc/proto-loader';

export interface TrafficCounters {
  'sessions_opened'?: (number | string | Long);
  'sessions_closed'?: (number | string | Long);
  'sessions_active'?: (number | string | Long);
  'bytes_from_client'?: (number | string | Long);
  'bytes_to_client'?: (number | string | Long);
  'packets_from_client'?: (number | string | Long);
  'packets_to_client'?: (number | string | Long);
  'drops'?: (_portplane_v1_DropCount)[];
  'drops_total'?: (number | string | Long);
}

export interface TrafficCounters__Output {
  'sessions_opened': (string);
  'sessions_closed': (string);
  'sessions_active': (string);
  'bytes_from_client': (string);
  'bytes_to_client': (string);
  'packets_from_client': (string);
  'packets_to_client': (string);
  'drops': (_portplane_v1_DropCount__Output)[];
  'drops_total': (string);
}
