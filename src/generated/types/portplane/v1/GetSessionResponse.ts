// Original file: proto/portplane/v1/session_service.proto

import type { Session as _portplane_v1_Session, Session__Output as _portplane_v1_Session__Output } from '../../portplane/v1/Session.js';

export interface GetSessionResponse {
  'session'?: (_portplane_v1_Session | null);
}

export interface GetSessionResponse__Output {
  'session': (_portplane_v1_Session__Output | null);
}
