// Original file: proto/portplane/v1/session_service.proto

import type { SessionEventKind as _portplane_v1_SessionEventKind, SessionEventKind__Output as _portplane_v1_SessionEventKind__Output } from '../../portplane/v1/SessionEventKind.js';
import type { Session as _portplane_v1_Session, Session__Output as _portplane_v1_Session__Output } from '../../portplane/v1/Session.js';
import type { CloseReason as _portplane_v1_CloseReason, CloseReason__Output as _portplane_v1_CloseReason__Output } from '../../portplane/v1/CloseReason.js';
import type { Long } from '@grpc/proto-loader';

export interface SessionEvent {
  'sequence'?: (number | string | Long);
  'backend_epoch'?: (string);
  'kind'?: (_portplane_v1_SessionEventKind);
  'session'?: (_portplane_v1_Session | null);
  'close_reason'?: (_portplane_v1_CloseReason);
  'detail'?: (string);
}

export interface SessionEvent__Output {
  'sequence': (string);
  'backend_epoch': (string);
  'kind': (_portplane_v1_SessionEventKind__Output);
  'session': (_portplane_v1_Session__Output | null);
  'close_reason': (_portplane_v1_CloseReason__Output);
  'detail': (string);
}
