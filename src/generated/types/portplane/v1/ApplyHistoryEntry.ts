// Original file: proto/portplane/v1/history.proto

import type { Timestamp as _google_protobuf_Timestamp, Timestamp__Output as _google_protobuf_Timestamp__Output } from '../../google/protobuf/Timestamp.js';
import type { ApplyHistoryOutcome as _portplane_v1_ApplyHistoryOutcome, ApplyHistoryOutcome__Output as _portplane_v1_ApplyHistoryOutcome__Output } from '../../portplane/v1/ApplyHistoryOutcome.js';
import type { ApplyTrigger as _portplane_v1_ApplyTrigger, ApplyTrigger__Output as _portplane_v1_ApplyTrigger__Output } from '../../portplane/v1/ApplyTrigger.js';
import type { CallerIdentity as _portplane_v1_CallerIdentity, CallerIdentity__Output as _portplane_v1_CallerIdentity__Output } from '../../portplane/v1/CallerIdentity.js';
import type { PlanSummary as _portplane_v1_PlanSummary, PlanSummary__Output as _portplane_v1_PlanSummary__Output } from '../../portplane/v1/PlanSummary.js';
import type { Long } from '@grpc/proto-loader';

export interface ApplyHistoryEntry {
  'seq'?: (number | string | Long);
  'generation'?: (number | string | Long);
  'base_generation'?: (number | string | Long);
  'config_digest'?: (string);
  'time'?: (_google_protobuf_Timestamp | null);
  'resolved_at'?: (_google_protobuf_Timestamp | null);
  'confirm_deadline'?: (_google_protobuf_Timestamp | null);
  'outcome'?: (_portplane_v1_ApplyHistoryOutcome);
  'trigger'?: (_portplane_v1_ApplyTrigger);
  'caller'?: (_portplane_v1_CallerIdentity | null);
  'comment'?: (string);
  'detail'?: (string);
  'restored_generation'?: (number | string | Long);
  'rolled_back_generation'?: (number | string | Long);
  'plan_summary'?: (_portplane_v1_PlanSummary | null);
}

export interface ApplyHistoryEntry__Output {
  'seq': (string);
  'generation': (string);
  'base_generation': (string);
  'config_digest': (string);
  'time': (_google_protobuf_Timestamp__Output | null);
  'resolved_at': (_google_protobuf_Timestamp__Output | null);
  'confirm_deadline': (_google_protobuf_Timestamp__Output | null);
  'outcome': (_portplane_v1_ApplyHistoryOutcome__Output);
  'trigger': (_portplane_v1_ApplyTrigger__Output);
  'caller': (_portplane_v1_CallerIdentity__Output | null);
  'comment': (string);
  'detail': (string);
  'restored_generation': (string);
  'rolled_back_generation': (string);
  'plan_summary': (_portplane_v1_PlanSummary__Output | null);
}
