// Original file: proto/portplane/v1/ha_service.proto

import type { HARole as _portplane_v1_HARole, HARole__Output as _portplane_v1_HARole__Output } from '../../portplane/v1/HARole.js';

export interface SetRoleResponse {
  'previous'?: (_portplane_v1_HARole);
  'role'?: (_portplane_v1_HARole);
}

export interface SetRoleResponse__Output {
  'previous': (_portplane_v1_HARole__Output);
  'role': (_portplane_v1_HARole__Output);
}
