// Original file: proto/portplane/v1/config.proto

import type { Protocol as _portplane_v1_Protocol, Protocol__Output as _portplane_v1_Protocol__Output } from '../../portplane/v1/Protocol.js';
import type { PortAction as _portplane_v1_PortAction, PortAction__Output as _portplane_v1_PortAction__Output } from '../../portplane/v1/PortAction.js';

export interface PortChange {
  'protocol'?: (_portplane_v1_Protocol);
  'listen_address'?: (string);
  'port'?: (number);
  'action'?: (_portplane_v1_PortAction);
  'table'?: (string);
  'rule_id'?: (string);
  'target_address'?: (string);
  'target_port'?: (number);
  'previous_target_address'?: (string);
  'previous_target_port'?: (number);
}

export interface PortChange__Output {
  'protocol': (_portplane_v1_Protocol__Output);
  'listen_address': (string);
  'port': (number);
  'action': (_portplane_v1_PortAction__Output);
  'table': (string);
  'rule_id': (string);
  'target_address': (string);
  'target_port': (number);
  'previous_target_address': (string);
  'previous_target_port': (number);
}
