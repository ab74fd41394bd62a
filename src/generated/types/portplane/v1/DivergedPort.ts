// Original file: proto/portplane/v1/config.proto

import type { Protocol as _portplane_v1_Protocol, Protocol__Output as _portplane_v1_Protocol__Output } from '../../portplane/v1/Protocol.js';
import type { Timestamp as _google_protobuf_Timestamp, Timestamp__Output as _google_protobuf_Timestamp__Output } from '../../google/protobuf/Timestamp.js';

export interface DivergedPort {
  'table'?: (string);
  'rule_id'?: (string);
  'protocol'?: (_portplane_v1_Protocol);
  'listen_address'?: (string);
  'port'?: (number);
  'errno'?: (string);
  'message'?: (string);
  'since'?: (_google_protobuf_Timestamp | null);
}

export interface DivergedPort__Output {
  'table': (string);
  'rule_id': (string);
  'protocol': (_portplane_v1_Protocol__Output);
  'listen_address': (string);
  'port': (number);
  'errno': (string);
  'message': (string);
  'since': (_google_protobuf_Timestamp__Output | null);
}
