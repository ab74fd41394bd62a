// Original file: proto/portplane/v1/trace_service.proto

import type { Protocol as _portplane_v1_Protocol, Protocol__Output as _portplane_v1_Protocol__Output } from '../../portplane/v1/Protocol.js';
import type { Endpoint as _portplane_v1_Endpoint, Endpoint__Output as _portplane_v1_Endpoint__Output } from '../../portplane/v1/Endpoint.js';
import type { TcpFlags as _portplane_v1_TcpFlags, TcpFlags__Output as _portplane_v1_TcpFlags__Output } from '../../portplane/v1/TcpFlags.js';

export interface TraceRequest {
  'protocol'?: (_portplane_v1_Protocol);
  'source'?: (_portplane_v1_Endpoint | null);
  'destination'?: (_portplane_v1_Endpoint | null);
  'tcp_flags'?: (_portplane_v1_TcpFlags | null);
}

export interface TraceRequest__Output {
  'protocol': (_portplane_v1_Protocol__Output);
  'source': (_portplane_v1_Endpoint__Output | null);
  'destination': (_portplane_v1_Endpoint__Output | null);
  'tcp_flags': (_portplane_v1_TcpFlags__Output | null);
}
