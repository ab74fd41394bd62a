// Original file: proto/portplane/v1/config.proto


export interface UnsupportedFeature {
  'feature'?: (string);
  'reason'?: (string);
}

export interface UnsupportedFeature__Output {
  'feature': (string);
  'reason': (string);
}
