// Original file: proto/portplane/v1/session_service.proto

import type { Protocol as _portplane_v1_Protocol, Protocol__Output as _portplane_v1_Protocol__Output } from '../../portplane/v1/Protocol.js';
import type { Endpoint as _portplane_v1_Endpoint, Endpoint__Output as _portplane_v1_Endpoint__Output } from '../../portplane/v1/Endpoint.js';
import type { Timestamp as _google_protobuf_Timestamp, Timestamp__Output as _google_protobuf_Timestamp__Output } from '../../google/protobuf/Timestamp.js';
import type { FlowCounters as _portplane_v1_FlowCounters, FlowCounters__Output as _portplane_v1_FlowCounters__Output } from '../../portplane/v1/FlowCounters.js';
import type { Long } from '@grpc/proto-loader';

export interface Session {
  'id'?: (string);
  'table'?: (string);
  'rule_id'?: (string);
  'rule_name'?: (string);
  'protocol'?: (_portplane_v1_Protocol);
  'client'?: (_portplane_v1_Endpoint | null);
  'listener'?: (_portplane_v1_Endpoint | null);
  'upstream_local'?: (_portplane_v1_Endpoint | null);
  'target'?: (_portplane_v1_Endpoint | null);
  'state'?: (string);
  'created_at'?: (_google_protobuf_Timestamp | null);
  'last_activity_at'?: (_google_protobuf_Timestamp | null);
  'from_client'?: (_portplane_v1_FlowCounters | null);
  'to_client'?: (_portplane_v1_FlowCounters | null);
  'generation'?: (number | string | Long);
}

export interface Session__Output {
  'id': (string);
  'table': (string);
  'rule_id': (string);
  'rule_name': (string);
  'protocol': (_portplane_v1_Protocol__Output);
  'client': (_portplane_v1_Endpoint__Output | null);
  'listener': (_portplane_v1_Endpoint__Output | null);
  'upstream_local': (_portplane_v1_Endpoint__Output | null);
  'target': (_portplane_v1_Endpoint__Output | null);
  'state': (string);
  'created_at': (_google_protobuf_Timestamp__Output | null);
  'last_activity_at': (_google_protobuf_Timestamp__Output | null);
  'from_client': (_portplane_v1_FlowCounters__Output | null);
  'to_client': (_portplane_v1_FlowCounters__Output | null);
  'generation': (string);
}
