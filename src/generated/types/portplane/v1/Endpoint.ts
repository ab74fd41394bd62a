// Original file: proto/portplane/v1/config.proto


export interface Endpoint {
  'address'?: (string);
  'port'?: (number);
}

export interface Endpoint__Output {
  'address': (string);
  'port': (number);
}
