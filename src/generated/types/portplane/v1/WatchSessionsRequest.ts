// Original file: proto/portplane/v1/session_service.proto

import type { SessionFilter as _portplane_v1_SessionFilter, SessionFilter__Output as _portplane_v1_SessionFilter__Output } from '../../portplane/v1/SessionFilter.js';
import type { Long } from '@grpc/proto-loader';

export interface WatchSessionsRequest {
  'filter'?: (_portplane_v1_SessionFilter | null);
  'resume_after_sequence'?: (number | string | Long);
  'resume_backend_epoch'?: (string);
  '_resume_after_sequence'?: "resume_after_sequence";
}

export interface WatchSessionsRequest__Output {
  'filter': (_portplane_v1_SessionFilter__Output | null);
  'resume_after_sequence'?: (string);
  'resume_backend_epoch': (string);
  '_resume_after_sequence'?: "resume_after_sequence";
}
