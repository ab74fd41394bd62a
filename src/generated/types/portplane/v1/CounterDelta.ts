// Original file: proto/portplane/v1/telemetry_service.proto

import type { CounterRates as _portplane_v1_CounterRates, CounterRates__Output as _portplane_v1_CounterRates__Output } from '../../portplane/v1/CounterRates.js';
import type { Long } from '@grpc/proto-loader';

export interface CounterDelta {
  'sessions_opened'?: (number | string | Long);
  'sessions_closed'?: (number | string | Long);
  'bytes_from_client'?: (number | string | Long);
  'bytes_to_client'?: (number | string | Long);
  'packets_from_client'?: (number | string | Long);
  'packets_to_client'?: (number | string | Long);
  'drops'?: (number | string | Long);
  'rates'?: (_portplane_v1_CounterRates | null);
  'restarted'?: (boolean);
}

export interface CounterDelta__Output {
  'sessions_opened': (string);
  'sessions_closed': (string);
  'bytes_from_client': (string);
  'bytes_to_client': (string);
  'packets_from_client': (string);
  'packets_to_client': (string);
  'drops': (string);
  'rates': (_portplane_v1_CounterRates__Output | null);
  'restarted': (boolean);
}
