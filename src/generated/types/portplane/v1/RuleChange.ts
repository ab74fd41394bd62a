// Original file: proto/portplane/v1/config.proto

import type { RuleAction as _portplane_v1_RuleAction, RuleAction__Output as _portplane_v1_RuleAction__Output } from '../../portplane/v1/RuleAction.js';

export interface RuleChange {
  'table'?: (string);
  'name'?: (string);
  'rule_id'?: (string);
  'action'?: (_portplane_v1_RuleAction);
  'changed_fields'?: (string)[];
  'index'?: (number);
}

export interface RuleChange__Output {
  'table': (string);
  'name': (string);
  'rule_id': (string);
  'action': (_portplane_v1_RuleAction__Output);
  'changed_fields': (string)[];
  'index': (number);
}
