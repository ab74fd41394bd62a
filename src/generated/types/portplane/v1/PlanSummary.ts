// Original file: proto/portplane/v1/config.proto


export interface PlanSummary {
  'rules_added'?: (number);
  'rules_removed'?: (number);
  'rules_changed'?: (number);
  'rules_unchanged'?: (number);
  'ports_opened'?: (number);
  'ports_closed'?: (number);
  'ports_retargeted'?: (number);
  'ports_kept'?: (number);
  'tables_touched'?: (string)[];
  'empty'?: (boolean);
}

export interface PlanSummary__Output {
  'rules_added': (number);
  'rules_removed': (number);
  'rules_changed': (number);
  'rules_unchanged': (number);
  'ports_opened': (number);
  'ports_closed': (number);
  'ports_retargeted': (number);
  'ports_kept': (number);
  'tables_touched': (string)[];
  'empty': (boolean);
}
