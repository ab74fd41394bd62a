// Original file: proto/portplane/v1/config.proto


export interface PortRange {
  'first'?: (number);
  'last'?: (number);
}

export interface PortRange__Output {
  'first': (number);
  'last': (number);
}
