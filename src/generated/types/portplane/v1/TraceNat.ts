// Original file: proto/portplane/v1/trace_service.proto

import type { Endpoint as _portplane_v1_Endpoint, Endpoint__Output as _portplane_v1_Endpoint__Output } from '../../portplane/v1/Endpoint.js';

export interface TraceNat {
  'source'?: (_portplane_v1_Endpoint | null);
  'destination'?: (_portplane_v1_Endpoint | null);
}

export interface TraceNat__Output {
  'source': (_portplane_v1_Endpoint__Output | null);
  'destination': (_portplane_v1_Endpoint__Output | null);
}
