// Original file: proto/portplane/v1/session_service.proto

import type { SessionFilter as _portplane_v1_SessionFilter, SessionFilter__Output as _portplane_v1_SessionFilter__Output } from '../../portplane/v1/SessionFilter.js';

export interface DeleteSessionsRequest {
  'ids'?: (string)[];
  'filter'?: (_portplane_v1_SessionFilter | null);
  'all'?: (boolean);
}

export interface DeleteSessionsRequest__Output {
  'ids': (string)[];
  'filter': (_portplane_v1_SessionFilter__Output | null);
  'all': (boolean);
}
