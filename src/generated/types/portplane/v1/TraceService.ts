// Original file: proto/portplane/v1/trace_service.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { TraceRequest as _portplane_v1_TraceRequest, TraceRequest__Output as _portplane_v1_TraceRequest__Output } from '../../portplane/v1/TraceRequest.js';
import type { TraceResponse as _portplane_v1_TraceResponse, TraceResponse__Output as _portplane_v1_TraceResponse__Output } from '../../portplane/v1/TraceResponse.js';

export interface TraceServiceClient extends grpc.Client {
  Trace(argument: _portplane_v1_TraceRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_portplane_v1_TraceResponse__Output>): grpc.ClientUnaryCall;
  Trace(argument: _portplane_v1_TraceRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_portplane_v1_TraceResponse__Output>): grpc.ClientUnaryCall;
  Trace(argument: _portplane_v1_TraceRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_portplane_v1_TraceResponse__Output>): grpc.ClientUnaryCall;
  Trace(argument: _portplane_v1_TraceRequest, callback: grpc.requestCallback<_portplane_v1_TraceResponse__Output>): grpc.ClientUnaryCall;
  trace(argument: _portplane_v1_TraceRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_portplane_v1_TraceResponse__Output>): grpc.ClientUnaryCall;
  trace(argument: _portplane_v1_TraceRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_portplane_v1_TraceResponse__Output>): grpc.ClientUnaryCall;
  trace(argument: _portplane_v1_TraceRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_portplane_v1_TraceResponse__Output>): grpc.ClientUnaryCall;
  trace(argument: _portplane_v1_TraceRequest, callback: grpc.requestCallback<_portplane_v1_TraceResponse__Output>): grpc.ClientUnaryCall;
  
}

export interface TraceServiceHandlers extends grpc.UntypedServiceImplementation {
  Trace: grpc.handleUnaryCall<_portplane_v1_TraceRequest__Output, _portplane_v1_TraceResponse>;
  
}

export interface TraceServiceDefinition extends grpc.ServiceDefinition {
  Trace: MethodDefinition<_portplane_v1_TraceRequest, _portplane_v1_TraceResponse, _portplane_v1_TraceRequest__Output, _portplane_v1_TraceResponse__Output>
}
