// Original file: proto/portplane/v1/ha_service.proto

import type { Long } from '@grpc/proto-loader';

export interface SyncHello {
  'resume_after_sequence'?: (number | string | Long);
  'resume_backend_epoch'?: (string);
  'node'?: (string);
  '_resume_after_sequence'?: "resume_after_sequence";
}

export interface SyncHello__Output {
  'resume_after_sequence'?: (string);
  'resume_backend_epoch': (string);
  'node': (string);
  '_resume_after_sequence'?: "resume_after_sequence";
}
