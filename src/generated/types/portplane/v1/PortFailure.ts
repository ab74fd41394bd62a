// Original file: proto/portplane/v1/config.proto

import type { Protocol as _portplane_v1_Protocol, Protocol__Output as _portplane_v1_Protocol__Output } from '../../portplane/v1/Protocol.js';

export interface PortFailure {
  'protocol'?: (_portplane_v1_Protocol);
  'listen_address'?: (string);
  'port'?: (number);
  'errno'?: (string);
  'message'?: (string);
}

export interface PortFailure__Output {
  'protocol': (_portplane_v1_Protocol__Output);
  'listen_address': (string);
  'port': (number);
  'errno': (string);
  'message': (string);
}
