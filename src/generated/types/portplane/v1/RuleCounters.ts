// Original file: proto/portplane/v1/telemetry_service.proto

import type { Protocol as _portplane_v1_Protocol, Protocol__Output as _portplane_v1_Protocol__Output } from '../../portplane/v1/Protocol.js';
import type { TrafficCounters as _portplane_v1_TrafficCounters, TrafficCounters__Output as _portplane_v1_TrafficCounters__Output } from '../../portplane/v1/TrafficCounters.js';
import type { Long } from '@grpc/proto-loader';

export interface RuleCounters {
  'table'?: (string);
  'rule_id'?: (string);
  'rule_name'?: (string);
  'protocol'?: (_portplane_v1_Protocol);
  'counter_id'?: (number | string | Long);
  'generation'?: (number | string | Long);
  'traffic'?: (_portplane_v1_TrafficCounters | null);
}

export interface RuleCounters__Output {
  'table': (string);
  'rule_id': (string);
  'rule_name': (string);
  'protocol': (_portplane_v1_Protocol__Output);
  'counter_id': (string);
  'generation': (string);
  'traffic': (_portplane_v1_TrafficCounters__Output | null);
}
