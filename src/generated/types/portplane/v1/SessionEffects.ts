// Original file: proto/portplane/v1/config.proto


export interface SessionEffects {
  'ended'?: (number);
  'draining'?: (number);
  'held'?: (number);
  'restored'?: (number);
}

export interface SessionEffects__Output {
  'ended': (number);
  'draining': (number);
  'held': (number);
  'restored': (number);
}
