// Original file: proto/portplane/v1/telemetry_service.proto

import type { Timestamp as _google_protobuf_Timestamp, Timestamp__Output as _google_protobuf_Timestamp__Output } from '../../google/protobuf/Timestamp.js';
import type { GlobalCounters as _portplane_v1_GlobalCounters, GlobalCounters__Output as _portplane_v1_GlobalCounters__Output } from '../../portplane/v1/GlobalCounters.js';
import type { TableCounters as _portplane_v1_TableCounters, TableCounters__Output as _portplane_v1_TableCounters__Output } from '../../portplane/v1/TableCounters.js';
import type { RuleCounters as _portplane_v1_RuleCounters, RuleCounters__Output as _portplane_v1_RuleCounters__Output } from '../../portplane/v1/RuleCounters.js';
import type { Long } from '@grpc/proto-loader';

export interface GetCountersResponse {
  'read_at'?: (_google_protobuf_Timestamp | null);
  'generation'?: (number | string | Long);
  'backend'?: (string);
  'global'?: (_portplane_v1_GlobalCounters | null);
  'tables'?: (_portplane_v1_TableCounters)[];
  'rules'?: (_portplane_v1_RuleCounters)[];
}

export interface GetCountersResponse__Output {
  'read_at': (_google_protobuf_Timestamp__Output | null);
  'generation': (string);
  'backend': (string);
  'global': (_portplane_v1_GlobalCounters__Output | null);
  'tables': (_portplane_v1_TableCounters__Output)[];
  'rules': (_portplane_v1_RuleCounters__Output)[];
}
