// Original file: proto/portplane/v1/ha_service.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { GetRoleRequest as _portplane_v1_GetRoleRequest, GetRoleRequest__Output as _portplane_v1_GetRoleRequest__Output } from '../../portplane/v1/GetRoleRequest.js';
import type { GetRoleResponse as _portplane_v1_GetRoleResponse, GetRoleResponse__Output as _portplane_v1_GetRoleResponse__Output } from '../../portplane/v1/GetRoleResponse.js';
import type { SetRoleRequest as _portplane_v1_SetRoleRequest, SetRoleRequest__Output as _portplane_v1_SetRoleRequest__Output } from '../../portplane/v1/SetRoleRequest.js';
import type { SetRoleResponse as _portplane_v1_SetRoleResponse, SetRoleResponse__Output as _portplane_v1_SetRoleResponse__Output } from '../../portplane/v1/SetRoleResponse.js';
import type { SyncSessionsRequest as _portplane_v1_SyncSessionsRequest, SyncSessionsRequest__Output as _portplane_v1_SyncSessionsRequest__Output } from '../../portplane/v1/SyncSessionsRequest.js';
import type { SyncSessionsResponse as _portplane_v1_SyncSessionsResponse, SyncSessionsResponse__Output as _portplane_v1_SyncSessionsResponse__Output } from '../../portplane/v1/SyncSessionsResponse.js';

export interface HAServiceClient extends grpc.Client {
  GetRole(argument: _portplane_v1_GetRoleRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_portplane_v1_GetRoleResponse__Output>): grpc.ClientUnaryCall;
  GetRole(argument: _portplane_v1_GetRoleRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_portplane_v1_GetRoleResponse__Output>): grpc.ClientUnaryCall;
  GetRole(argument: _portplane_v1_GetRoleRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_portplane_v1_GetRoleResponse__Output>): grpc.ClientUnaryCall;
  GetRole(argument: _portplane_v1_GetRoleRequest, callback: grpc.requestCallback<_portplane_v1_GetRoleResponse__Output>): grpc.ClientUnaryCall;
  getRole(argument: _portplane_v1_GetRoleRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_portplane_v1_GetRoleResponse__Output>): grpc.ClientUnaryCall;
  getRole(argument: _portplane_v1_GetRoleRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_portplane_v1_GetRoleResponse__Output>): grpc.ClientUnaryCall;
  getRole(argument: _portplane_v1_GetRoleRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_portplane_v1_GetRoleResponse__Output>): grpc.ClientUnaryCall;
  getRole(argument: _portplane_v1_GetRoleRequest, callback: grpc.requestCallback<_portplane_v1_GetRoleResponse__Output>): grpc.ClientUnaryCall;
  
  SetRole(argument: _portplane_v1_SetRoleRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_portplane_v1_SetRoleResponse__Output>): grpc.ClientUnaryCall;
  SetRole(argument: _portplane_v1_SetRoleRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_portplane_v1_SetRoleResponse__Output>): grpc.ClientUnaryCall;
  SetRole(argument: _portplane_v1_SetRoleRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_portplane_v1_SetRoleResponse__Output>): grpc.ClientUnaryCall;
  SetRole(argument: _portplane_v1_SetRoleRequest, callback: grpc.requestCallback<_portplane_v1_SetRoleResponse__Output>): grpc.ClientUnaryCall;
  setRole(argument: _portplane_v1_SetRoleRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_portplane_v1_SetRoleResponse__Output>): grpc.ClientUnaryCall;
  setRole(argument: _portplane_v1_SetRoleRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_portplane_v1_SetRoleResponse__Output>): grpc.ClientUnaryCall;
  setRole(argument: _portplane_v1_SetRoleRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_portplane_v1_SetRoleResponse__Output>): grpc.ClientUnaryCall;
  setRole(argument: _portplane_v1_SetRoleRequest, callback: grpc.requestCallback<_portplane_v1_SetRoleResponse__Output>): grpc.ClientUnaryCall;
  
  SyncSessions(metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<_portplane_v1_SyncSessionsRequest, _portplane_v1_SyncSessionsResponse__Output>;
  SyncSessions(options?: grpc.CallOptions): grpc.ClientDuplexStream<_portplane_v1_SyncSessionsRequest, _portplane_v1_SyncSessionsResponse__Output>;
  syncSessions(metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<_portplane_v1_SyncSessionsRequest, _portplane_v1_SyncSessionsResponse__Output>;
  syncSessions(options?: grpc.CallOptions): grpc.ClientDuplexStream<_portplane_v1_SyncSessionsRequest, _portplane_v1_SyncSessionsResponse__Output>;
  
}

export interface HAServiceHandlers extends grpc.UntypedServiceImplementation {
  GetRole: grpc.handleUnaryCall<_portplane_v1_GetRoleRequest__Output, _portplane_v1_GetRoleResponse>;
  
  SetRole: grpc.handleUnaryCall<_portplane_v1_SetRoleRequest__Output, _portplane_v1_SetRoleResponse>;
  
  SyncSessions: grpc.handleBidiStreamingCall<_portplane_v1_SyncSessionsRequest__Output, _portplane_v1_SyncSessionsResponse>;
  
}

export interface HAServiceDefinition extends grpc.ServiceDefinition {
  GetRole: MethodDefinition<_portplane_v1_GetRoleRequest, _portplane_v1_GetRoleResponse, _portplane_v1_GetRoleRequest__Output, _portplane_v1_GetRoleResponse__Output>
  SetRole: MethodDefinition<_portplane_v1_SetRoleRequest, _portplane_v1_SetRoleResponse, _portplane_v1_SetRoleRequest__Output, _portplane_v1_SetRoleResponse__Output>
  SyncSessions: MethodDefinition<_portplane_v1_SyncSessionsRequest, _portplane_v1_SyncSessionsResponse, _portplane_v1_SyncSessionsRequest__Output, _portplane_v1_SyncSessionsResponse__Output>
}
