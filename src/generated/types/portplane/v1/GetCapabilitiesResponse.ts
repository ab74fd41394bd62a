// Original file: proto/portplane/v1/config_service.proto

import type { Capabilities as _portplane_v1_Capabilities, Capabilities__Output as _portplane_v1_Capabilities__Output } from '../../portplane/v1/Capabilities.js';
import type { Limits as _portplane_v1_Limits, Limits__Output as _portplane_v1_Limits__Output } from '../../portplane/v1/Limits.js';

export interface GetCapabilitiesResponse {
  'api_version'?: (string);
  'capabilities'?: (_portplane_v1_Capabilities | null);
  'limits'?: (_portplane_v1_Limits | null);
}

export interface GetCapabilitiesResponse__Output {
  'api_version': (string);
  'capabilities': (_portplane_v1_Capabilities__Output | null);
  'limits': (_portplane_v1_Limits__Output | null);
}
