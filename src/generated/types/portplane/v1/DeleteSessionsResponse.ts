// Original file: proto/portplane/v1/session_service.proto

import type { Long } from '@grpc/proto-loader';

export interface DeleteSessionsResponse {
  'deleted'?: (number | string | Long);
  'not_found'?: (number | string | Long);
}

export interface DeleteSessionsResponse__Output {
  'deleted': (string);
  'not_found': (string);
}
