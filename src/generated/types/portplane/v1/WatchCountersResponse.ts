// Original file: proto/portplane/v1/telemetry_service.proto

import type { Timestamp as _google_protobuf_Timestamp, Timestamp__Output as _google_protobuf_Timestamp__Output } from '../../google/protobuf/Timestamp.js';
import type { GlobalCounters as _portplane_v1_GlobalCounters, GlobalCounters__Output as _portplane_v1_GlobalCounters__Output } from '../../portplane/v1/GlobalCounters.js';
import type { CounterDelta as _portplane_v1_CounterDelta, CounterDelta__Output as _portplane_v1_CounterDelta__Output } from '../../portplane/v1/CounterDelta.js';
import type { TableSample as _portplane_v1_TableSample, TableSample__Output as _portplane_v1_TableSample__Output } from '../../portplane/v1/TableSample.js';
import type { RuleSample as _portplane_v1_RuleSample, RuleSample__Output as _portplane_v1_RuleSample__Output } from '../../portplane/v1/RuleSample.js';
import type { Long } from '@grpc/proto-loader';

export interface WatchCountersResponse {
  'read_at'?: (_google_protobuf_Timestamp | null);
  'generation'?: (number | string | Long);
  'elapsed_seconds'?: (number | string);
  'global'?: (_portplane_v1_GlobalCounters | null);
  'global_delta'?: (_portplane_v1_CounterDelta | null);
  'tables'?: (_portplane_v1_TableSample)[];
  'rules'?: (_portplane_v1_RuleSample)[];
}

export interface WatchCountersResponse__Output {
  'read_at': (_google_protobuf_Timestamp__Output | null);
  'generation': (string);
  'elapsed_seconds': (number);
  'global': (_portplane_v1_GlobalCounters__Output | null);
  'global_delta': (_portplane_v1_CounterDelta__Output | null);
  'tables': (_portplane_v1_TableSample__Output)[];
  'rules': (_portplane_v1_RuleSample__Output)[];
}
