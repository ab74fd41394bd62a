// Original file: proto/portplane/v1/config.proto

export const RuleState = {
  RULE_STATE_UNSPECIFIED: 'RULE_STATE_UNSPECIFIED',
  RULE_STATE_ACTIVE: 'RULE_STATE_ACTIVE',
  RULE_STATE_DEGRADED: 'RULE_STATE_DEGRADED',
  RULE_STATE_FAILED: 'RULE_STATE_FAILED',
} as const;

export type RuleState =
  | 'RULE_STATE_UNSPECIFIED'
  | 0
  | 'RULE_STATE_ACTIVE'
  | 1
  | 'RULE_STATE_DEGRADED'
  | 2
  | 'RULE_STATE_FAILED'
  | 3

export type RuleState__Output = typeof RuleState[keyof typeof RuleState]
