// Original file: proto/portplane/v1/config.proto

import type { RuleState as _portplane_v1_RuleState, RuleState__Output as _portplane_v1_RuleState__Output } from '../../portplane/v1/RuleState.js';
import type { PortFailure as _portplane_v1_PortFailure, PortFailure__Output as _portplane_v1_PortFailure__Output } from '../../portplane/v1/PortFailure.js';
import type { Long } from '@grpc/proto-loader';

export interface RuleStatus {
  'table'?: (string);
  'name'?: (string);
  'rule_id'?: (string);
  'counter_id'?: (number | string | Long);
  'state'?: (_portplane_v1_RuleState);
  'ports_bound'?: (number);
  'ports_failed'?: (_portplane_v1_PortFailure)[];
}

export interface RuleStatus__Output {
  'table': (string);
  'name': (string);
  'rule_id': (string);
  'counter_id': (string);
  'state': (_portplane_v1_RuleState__Output);
  'ports_bound': (number);
  'ports_failed': (_portplane_v1_PortFailure__Output)[];
}
