// Original file: proto/portplane/v1/config.proto

import type { UnsupportedFeature as _portplane_v1_UnsupportedFeature, UnsupportedFeature__Output as _portplane_v1_UnsupportedFeature__Output } from '../../portplane/v1/UnsupportedFeature.js';

export interface Capabilities {
  'backend'?: (string);
  'supported'?: (string)[];
  'unsupported'?: (_portplane_v1_UnsupportedFeature)[];
}

export interface Capabilities__Output {
  'backend': (string);
  'supported': (string)[];
  'unsupported': (_portplane_v1_UnsupportedFeature__Output)[];
}
