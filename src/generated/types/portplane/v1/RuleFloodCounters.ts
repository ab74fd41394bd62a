// Original file: proto/portplane/v1/telemetry_service.proto

import type { DropCount as _portplane_v1_DropCount, DropCount__Output as _portplane_v1_DropCount__Output } from '../../portplane/v1/DropCount.js';
import type { SourceFloodCounters as _portplane_v1_SourceFloodCounters, SourceFloodCounters__Output as _portplane_v1_SourceFloodCounters__Output } from '../../portplane/v1/SourceFloodCounters.js';
import type { Long } from '@grpc/proto-loader';

export interface RuleFloodCounters {
  'table'?: (string);
  'rule_id'?: (string);
  'rule_name'?: (string);
  'counter_id'?: (number | string | Long);
  'refused'?: (number | string | Long);
  'by_reason'?: (_portplane_v1_DropCount)[];
  'sources'?: (_portplane_v1_SourceFloodCounters)[];
  'source_error'?: (number | string | Long);
}

export interface RuleFloodCounters__Output {
  'table': (string);
  'rule_id': (string);
  'rule_name': (string);
  'counter_id': (string);
  'refused': (string);
  'by_reason': (_portplane_v1_DropCount__Output)[];
  'sources': (_portplane_v1_SourceFloodCounters__Output)[];
  'source_error': (string);
}
