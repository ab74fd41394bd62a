// Original file: proto/portplane/v1/confirm.proto

import type { Long } from '@grpc/proto-loader';

export interface CancelApplyRequest {
  'generation'?: (number | string | Long);
  'terminate_removed'?: (boolean);
  'reason'?: (string);
}

export interface CancelApplyRequest__Output {
  'generation': (string);
  'terminate_removed': (boolean);
  'reason': (string);
}
