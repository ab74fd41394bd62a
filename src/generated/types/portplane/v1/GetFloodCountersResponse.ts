// Original file: proto/portplane/v1/telemetry_service.proto

import type { RuleFloodCounters as _portplane_v1_RuleFloodCounters, RuleFloodCounters__Output as _portplane_v1_RuleFloodCounters__Output } from '../../portplane/v1/RuleFloodCounters.js';
import type { Long } from '@grpc/proto-loader';

export interface GetFloodCountersResponse {
  'generation'?: (number | string | Long);
  'rules'?: (_portplane_v1_RuleFloodCounters)[];
}

export interface GetFloodCountersResponse__Output {
  'generation': (string);
  'rules': (_portplane_v1_RuleFloodCounters__Output)[];
}
