// Original file: proto/portplane/v1/config.proto

import type { ForwardRule as _portplane_v1_ForwardRule, ForwardRule__Output as _portplane_v1_ForwardRule__Output } from '../../portplane/v1/ForwardRule.js';

export interface Table {
  'name'?: (string);
  'rules'?: (_portplane_v1_ForwardRule)[];
}

export interface Table__Output {
  'name': (string);
  'rules': (_portplane_v1_ForwardRule__Output)[];
}
