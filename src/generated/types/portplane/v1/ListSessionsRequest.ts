// Original file: proto/portplane/v1/session_service.proto

import type { SessionFilter as _portplane_v1_SessionFilter, SessionFilter__Output as _portplane_v1_SessionFilter__Output } from '../../portplane/v1/SessionFilter.js';

export interface ListSessionsRequest {
  'filter'?: (_portplane_v1_SessionFilter | null);
  'page_size'?: (number);
  'page_token'?: (string);
}

export interface ListSessionsRequest__Output {
  'filter': (_portplane_v1_SessionFilter__Output | null);
  'page_size': (number);
  'page_token': (string);
}
