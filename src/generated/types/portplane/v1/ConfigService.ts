// Original file: proto/portplane/v1/config_service.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { ApplyConfigRequest as _portplane_v1_ApplyConfigRequest, ApplyConfigRequest__Output as _portplane_v1_ApplyConfigRequest__Output } from '../../portplane/v1/ApplyConfigRequest.js';
import type { ApplyConfigResponse as _portplane_v1_ApplyConfigResponse, ApplyConfigResponse__Output as _portplane_v1_ApplyConfigResponse__Output } from '../../portplane/v1/ApplyConfigResponse.js';
import type { CancelApplyRequest as _portplane_v1_CancelApplyRequest, CancelApplyRequest__Output as _portplane_v1_CancelApplyRequest__Output } from '../../portplane/v1/CancelApplyRequest.js';
import type { CancelApplyResponse as _portplane_v1_CancelApplyResponse, CancelApplyResponse__Output as _portplane_v1_CancelApplyResponse__Output } from '../../portplane/v1/CancelApplyResponse.js';
import type { ConfirmApplyRequest as _portplane_v1_ConfirmApplyRequest, ConfirmApplyRequest__Output as _portplane_v1_ConfirmApplyRequest__Output } from '../../portplane/v1/ConfirmApplyRequest.js';
import type { ConfirmApplyResponse as _portplane_v1_ConfirmApplyResponse, ConfirmApplyResponse__Output as _portplane_v1_ConfirmApplyResponse__Output } from '../../portplane/v1/ConfirmApplyResponse.js';
import type { GetCapabilitiesRequest as _portplane_v1_GetCapabilitiesRequest, GetCapabilitiesRequest__Output as _portplane_v1_GetCapabilitiesRequest__Output } from '../../portplane/v1/GetCapabilitiesRequest.js';
import type { GetCapabilitiesResponse as _portplane_v1_GetCapabilitiesResponse, GetCapabilitiesResponse__Output as _portplane_v1_GetCapabilitiesResponse__Output } from '../../portplane/v1/GetCapabilitiesResponse.js';
import type { GetConfigRequest as _portplane_v1_GetConfigRequest, GetConfigRequest__Output as _portplane_v1_GetConfigRequest__Output } from '../../portplane/v1/GetConfigRequest.js';
import type { GetConfigResponse as _portplane_v1_GetConfigResponse, GetConfigResponse__Output as _portplane_v1_GetConfigResponse__Output } from '../../portplane/v1/GetConfigResponse.js';
import type { LastApplyResultRequest as _portplane_v1_LastApplyResultRequest, LastApplyResultRequest__Output as _portplane_v1_LastApplyResultRequest__Output } from '../../portplane/v1/LastApplyResultRequest.js';
import type { LastApplyResultResponse as _portplane_v1_LastApplyResultResponse, LastApplyResultResponse__Output as _portplane_v1_LastApplyResultResponse__Output } from '../../portplane/v1/LastApplyResultResponse.js';
import type { ListApplyHistoryRequest as _portplane_v1_ListApplyHistoryRequest, ListApplyHistoryRequest__Output as _portplane_v1_ListApplyHistoryRequest__Output } from '../../portplane/v1/ListApplyHistoryRequest.js';
import type { ListApplyHistoryResponse as _portplane_v1_ListApplyHistoryResponse, ListApplyHistoryResponse__Output as _portplane_v1_ListApplyHistoryResponse__Output } from '../../portplane/v1/ListApplyHistoryResponse.js';
import type { RollbackToRequest as _portplane_v1_RollbackToRequest, RollbackToRequest__Output as _portplane_v1_RollbackToRequest__Output } from '../../portplane/v1/RollbackToRequest.js';
import type { RollbackToResponse as _portplane_v1_RollbackToResponse, RollbackToResponse__Output as _portplane_v1_RollbackToResponse__Output } from '../../portplane/v1/RollbackToResponse.js';
import type { TransactionRequest as _portplane_v1_TransactionRequest, TransactionRequest__Output as _portplane_v1_TransactionRequest__Output } from '../../portplane/v1/TransactionRequest.js';
import type { TransactionResponse as _portplane_v1_TransactionResponse, TransactionResponse__Output as _portplane_v1_TransactionResponse__Output } from '../../portplane/v1/TransactionResponse.js';
import type { WatchApplyResultsRequest as _portplane_v1_WatchApplyResultsRequest, WatchApplyResultsRequest__Output as _portplane_v1_WatchApplyResultsRequest__Output } from '../../portplane/v1/WatchApplyResultsRequest.js';
import type { WatchApplyResultsResponse as _portplane_v1_WatchApplyResultsResponse, WatchApplyResultsResponse__Output as _portplane_v1_WatchApplyResultsResponse__Output } from '../../portplane/v1/WatchApplyResultsResponse.js';

export interface ConfigServiceClient extends grpc.Client {
  ApplyConfig(argument: _portplane_v1_ApplyConfigRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_portplane_v1_ApplyConfigResponse__Output>): grpc.ClientUnaryCall;
  ApplyConfig(argument: _portplane_v1_ApplyConfigRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_portplane_v1_ApplyConfigResponse__Output>): grpc.ClientUnaryCall;
  ApplyConfig(argument: _portplane_v1_ApplyConfigRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_portplane_v1_ApplyConfigResponse__Output>): grpc.ClientUnaryCall;
  ApplyConfig(argument: _portplane_v1_ApplyConfigRequest, callback: grpc.requestCallback<_portplane_v1_ApplyConfigResponse__Output>): grpc.ClientUnaryCall;
  applyConfig(argument: _portplane_v1_ApplyConfigRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_portplane_v1_ApplyConfigResponse__Output>): grpc.ClientUnaryCall;
  applyConfig(argument: _portplane_v1_ApplyConfigRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_portplane_v1_ApplyConfigResponse__Output>): grpc.ClientUnaryCall;
  applyConfig(argument: _portplane_v1_ApplyConfigRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_portplane_v1_ApplyConfigResponse__Output>): grpc.ClientUnaryCall;
  applyConfig(argument: _portplane_v1_ApplyConfigRequest, callback: grpc.requestCallback<_portplane_v1_ApplyConfigResponse__Output>): grpc.ClientUnaryCall;
  
  CancelApply(argument: _portplane_v1_CancelApplyRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_portplane_v1_CancelApplyResponse__Output>): grpc.ClientUnaryCall;
  CancelApply(argument: _portplane_v1_CancelApplyRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_portplane_v1_CancelApplyResponse__Output>): grpc.ClientUnaryCall;
  CancelApply(argument: _portplane_v1_CancelApplyRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_portplane_v1_CancelApplyResponse__Output>): grpc.ClientUnaryCall;
  CancelApply(argument: _portplane_v1_CancelApplyRequest, callback: grpc.requestCallback<_portplane_v1_CancelApplyResponse__Output>): grpc.ClientUnaryCall;
  cancelApply(argument: _portplane_v1_CancelApplyRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_portplane_v1_CancelApplyResponse__Output>): grpc.ClientUnaryCall;
  cancelApply(argument: _portplane_v1_CancelApplyRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_portplane_v1_CancelApplyResponse__Output>): grpc.ClientUnaryCall;
  cancelApply(argument: _portplane_v1_CancelApplyRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_portplane_v1_CancelApplyResponse__Output>): grpc.ClientUnaryCall;
  cancelApply(argument: _portplane_v1_CancelApplyRequest, callback: grpc.requestCallback<_portplane_v1_CancelApplyResponse__Output>): grpc.ClientUnaryCall;
  
  ConfirmApply(argument: _portplane_v1_ConfirmApplyRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_portplane_v1_ConfirmApplyResponse__Output>): grpc.ClientUnaryCall;
  ConfirmApply(argument: _portplane_v1_ConfirmApplyRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_portplane_v1_ConfirmApplyResponse__Output>): grpc.ClientUnaryCall;
  ConfirmApply(argument: _portplane_v1_ConfirmApplyRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_portplane_v1_ConfirmApplyResponse__Output>): grpc.ClientUnaryCall;
  ConfirmApply(argument: _portplane_v1_ConfirmApplyRequest, callback: grpc.requestCallback<_portplane_v1_ConfirmApplyResponse__Output>): grpc.ClientUnaryCall;
  confirmApply(argument: _portplane_v1_ConfirmApplyRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_portplane_v1_ConfirmApplyResponse__Output>): grpc.ClientUnaryCall;
  confirmApply(argument: _portplane_v1_ConfirmApplyRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_portplane_v1_ConfirmApplyResponse__Output>): grpc.ClientUnaryCall;
  confirmApply(argument: _portplane_v1_ConfirmApplyRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_portplane_v1_ConfirmApplyResponse__Output>): grpc.ClientUnaryCall;
  confirmApply(argument: _portplane_v1_ConfirmApplyRequest, callback: grpc.requestCallback<_portplane_v1_ConfirmApplyResponse__Output>): grpc.ClientUnaryCall;
  
  GetCapabilities(argument: _portplane_v1_GetCapabilitiesRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_portplane_v1_GetCapabilitiesResponse__Output>): grpc.ClientUnaryCall;
  GetCapabilities(argument: _portplane_v1_GetCapabilitiesRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_portplane_v1_GetCapabilitiesResponse__Output>): grpc.ClientUnaryCall;
  GetCapabilities(argument: _portplane_v1_GetCapabilitiesRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_portplane_v1_GetCapabilitiesResponse__Output>): grpc.ClientUnaryCall;
  GetCapabilities(argument: _portplane_v1_GetCapabilitiesRequest, callback: grpc.requestCallback<_portplane_v1_GetCapabilitiesResponse__Output>): grpc.ClientUnaryCall;
  getCapabilities(argument: _portplane_v1_GetCapabilitiesRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_portplane_v1_GetCapabilitiesResponse__Output>): grpc.ClientUnaryCall;
  getCapabilities(argument: _portplane_v1_GetCapabilitiesRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_portplane_v1_GetCapabilitiesResponse__Output>): grpc.ClientUnaryCall;
  getCapabilities(argument: _portplane_v1_GetCapabilitiesRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_portplane_v1_GetCapabilitiesResponse__Output>): grpc.ClientUnaryCall;
  getCapabilities(argument: _portplane_v1_GetCapabilitiesRequest, callback: grpc.requestCallback<_portplane_v1_GetCapabilitiesResponse__Output>): grpc.ClientUnaryCall;
  
  GetConfig(argument: _portplane_v1_GetConfigRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_portplane_v1_GetConfigResponse__Output>): grpc.ClientUnaryCall;
  GetConfig(argument: _portplane_v1_GetConfigRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_portplane_v1_GetConfigResponse__Output>): grpc.ClientUnaryCall;
  GetConfig(argument: _portplane_v1_GetConfigRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_portplane_v1_GetConfigResponse__Output>): grpc.ClientUnaryCall;
  GetConfig(argument: _portplane_v1_GetConfigRequest, callback: grpc.requestCallback<_portplane_v1_GetConfigResponse__Output>): grpc.ClientUnaryCall;
  getConfig(argument: _portplane_v1_GetConfigRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_portplane_v1_GetConfigResponse__Output>): grpc.ClientUnaryCall;
  getConfig(argument: _portplane_v1_GetConfigRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_portplane_v1_GetConfigResponse__Output>): grpc.ClientUnaryCall;
  getConfig(argument: _portplane_v1_GetConfigRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_portplane_v1_GetConfigResponse__Output>): grpc.ClientUnaryCall;
  getConfig(argument: _portplane_v1_GetConfigRequest, callback: grpc.requestCallback<_portplane_v1_GetConfigResponse__Output>): grpc.ClientUnaryCall;
  
  LastApplyResult(argument: _portplane_v1_LastApplyResultRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_portplane_v1_LastApplyResultResponse__Output>): grpc.ClientUnaryCall;
  LastApplyResult(argument: _portplane_v1_LastApplyResultRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_portplane_v1_LastApplyResultResponse__Output>): grpc.ClientUnaryCall;
  LastApplyResult(argument: _portplane_v1_LastApplyResultRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_portplane_v1_LastApplyResultResponse__Output>): grpc.ClientUnaryCall;
  LastApplyResult(argument: _portplane_v1_LastApplyResultRequest, callback: grpc.requestCallback<_portplane_v1_LastApplyResultResponse__Output>): grpc.ClientUnaryCall;
  lastApplyResult(argument: _portplane_v1_LastApplyResultRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_portplane_v1_LastApplyResultResponse__Output>): grpc.ClientUnaryCall;
  lastApplyResult(argument: _portplane_v1_LastApplyResultRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_portplane_v1_LastApplyResultResponse__Output>): grpc.ClientUnaryCall;
  lastApplyResult(argument: _portplane_v1_LastApplyResultRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_portplane_v1_LastApplyResultResponse__Output>): grpc.ClientUnaryCall;
  lastApplyResult(argument: _portplane_v1_LastApplyResultRequest, callback: grpc.requestCallback<_portplane_v1_LastApplyResultResponse__Output>): grpc.ClientUnaryCall;
  
  ListApplyHistory(argument: _portplane_v1_ListApplyHistoryRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_portplane_v1_ListApplyHistoryResponse__Output>): grpc.ClientUnaryCall;
  ListApplyHistory(argument: _portplane_v1_ListApplyHistoryRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_portplane_v1_ListApplyHistoryResponse__Output>): grpc.ClientUnaryCall;
  ListApplyHistory(argument: _portplane_v1_ListApplyHistoryRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_portplane_v1_ListApplyHistoryResponse__Output>): grpc.ClientUnaryCall;
  ListApplyHistory(argument: _portplane_v1_ListApplyHistoryRequest, callback: grpc.requestCallback<_portplane_v1_ListApplyHistoryResponse__Output>): grpc.ClientUnaryCall;
  listApplyHistory(argument: _portplane_v1_ListApplyHistoryRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_portplane_v1_ListApplyHistoryResponse__Output>): grpc.ClientUnaryCall;
  listApplyHistory(argument: _portplane_v1_ListApplyHistoryRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_portplane_v1_ListApplyHistoryResponse__Output>): grpc.ClientUnaryCall;
  listApplyHistory(argument: _portplane_v1_ListApplyHistoryRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_portplane_v1_ListApplyHistoryResponse__Output>): grpc.ClientUnaryCall;
  listApplyHistory(argument: _portplane_v1_ListApplyHistoryRequest, callback: grpc.requestCallback<_portplane_v1_ListApplyHistoryResponse__Output>): grpc.ClientUnaryCall;
  
  RollbackTo(argument: _portplane_v1_RollbackToRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_portplane_v1_RollbackToResponse__Output>): grpc.ClientUnaryCall;
  RollbackTo(argument: _portplane_v1_RollbackToRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_portplane_v1_RollbackToResponse__Output>): grpc.ClientUnaryCall;
  RollbackTo(argument: _portplane_v1_RollbackToRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_portplane_v1_RollbackToResponse__Output>): grpc.ClientUnaryCall;
  RollbackTo(argument: _portplane_v1_RollbackToRequest, callback: grpc.requestCallback<_portplane_v1_RollbackToResponse__Output>): grpc.ClientUnaryCall;
  rollbackTo(argument: _portplane_v1_RollbackToRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_portplane_v1_RollbackToResponse__Output>): grpc.ClientUnaryCall;
  rollbackTo(argument: _portplane_v1_RollbackToRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_portplane_v1_RollbackToResponse__Output>): grpc.ClientUnaryCall;
  rollbackTo(argument: _portplane_v1_RollbackToRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_portplane_v1_RollbackToResponse__Output>): grpc.ClientUnaryCall;
  rollbackTo(argument: _portplane_v1_RollbackToRequest, callback: grpc.requestCallback<_portplane_v1_RollbackToResponse__Output>): grpc.ClientUnaryCall;
  
  Transaction(metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<_portplane_v1_TransactionRequest, _portplane_v1_TransactionResponse__Output>;
  Transaction(options?: grpc.CallOptions): grpc.ClientDuplexStream<_portplane_v1_TransactionRequest, _portplane_v1_TransactionResponse__Output>;
  transaction(metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<_portplane_v1_TransactionRequest, _portplane_v1_TransactionResponse__Output>;
  transaction(options?: grpc.CallOptions): grpc.ClientDuplexStream<_portplane_v1_TransactionRequest, _portplane_v1_TransactionResponse__Output>;
  
  WatchApplyResults(argument: _portplane_v1_WatchApplyResultsRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_portplane_v1_WatchApplyResultsResponse__Output>;
  WatchApplyResults(argument: _portplane_v1_WatchApplyResultsRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_portplane_v1_WatchApplyResultsResponse__Output>;
  watchApplyResults(argument: _portplane_v1_WatchApplyResultsRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_portplane_v1_WatchApplyResultsResponse__Output>;
  watchApplyResults(argument: _portplane_v1_WatchApplyResultsRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_portplane_v1_WatchApplyResultsResponse__Output>;
  
}

export interface ConfigServiceHandlers extends grpc.UntypedServiceImplementation {
  ApplyConfig: grpc.handleUnaryCall<_portplane_v1_ApplyConfigRequest__Output, _portplane_v1_ApplyConfigResponse>;
  
  CancelApply: grpc.handleUnaryCall<_portplane_v1_CancelApplyRequest__Output, _portplane_v1_CancelApplyResponse>;
  
  ConfirmApply: grpc.handleUnaryCall<_portplane_v1_ConfirmApplyRequest__Output, _portplane_v1_ConfirmApplyResponse>;
  
  GetCapabilities: grpc.handleUnaryCall<_portplane_v1_GetCapabilitiesRequest__Output, _portplane_v1_GetCapabilitiesResponse>;
  
  GetConfig: grpc.handleUnaryCall<_portplane_v1_GetConfigRequest__Output, _portplane_v1_GetConfigResponse>;
  
  LastApplyResult: grpc.handleUnaryCall<_portplane_v1_LastApplyResultRequest__Output, _portplane_v1_LastApplyResultResponse>;
  
  ListApplyHistory: grpc.handleUnaryCall<_portplane_v1_ListApplyHistoryRequest__Output, _portplane_v1_ListApplyHistoryResponse>;
  
  RollbackTo: grpc.handleUnaryCall<_portplane_v1_RollbackToRequest__Output, _portplane_v1_RollbackToResponse>;
  
  Transaction: grpc.handleBidiStreamingCall<_portplane_v1_TransactionRequest__Output, _portplane_v1_TransactionResponse>;
  
  WatchApplyResults: grpc.handleServerStreamingCall<_portplane_v1_WatchApplyResultsRequest__Output, _portplane_v1_WatchApplyResultsResponse>;
  
}

export interface ConfigServiceDefinition extends grpc.ServiceDefinition {
  ApplyConfig: MethodDefinition<_portplane_v1_ApplyConfigRequest, _portplane_v1_ApplyConfigResponse, _portplane_v1_ApplyConfigRequest__Output, _portplane_v1_ApplyConfigResponse__Output>
  CancelApply: MethodDefinition<_portplane_v1_CancelApplyRequest, _portplane_v1_CancelApplyResponse, _portplane_v1_CancelApplyRequest__Output, _portplane_v1_CancelApplyResponse__Output>
  ConfirmApply: MethodDefinition<_portplane_v1_ConfirmApplyRequest, _portplane_v1_ConfirmApplyResponse, _portplane_v1_ConfirmApplyRequest__Output, _portplane_v1_ConfirmApplyResponse__Output>
  GetCapabilities: MethodDefinition<_portplane_v1_GetCapabilitiesRequest, _portplane_v1_GetCapabilitiesResponse, _portplane_v1_GetCapabilitiesRequest__Output, _portplane_v1_GetCapabilitiesResponse__Output>
  GetConfig: MethodDefinition<_portplane_v1_GetConfigRequest, _portplane_v1_GetConfigResponse, _portplane_v1_GetConfigRequest__Output, _portplane_v1_GetConfigResponse__Output>
  LastApplyResult: MethodDefinition<_portplane_v1_LastApplyResultRequest, _portplane_v1_LastApplyResultResponse, _portplane_v1_LastApplyResultRequest__Output, _portplane_v1_LastApplyResultResponse__Output>
  ListApplyHistory: MethodDefinition<_portplane_v1_ListApplyHistoryRequest, _portplane_v1_ListApplyHistoryResponse, _portplane_v1_ListApplyHistoryRequest__Output, _portplane_v1_ListApplyHistoryResponse__Output>
  RollbackTo: MethodDefinition<_portplane_v1_RollbackToRequest, _portplane_v1_RollbackToResponse, _portplane_v1_RollbackToRequest__Output, _portplane_v1_RollbackToResponse__Output>
  Transaction: MethodDefinition<_portplane_v1_TransactionRequest, _portplane_v1_TransactionResponse, _portplane_v1_TransactionRequest__Output, _portplane_v1_TransactionResponse__Output>
  WatchApplyResults: MethodDefinition<_portplane_v1_WatchApplyResultsRequest, _portplane_v1_WatchApplyResultsResponse, _portplane_v1_WatchApplyResultsRequest__Output, _portplane_v1_WatchApplyResultsResponse__Output>
}
