// Original file: proto/portplane/v1/ha_service.proto

import type { HARole as _portplane_v1_HARole, HARole__Output as _portplane_v1_HARole__Output } from '../../portplane/v1/HARole.js';

export interface SetRoleRequest {
  'role'?: (_portplane_v1_HARole);
  'reason'?: (string);
}

export interface SetRoleRequest__Output {
  'role': (_portplane_v1_HARole__Output);
  'reason': (string);
}
