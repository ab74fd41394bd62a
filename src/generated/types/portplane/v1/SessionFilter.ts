// Original file: proto/portplane/v1/session_service.proto

import type { Protocol as _portplane_v1_Protocol, Protocol__Output as _portplane_v1_Protocol__Output } from '../../portplane/v1/Protocol.js';
import type { Long } from '@grpc/proto-loader';

export interface SessionFilter {
  'table'?: (string);
  'rule'?: (string);
  'protocol'?: (_portplane_v1_Protocol);
  'client_cidr'?: (string);
  'client_port'?: (number);
  'target_cidr'?: (string);
  'state'?: (string);
  'min_age_ms'?: (number | string | Long);
  'min_idle_ms'?: (number | string | Long);
}

export interface SessionFilter__Output {
  'table': (string);
  'rule': (string);
  'protocol': (_portplane_v1_Protocol__Output);
  'client_cidr': (string);
  'client_port': (number);
  'target_cidr': (string);
  'state': (string);
  'min_age_ms': (string);
  'min_idle_ms': (string);
}
