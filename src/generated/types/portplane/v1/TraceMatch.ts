// Original file: proto/portplane/v1/trace_service.proto

import type { Long } from '@grpc/proto-loader';

export interface TraceMatch {
  'table'?: (string);
  'rule_name'?: (string);
  'rule_id'?: (string);
  'counter_id'?: (number | string | Long);
}

export interface TraceMatch__Output {
  'table': (string);
  'rule_name': (string);
  'rule_id': (string);
  'counter_id': (string);
}
