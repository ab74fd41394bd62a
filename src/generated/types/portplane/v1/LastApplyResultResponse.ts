// Original file: proto/portplane/v1/config_service.proto

import type { ApplyResult as _portplane_v1_ApplyResult, ApplyResult__Output as _portplane_v1_ApplyResult__Output } from '../../portplane/v1/ApplyResult.js';
import type { DataplaneCondition as _portplane_v1_DataplaneCondition, DataplaneCondition__Output as _portplane_v1_DataplaneCondition__Output } from '../../portplane/v1/DataplaneCondition.js';

export interface LastApplyResultResponse {
  'result'?: (_portplane_v1_ApplyResult | null);
  'next_page_token'?: (string);
  'conditions'?: (_portplane_v1_DataplaneCondition)[];
}

export interface LastApplyResultResponse__Output {
  'result': (_portplane_v1_ApplyResult__Output | null);
  'next_page_token': (string);
  'conditions': (_portplane_v1_DataplaneCondition__Output)[];
}
