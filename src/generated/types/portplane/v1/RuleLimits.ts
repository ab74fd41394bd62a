// Original file: proto/portplane/v1/config.proto


export interface RuleLimits {
  'max_sessions'?: (number);
  'session_rate'?: (number);
  'session_burst'?: (number);
  'source_rate'?: (number);
  'source_burst'?: (number);
  'max_udp_flows'?: (number);
}

export interface RuleLimits__Output {
  'max_sessions': (number);
  'session_rate': (number);
  'session_burst': (number);
  'source_rate': (number);
  'source_burst': (number);
  'max_udp_flows': (number);
}
