// Original file: proto/portplane/v1/history.proto

import type { ApplyHistoryEntry as _portplane_v1_ApplyHistoryEntry, ApplyHistoryEntry__Output as _portplane_v1_ApplyHistoryEntry__Output } from '../../portplane/v1/ApplyHistoryEntry.js';

export interface ListApplyHistoryResponse {
  'entries'?: (_portplane_v1_ApplyHistoryEntry)[];
  'capacity'?: (number);
}

export interface ListApplyHistoryResponse__Output {
  'entries': (_portplane_v1_ApplyHistoryEntry__Output)[];
  'capacity': (number);
}
