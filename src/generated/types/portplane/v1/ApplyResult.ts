// Original file: proto/portplane/v1/config.proto

import type { Timestamp as _google_protobuf_Timestamp, Timestamp__Output as _google_protobuf_Timestamp__Output } from '../../google/protobuf/Timestamp.js';
import type { Capabilities as _portplane_v1_Capabilities, Capabilities__Output as _portplane_v1_Capabilities__Output } from '../../portplane/v1/Capabilities.js';
import type { RuleStatus as _portplane_v1_RuleStatus, RuleStatus__Output as _portplane_v1_RuleStatus__Output } from '../../portplane/v1/RuleStatus.js';
import type { PlanSummary as _portplane_v1_PlanSummary, PlanSummary__Output as _portplane_v1_PlanSummary__Output } from '../../portplane/v1/PlanSummary.js';
import type { ApplyOutcome as _portplane_v1_ApplyOutcome, ApplyOutcome__Output as _portplane_v1_ApplyOutcome__Output } from '../../portplane/v1/ApplyOutcome.js';
import type { DivergedPort as _portplane_v1_DivergedPort, DivergedPort__Output as _portplane_v1_DivergedPort__Output } from '../../portplane/v1/DivergedPort.js';
import type { SessionEffects as _portplane_v1_SessionEffects, SessionEffects__Output as _portplane_v1_SessionEffects__Output } from '../../portplane/v1/SessionEffects.js';
import type { Long } from '@grpc/proto-loader';

export interface ApplyResult {
  'generation'?: (number | string | Long);
  'config_digest'?: (string);
  'applied_at'?: (_google_protobuf_Timestamp | null);
  'duration_micros'?: (number | string | Long);
  'backend'?: (string);
  'capabilities'?: (_portplane_v1_Capabilities | null);
  'rules'?: (_portplane_v1_RuleStatus)[];
  'plan_summary'?: (_portplane_v1_PlanSummary | null);
  'outcome'?: (_portplane_v1_ApplyOutcome);
  'rules_untouched'?: (number);
  'diverged'?: (_portplane_v1_DivergedPort)[];
  'session_effects'?: (_portplane_v1_SessionEffects | null);
}

export interface ApplyResult__Output {
  'generation': (string);
  'config_digest': (string);
  'applied_at': (_google_protobuf_Timestamp__Output | null);
  'duration_micros': (string);
  'backend': (string);
  'capabilities': (_portplane_v1_Capabilities__Output | null);
  'rules': (_portplane_v1_RuleStatus__Output)[];
  'plan_summary': (_portplane_v1_PlanSummary__Output | null);
  'outcome': (_portplane_v1_ApplyOutcome__Output);
  'rules_untouched': (number);
  'diverged': (_portplane_v1_DivergedPort__Output)[];
  'session_effects': (_portplane_v1_SessionEffects__Output | null);
}
