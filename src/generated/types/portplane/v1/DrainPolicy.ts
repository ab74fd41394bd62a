// Original file: proto/portplane/v1/config.proto

import type { DrainMode as _portplane_v1_DrainMode, DrainMode__Output as _portplane_v1_DrainMode__Output } from '../../portplane/v1/DrainMode.js';

export interface DrainPolicy {
  'mode'?: (_portplane_v1_DrainMode);
  'timeout_ms'?: (number);
}

export interface DrainPolicy__Output {
  'mode': (_portplane_v1_DrainMode__Output);
  'timeout_ms': (number);
}
