// Original file: proto/portplane/v1/config.proto


export interface Limits {
  'max_tables'?: (number);
  'max_rules_per_table'?: (number);
  'max_rules'?: (number);
  'max_ports'?: (number);
  'max_message_bytes'?: (number);
  'max_streams_per_caller'?: (number);
  'apply_rate_per_second'?: (number | string);
  'apply_burst'?: (number);
}

export interface Limits__Output {
  'max_tables': (number);
  'max_rules_per_table': (number);
  'max_rules': (number);
  'max_ports': (number);
  'max_message_bytes': (number);
  'max_streams_per_caller': (number);
  'apply_rate_per_second': (number);
  'apply_burst': (number);
}
