// Original file: proto/portplane/v1/telemetry_service.proto

import type { TableCounters as _portplane_v1_TableCounters, TableCounters__Output as _portplane_v1_TableCounters__Output } from '../../portplane/v1/TableCounters.js';
import type { CounterDelta as _portplane_v1_CounterDelta, CounterDelta__Output as _portplane_v1_CounterDelta__Output } from '../../portplane/v1/CounterDelta.js';

export interface TableSample {
  'counters'?: (_portplane_v1_TableCounters | null);
  'delta'?: (_portplane_v1_CounterDelta | null);
}

export interface TableSample__Output {
  'counters': (_portplane_v1_TableCounters__Output | null);
  'delta': (_portplane_v1_CounterDelta__Output | null);
}
