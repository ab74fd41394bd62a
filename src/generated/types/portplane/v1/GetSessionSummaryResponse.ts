// Original file: proto/portplane/v1/session_service.proto

import type { SessionCount as _portplane_v1_SessionCount, SessionCount__Output as _portplane_v1_SessionCount__Output } from '../../portplane/v1/SessionCount.js';
import type { Long } from '@grpc/proto-loader';

export interface GetSessionSummaryResponse {
  'total'?: (number | string | Long);
  'by_table'?: (_portplane_v1_SessionCount)[];
  'by_rule'?: (_portplane_v1_SessionCount)[];
  'by_protocol'?: (_portplane_v1_SessionCount)[];
  'by_state'?: (_portplane_v1_SessionCount)[];
  'backend_epoch'?: (string);
}

export interface GetSessionSummaryResponse__Output {
  'total': (string);
  'by_table': (_portplane_v1_SessionCount__Output)[];
  'by_rule': (_portplane_v1_SessionCount__Output)[];
  'by_protocol': (_portplane_v1_SessionCount__Output)[];
  'by_state': (_portplane_v1_SessionCount__Output)[];
  'backend_epoch': (string);
}
