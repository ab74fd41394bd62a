// Original file: proto/portplane/v1/telemetry_service.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { GetCountersRequest as _portplane_v1_GetCountersRequest, GetCountersRequest__Output as _portplane_v1_GetCountersRequest__Output } from '../../portplane/v1/GetCountersRequest.js';
import type { GetCountersResponse as _portplane_v1_GetCountersResponse, GetCountersResponse__Output as _portplane_v1_GetCountersResponse__Output } from '../../portplane/v1/GetCountersResponse.js';
import type { GetFloodCountersRequest as _portplane_v1_GetFloodCountersRequest, GetFloodCountersRequest__Output as _portplane_v1_GetFloodCountersRequest__Output } from '../../portplane/v1/GetFloodCountersRequest.js';
import type { GetFloodCountersResponse as _portplane_v1_GetFloodCountersResponse, GetFloodCountersResponse__Output as _portplane_v1_GetFloodCountersResponse__Output } from '../../portplane/v1/GetFloodCountersResponse.js';
import type { WatchCountersRequest as _portplane_v1_WatchCountersRequest, WatchCountersRequest__Output as _portplane_v1_WatchCountersRequest__Output } from '../../portplane/v1/WatchCountersRequest.js';
import type { WatchCountersResponse as _portplane_v1_WatchCountersResponse, WatchCountersResponse__Output as _portplane_v1_WatchCountersResponse__Output } from '../../portplane/v1/WatchCountersResponse.js';

export interface TelemetryServiceClient extends grpc.Client {
  GetCounters(argument: _portplane_v1_GetCountersRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_portplane_v1_GetCountersResponse__Output>): grpc.ClientUnaryCall;
  GetCounters(argument: _portplane_v1_GetCountersRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_portplane_v1_GetCountersResponse__Output>): grpc.ClientUnaryCall;
  GetCounters(argument: _portplane_v1_GetCountersRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_portplane_v1_GetCountersResponse__Output>): grpc.ClientUnaryCall;
  GetCounters(argument: _portplane_v1_GetCountersRequest, callback: grpc.requestCallback<_portplane_v1_GetCountersResponse__Output>): grpc.ClientUnaryCall;
  getCounters(argument: _portplane_v1_GetCountersRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_portplane_v1_GetCountersResponse__Output>): grpc.ClientUnaryCall;
  getCounters(argument: _portplane_v1_GetCountersRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_portplane_v1_GetCountersResponse__Output>): grpc.ClientUnaryCall;
  getCounters(argument: _portplane_v1_GetCountersRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_portplane_v1_GetCountersResponse__Output>): grpc.ClientUnaryCall;
  getCounters(argument: _portplane_v1_GetCountersRequest, callback: grpc.requestCallback<_portplane_v1_GetCountersResponse__Output>): grpc.ClientUnaryCall;
  
  GetFloodCounters(argument: _portplane_v1_GetFloodCountersRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_portplane_v1_GetFloodCountersResponse__Output>): grpc.ClientUnaryCall;
  GetFloodCounters(argument: _portplane_v1_GetFloodCountersRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_portplane_v1_GetFloodCountersResponse__Output>): grpc.ClientUnaryCall;
  GetFloodCounters(argument: _portplane_v1_GetFloodCountersRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_portplane_v1_GetFloodCountersResponse__Output>): grpc.ClientUnaryCall;
  GetFloodCounters(argument: _portplane_v1_GetFloodCountersRequest, callback: grpc.requestCallback<_portplane_v1_GetFloodCountersResponse__Output>): grpc.ClientUnaryCall;
  getFloodCounters(argument: _portplane_v1_GetFloodCountersRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_portplane_v1_GetFloodCountersResponse__Output>): grpc.ClientUnaryCall;
  getFloodCounters(argument: _portplane_v1_GetFloodCountersRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_portplane_v1_GetFloodCountersResponse__Output>): grpc.ClientUnaryCall;
  getFloodCounters(argument: _portplane_v1_GetFloodCountersRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_portplane_v1_GetFloodCountersResponse__Output>): grpc.ClientUnaryCall;
  getFloodCounters(argument: _portplane_v1_GetFloodCountersRequest, callback: grpc.requestCallback<_portplane_v1_GetFloodCountersResponse__Output>): grpc.ClientUnaryCall;
  
  WatchCounters(argument: _portplane_v1_WatchCountersRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_portplane_v1_WatchCountersResponse__Output>;
  WatchCounters(argument: _portplane_v1_WatchCountersRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_portplane_v1_WatchCountersResponse__Output>;
  watchCounters(argument: _portplane_v1_WatchCountersRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_portplane_v1_WatchCountersResponse__Output>;
  watchCounters(argument: _portplane_v1_WatchCountersRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_portplane_v1_WatchCountersResponse__Output>;
  
}

export interface TelemetryServiceHandlers extends grpc.UntypedServiceImplementation {
  GetCounters: grpc.handleUnaryCall<_portplane_v1_GetCountersRequest__Output, _portplane_v1_GetCountersResponse>;
  
  GetFloodCounters: grpc.handleUnaryCall<_portplane_v1_GetFloodCountersRequest__Output, _portplane_v1_GetFloodCountersResponse>;
  
  WatchCounters: grpc.handleServerStreamingCall<_portplane_v1_WatchCountersRequest__Output, _portplane_v1_WatchCountersResponse>;
  
}

export interface TelemetryServiceDefinition extends grpc.ServiceDefinition {
  GetCounters: MethodDefinition<_portplane_v1_GetCountersRequest, _portplane_v1_GetCountersResponse, _portplane_v1_GetCountersRequest__Output, _portplane_v1_GetCountersResponse__Output>
  GetFloodCounters: MethodDefinition<_portplane_v1_GetFloodCountersRequest, _portplane_v1_GetFloodCountersResponse, _portplane_v1_GetFloodCountersRequest__Output, _portplane_v1_GetFloodCountersResponse__Output>
  WatchCounters: MethodDefinition<_portplane_v1_WatchCountersRequest, _portplane_v1_WatchCountersResponse, _portplane_v1_WatchCountersRequest__Output, _portplane_v1_WatchCountersResponse__Output>
}
