// Original file: proto/portplane/v1/config.proto

import type { RuleChange as _portplane_v1_RuleChange, RuleChange__Output as _portplane_v1_RuleChange__Output } from '../../portplane/v1/RuleChange.js';
import type { PortChange as _portplane_v1_PortChange, PortChange__Output as _portplane_v1_PortChange__Output } from '../../portplane/v1/PortChange.js';
import type { PlanSummary as _portplane_v1_PlanSummary, PlanSummary__Output as _portplane_v1_PlanSummary__Output } from '../../portplane/v1/PlanSummary.js';
import type { Long } from '@grpc/proto-loader';

export interface Plan {
  'rules'?: (_portplane_v1_RuleChange)[];
  'ports'?: (_portplane_v1_PortChange)[];
  'summary'?: (_portplane_v1_PlanSummary | null);
  'base_generation'?: (number | string | Long);
}

export interface Plan__Output {
  'rules': (_portplane_v1_RuleChange__Output)[];
  'ports': (_portplane_v1_PortChange__Output)[];
  'summary': (_portplane_v1_PlanSummary__Output | null);
  'base_generation': (string);
}
