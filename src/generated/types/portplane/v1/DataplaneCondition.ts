// Original file: proto/portplane/v1/config.proto

import type { Timestamp as _google_protobuf_Timestamp, Timestamp__Output as _google_protobuf_Timestamp__Output } from '../../google/protobuf/Timestamp.js';
import type { Long } from '@grpc/proto-loader';

export interface DataplaneCondition {
  'type'?: (string);
  'status'?: (boolean);
  'reason'?: (string);
  'message'?: (string);
  'last_transition'?: (_google_protobuf_Timestamp | null);
  'occurrences'?: (number | string | Long);
}

export interface DataplaneCondition__Output {
  'type': (string);
  'status': (boolean);
  'reason': (string);
  'message': (string);
  'last_transition': (_google_protobuf_Timestamp__Output | null);
  'occurrences': (string);
}
