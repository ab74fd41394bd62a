// Original file: proto/portplane/v1/session_service.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { DeleteSessionsRequest as _portplane_v1_DeleteSessionsRequest, DeleteSessionsRequest__Output as _portplane_v1_DeleteSessionsRequest__Output } from '../../portplane/v1/DeleteSessionsRequest.js';
import type { DeleteSessionsResponse as _portplane_v1_DeleteSessionsResponse, DeleteSessionsResponse__Output as _portplane_v1_DeleteSessionsResponse__Output } from '../../portplane/v1/DeleteSessionsResponse.js';
import type { GetSessionRequest as _portplane_v1_GetSessionRequest, GetSessionRequest__Output as _portplane_v1_GetSessionRequest__Output } from '../../portplane/v1/GetSessionRequest.js';
import type { GetSessionResponse as _portplane_v1_GetSessionResponse, GetSessionResponse__Output as _portplane_v1_GetSessionResponse__Output } from '../../portplane/v1/GetSessionResponse.js';
import type { GetSessionSummaryRequest as _portplane_v1_GetSessionSummaryRequest, GetSessionSummaryRequest__Output as _portplane_v1_GetSessionSummaryRequest__Output } from '../../portplane/v1/GetSessionSummaryRequest.js';
import type { GetSessionSummaryResponse as _portplane_v1_GetSessionSummaryResponse, GetSessionSummaryResponse__Output as _portplane_v1_GetSessionSummaryResponse__Output } from '../../portplane/v1/GetSessionSummaryResponse.js';
import type { ListSessionsRequest as _portplane_v1_ListSessionsRequest, ListSessionsRequest__Output as _portplane_v1_ListSessionsRequest__Output } from '../../portplane/v1/ListSessionsRequest.js';
import type { ListSessionsResponse as _portplane_v1_ListSessionsResponse, ListSessionsResponse__Output as _portplane_v1_ListSessionsResponse__Output } from '../../portplane/v1/ListSessionsResponse.js';
import type { WatchSessionsRequest as _portplane_v1_WatchSessionsRequest, WatchSessionsRequest__Output as _portplane_v1_WatchSessionsRequest__Output } from '../../portplane/v1/WatchSessionsRequest.js';
import type { WatchSessionsResponse as _portplane_v1_WatchSessionsResponse, WatchSessionsResponse__Output as _portplane_v1_WatchSessionsResponse__Output } from '../../portplane/v1/WatchSessionsResponse.js';

export interface SessionServiceClient extends grpc.Client {
  DeleteSessions(argument: _portplane_v1_DeleteSessionsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_portplane_v1_DeleteSessionsResponse__Output>): grpc.ClientUnaryCall;
  DeleteSessions(argument: _portplane_v1_DeleteSessionsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_portplane_v1_DeleteSessionsResponse__Output>): grpc.ClientUnaryCall;
  DeleteSessions(argument: _portplane_v1_DeleteSessionsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_portplane_v1_DeleteSessionsResponse__Output>): grpc.ClientUnaryCall;
  DeleteSessions(argument: _portplane_v1_DeleteSessionsRequest, callback: grpc.requestCallback<_portplane_v1_DeleteSessionsResponse__Output>): grpc.ClientUnaryCall;
  deleteSessions(argument: _portplane_v1_DeleteSessionsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_portplane_v1_DeleteSessionsResponse__Output>): grpc.ClientUnaryCall;
  deleteSessions(argument: _portplane_v1_DeleteSessionsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_portplane_v1_DeleteSessionsResponse__Output>): grpc.ClientUnaryCall;
  deleteSessions(argument: _portplane_v1_DeleteSessionsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_portplane_v1_DeleteSessionsResponse__Output>): grpc.ClientUnaryCall;
  deleteSessions(argument: _portplane_v1_DeleteSessionsRequest, callback: grpc.requestCallback<_portplane_v1_DeleteSessionsResponse__Output>): grpc.ClientUnaryCall;
  
  GetSession(argument: _portplane_v1_GetSessionRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_portplane_v1_GetSessionResponse__Output>): grpc.ClientUnaryCall;
  GetSession(argument: _portplane_v1_GetSessionRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_portplane_v1_GetSessionResponse__Output>): grpc.ClientUnaryCall;
  GetSession(argument: _portplane_v1_GetSessionRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_portplane_v1_GetSessionResponse__Output>): grpc.ClientUnaryCall;
  GetSession(argument: _portplane_v1_GetSessionRequest, callback: grpc.requestCallback<_portplane_v1_GetSessionResponse__Output>): grpc.ClientUnaryCall;
  getSession(argument: _portplane_v1_GetSessionRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_portplane_v1_GetSessionResponse__Output>): grpc.ClientUnaryCall;
  getSession(argument: _portplane_v1_GetSessionRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_portplane_v1_GetSessionResponse__Output>): grpc.ClientUnaryCall;
  getSession(argument: _portplane_v1_GetSessionRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_portplane_v1_GetSessionResponse__Output>): grpc.ClientUnaryCall;
  getSession(argument: _portplane_v1_GetSessionRequest, callback: grpc.requestCallback<_portplane_v1_GetSessionResponse__Output>): grpc.ClientUnaryCall;
  
  GetSessionSummary(argument: _portplane_v1_GetSessionSummaryRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_portplane_v1_GetSessionSummaryResponse__Output>): grpc.ClientUnaryCall;
  GetSessionSummary(argument: _portplane_v1_GetSessionSummaryRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_portplane_v1_GetSessionSummaryResponse__Output>): grpc.ClientUnaryCall;
  GetSessionSummary(argument: _portplane_v1_GetSessionSummaryRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_portplane_v1_GetSessionSummaryResponse__Output>): grpc.ClientUnaryCall;
  GetSessionSummary(argument: _portplane_v1_GetSessionSummaryRequest, callback: grpc.requestCallback<_portplane_v1_GetSessionSummaryResponse__Output>): grpc.ClientUnaryCall;
  getSessionSummary(argument: _portplane_v1_GetSessionSummaryRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_portplane_v1_GetSessionSummaryResponse__Output>): grpc.ClientUnaryCall;
  getSessionSummary(argument: _portplane_v1_GetSessionSummaryRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_portplane_v1_GetSessionSummaryResponse__Output>): grpc.ClientUnaryCall;
  getSessionSummary(argument: _portplane_v1_GetSessionSummaryRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_portplane_v1_GetSessionSummaryResponse__Output>): grpc.ClientUnaryCall;
  getSessionSummary(argument: _portplane_v1_GetSessionSummaryRequest, callback: grpc.requestCallback<_portplane_v1_GetSessionSummaryResponse__Output>): grpc.ClientUnaryCall;
  
  ListSessions(argument: _portplane_v1_ListSessionsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_portplane_v1_ListSessionsResponse__Output>): grpc.ClientUnaryCall;
  ListSessions(argument: _portplane_v1_ListSessionsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_portplane_v1_ListSessionsResponse__Output>): grpc.ClientUnaryCall;
  ListSessions(argument: _portplane_v1_ListSessionsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_portplane_v1_ListSessionsResponse__Output>): grpc.ClientUnaryCall;
  ListSessions(argument: _portplane_v1_ListSessionsRequest, callback: grpc.requestCallback<_portplane_v1_ListSessionsResponse__Output>): grpc.ClientUnaryCall;
  listSessions(argument: _portplane_v1_ListSessionsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_portplane_v1_ListSessionsResponse__Output>): grpc.ClientUnaryCall;
  listSessions(argument: _portplane_v1_ListSessionsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_portplane_v1_ListSessionsResponse__Output>): grpc.ClientUnaryCall;
  listSessions(argument: _portplane_v1_ListSessionsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_portplane_v1_ListSessionsResponse__Output>): grpc.ClientUnaryCall;
  listSessions(argument: _portplane_v1_ListSessionsRequest, callback: grpc.requestCallback<_portplane_v1_ListSessionsResponse__Output>): grpc.ClientUnaryCall;
  
  WatchSessions(argument: _portplane_v1_WatchSessionsRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_portplane_v1_WatchSessionsResponse__Output>;
  WatchSessions(argument: _portplane_v1_WatchSessionsRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_portplane_v1_WatchSessionsResponse__Output>;
  watchSessions(argument: _portplane_v1_WatchSessionsRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_portplane_v1_WatchSessionsResponse__Output>;
  watchSessions(argument: _portplane_v1_WatchSessionsRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_portplane_v1_WatchSessionsResponse__Output>;
  
}

export interface SessionServiceHandlers extends grpc.UntypedServiceImplementation {
  DeleteSessions: grpc.handleUnaryCall<_portplane_v1_DeleteSessionsRequest__Output, _portplane_v1_DeleteSessionsResponse>;
  
  GetSession: grpc.handleUnaryCall<_portplane_v1_GetSessionRequest__Output, _portplane_v1_GetSessionResponse>;
  
  GetSessionSummary: grpc.handleUnaryCall<_portplane_v1_GetSessionSummaryRequest__Output, _portplane_v1_GetSessionSummaryResponse>;
  
  ListSessions: grpc.handleUnaryCall<_portplane_v1_ListSessionsRequest__Output, _portplane_v1_ListSessionsResponse>;
  
  WatchSessions: grpc.handleServerStreamingCall<_portplane_v1_WatchSessionsRequest__Output, _portplane_v1_WatchSessionsResponse>;
  
}

export interface SessionServiceDefinition extends grpc.ServiceDefinition {
  DeleteSessions: MethodDefinition<_portplane_v1_DeleteSessionsRequest, _portplane_v1_DeleteSessionsResponse, _portplane_v1_DeleteSessionsRequest__Output, _portplane_v1_DeleteSessionsResponse__Output>
  GetSession: MethodDefinition<_portplane_v1_GetSessionRequest, _portplane_v1_GetSessionResponse, _portplane_v1_GetSessionRequest__Output, _portplane_v1_GetSessionResponse__Output>
  GetSessionSummary: MethodDefinition<_portplane_v1_GetSessionSummaryRequest, _portplane_v1_GetSessionSummaryResponse, _portplane_v1_GetSessionSummaryRequest__Output, _portplane_v1_GetSessionSummaryResponse__Output>
  ListSessions: MethodDefinition<_portplane_v1_ListSessionsRequest, _portplane_v1_ListSessionsResponse, _portplane_v1_ListSessionsRequest__Output, _portplane_v1_ListSessionsResponse__Output>
  WatchSessions: MethodDefinition<_portplane_v1_WatchSessionsRequest, _portplane_v1_WatchSessionsResponse, _portplane_v1_WatchSessionsRequest__Output, _portplane_v1_WatchSessionsResponse__Output>
}
