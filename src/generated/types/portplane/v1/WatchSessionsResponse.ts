// Original file: proto/portplane/v1/session_service.proto

import type { SessionEvent as _portplane_v1_SessionEvent, SessionEvent__Output as _portplane_v1_SessionEvent__Output } from '../../portplane/v1/SessionEvent.js';

export interface WatchSessionsResponse {
  'events'?: (_portplane_v1_SessionEvent)[];
}

export interface WatchSessionsResponse__Output {
  'events': (_portplane_v1_SessionEvent__Output)[];
}
