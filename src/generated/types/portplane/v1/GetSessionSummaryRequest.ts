// Original file: proto/portplane/v1/session_service.proto

import type { SessionFilter as _portplane_v1_SessionFilter, SessionFilter__Output as _portplane_v1_SessionFilter__Output } from '../../portplane/v1/SessionFilter.js';

export interface GetSessionSummaryRequest {
  'filter'?: (_portplane_v1_SessionFilter | null);
}

export interface GetSessionSummaryRequest__Output {
  'filter': (_portplane_v1_SessionFilter__Output | null);
}
