// Original file: proto/portplane/v1/confirm.proto

import type { Long } from '@grpc/proto-loader';

export interface ConfirmApplyRequest {
  'generation'?: (number | string | Long);
}

export interface ConfirmApplyRequest__Output {
  'generation': (string);
}
