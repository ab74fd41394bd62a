// Original file: proto/portplane/v1/session_service.proto

import type { Protocol as _portplane_v1_Protocol, Protocol__Output as _portplane_v1_Protocol__Output } from '../../portplane/v1/Protocol.js';
import type { Long } from '@grpc/proto-loader';

export interface SessionCount {
  'table'?: (string);
  'rule_id'?: (string);
  'rule_name'?: (string);
  'protocol'?: (_portplane_v1_Protocol);
  'state'?: (string);
  'count'?: (number | string | Long);
}

export interface SessionCount__Output {
  'table': (string);
  'rule_id': (string);
  'rule_name': (string);
  'protocol': (_portplane_v1_Protocol__Output);
  'state': (string);
  'count': (string);
}
