// Original file: proto/portplane/v1/session_service.proto

import type { Session as _portplane_v1_Session, Session__Output as _portplane_v1_Session__Output } from '../../portplane/v1/Session.js';
import type { Long } from '@grpc/proto-loader';

export interface ListSessionsResponse {
  'sessions'?: (_portplane_v1_Session)[];
  'next_page_token'?: (string);
  'total'?: (number | string | Long);
  'backend_epoch'?: (string);
  '_total'?: "total";
}

export interface ListSessionsResponse__Output {
  'sessions': (_portplane_v1_Session__Output)[];
  'next_page_token': (string);
  'total'?: (string);
  'backend_epoch': (string);
  '_total'?: "total";
}
