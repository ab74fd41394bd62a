// Original file: proto/portplane/v1/config.proto

export const RuleAction = {
  RULE_ACTION_UNSPECIFIED: 'RULE_ACTION_UNSPECIFIED',
  RULE_ACTION_UNCHANGED: 'RULE_ACTION_UNCHANGED',
  RULE_ACTION_ADDED: 'RULE_ACTION_ADDED',
  RULE_ACTION_REMOVED: 'RULE_ACTION_REMOVED',
  RULE_ACTION_CHANGED: 'RULE_ACTION_CHANGED',
} as const;

export type RuleAction =
  | 'RULE_ACTION_UNSPECIFIED'
  | 0
  | 'RULE_ACTION_UNCHANGED'
  | 1
  | 'RULE_ACTION_ADDED'
  | 2
  | 'RULE_ACTION_REMOVED'
  | 3
  | 'RULE_ACTION_CHANGED'
  | 4

export type RuleAction__Output = typeof RuleAction[keyof typeof RuleAction]
