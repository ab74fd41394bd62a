// Original file: proto/portplane/v1/confirm.proto

import type { Duration as _google_protobuf_Duration, Duration__Output as _google_protobuf_Duration__Output } from '../../google/protobuf/Duration.js';
import type { Long } from '@grpc/proto-loader';

export interface RollbackToRequest {
  'generation'?: (number | string | Long);
  'expected_generation'?: (number | string | Long);
  'confirm_timeout'?: (_google_protobuf_Duration | null);
  'comment'?: (string);
  'terminate_removed'?: (boolean);
  '_expected_generation'?: "expected_generation";
}

export interface RollbackToRequest__Output {
  'generation': (string);
  'expected_generation'?: (string);
  'confirm_timeout': (_google_protobuf_Duration__Output | null);
  'comment': (string);
  'terminate_removed': (boolean);
  '_expected_generation'?: "expected_generation";
}
