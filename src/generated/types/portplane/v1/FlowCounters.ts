// Original file: proto/portplane/v1/session_service.proto

import type { Long } from '@grpc/proto-loader';

export interface FlowCounters {
  'bytes'?: (number | string | Long);
  'packets'?: (number | string | Long);
}

export interface FlowCounters__Output {
  'bytes': (string);
  'packets': (string);
}
