// Original file: proto/portplane/v1/telemetry_service.proto

import type { RuleCounters as _portplane_v1_RuleCounters, RuleCounters__Output as _portplane_v1_RuleCounters__Output } from '../../portplane/v1/RuleCounters.js';
import type { CounterDelta as _portplane_v1_CounterDelta, CounterDelta__Output as _portplane_v1_CounterDelta__Output } from '../../portplane/v1/CounterDelta.js';

export interface RuleSample {
  'counters'?: (_portplane_v1_RuleCounters | null);
  'delta'?: (_portplane_v1_CounterDelta | null);
}

export interface RuleSample__Output {
  'counters': (_portplane_v1_RuleCounters__Output | null);
  'delta': (_portplane_v1_CounterDelta__Output | null);
}
