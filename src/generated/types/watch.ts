import type * as grpc from '@grpc/grpc-js';
import type { EnumTypeDefinition, MessageTypeDefinition } from '@grpc/proto-loader';

import type { Duration as _google_protobuf_Duration, Duration__Output as _google_protobuf_Duration__Output } from './google/protobuf/Duration.js';
import type { Timestamp as _google_protobuf_Timestamp, Timestamp__Output as _google_protobuf_Timestamp__Output } from './google/protobuf/Timestamp.js';
import type { ApplyHistoryEntry as _portplane_v1_ApplyHistoryEntry, ApplyHistoryEntry__Output as _portplane_v1_ApplyHistoryEntry__Output } from './portplane/v1/ApplyHistoryEntry.js';
import type { ApplyResult as _portplane_v1_ApplyResult, ApplyResult__Output as _portplane_v1_ApplyResult__Output } from './portplane/v1/ApplyResult.js';
import type { CallerIdentity as _portplane_v1_CallerIdentity, CallerIdentity__Output as _portplane_v1_CallerIdentity__Output } from './portplane/v1/CallerIdentity.js';
import type { CancelApplyRequest as _portplane_v1_CancelApplyRequest, CancelApplyRequest__Output as _portplane_v1_CancelApplyRequest__Output } from './portplane/v1/CancelApplyRequest.js';
import type { CancelApplyResponse as _portplane_v1_CancelApplyResponse, CancelApplyResponse__Output as _portplane_v1_CancelApplyResponse__Output } from './portplane/v1/CancelApplyResponse.js';
import type { Capabilities as _portplane_v1_Capabilities, Capabilities__Output as _portplane_v1_Capabilities__Output } from './portplane/v1/Capabilities.js';
import type { ConfirmApplyRequest as _portplane_v1_ConfirmApplyRequest, ConfirmApplyRequest__Output as _portplane_v1_ConfirmApplyRequest__Output } from './portplane/v1/ConfirmApplyRequest.js';
import type { ConfirmApplyResponse as _portplane_v1_ConfirmApplyResponse, ConfirmApplyResponse__Output as _portplane_v1_ConfirmApplyResponse__Output } from './portplane/v1/ConfirmApplyResponse.js';
import type { DataplaneCondition as _portplane_v1_DataplaneCondition, DataplaneCondition__Output as _portplane_v1_DataplaneCondition__Output } from './portplane/v1/DataplaneCondition.js';
import type { DivergedPort as _portplane_v1_DivergedPort, DivergedPort__Output as _portplane_v1_DivergedPort__Output } from './portplane/v1/DivergedPort.js';
import type { DrainPolicy as _portplane_v1_DrainPolicy, DrainPolicy__Output as _portplane_v1_DrainPolicy__Output } from './portplane/v1/DrainPolicy.js';
import type { Endpoint as _portplane_v1_Endpoint, Endpoint__Output as _portplane_v1_Endpoint__Output } from './portplane/v1/Endpoint.js';
import type { ForwardRule as _portplane_v1_ForwardRule, ForwardRule__Output as _portplane_v1_ForwardRule__Output } from './portplane/v1/ForwardRule.js';
import type { Limits as _portplane_v1_Limits, Limits__Output as _portplane_v1_Limits__Output } from './portplane/v1/Limits.js';
import type { ListApplyHistoryRequest as _portplane_v1_ListApplyHistoryRequest, ListApplyHistoryRequest__Output as _portplane_v1_ListApplyHistoryRequest__Output } from './portplane/v1/ListApplyHistoryRequest.js';
import type { ListApplyHistoryResponse as _portplane_v1_ListApplyHistoryResponse, ListApplyHistoryResponse__Output as _portplane_v1_ListApplyHistoryResponse__Output } from './portplane/v1/ListApplyHistoryResponse.js';
import type { PendingApply as _portplane_v1_PendingApply, PendingApply__Output as _portplane_v1_PendingApply__Output } from './portplane/v1/PendingApply.js';
import type { Plan as _portplane_v1_Plan, Plan__Output as _portplane_v1_Plan__Output } from './portplane/v1/Plan.js';
import type { PlanSummary as _portplane_v1_PlanSummary, PlanSummary__Output as _portplane_v1_PlanSummary__Output } from './portplane/v1/PlanSummary.js';
import type { PortChange as _portplane_v1_PortChange, PortChange__Output as _portplane_v1_PortChange__Output } from './portplane/v1/PortChange.js';
import type { PortFailure as _portplane_v1_PortFailure, PortFailure__Output as _portplane_v1_PortFailure__Output } from './portplane/v1/PortFailure.js';
import type { PortRange as _portplane_v1_PortRange, PortRange__Output as _portplane_v1_PortRange__Output } from './portplane/v1/PortRange.js';
import type { RollbackToRequest as _portplane_v1_RollbackToRequest, RollbackToRequest__Output as _portplane_v1_RollbackToRequest__Output } from './portplane/v1/RollbackToRequest.js';
import type { RollbackToResponse as _portplane_v1_RollbackToResponse, RollbackToResponse__Output as _portplane_v1_RollbackToResponse__Output } from './portplane/v1/RollbackToResponse.js';
import type { RuleChange as _portplane_v1_RuleChange, RuleChange__Output as _portplane_v1_RuleChange__Output } from './portplane/v1/RuleChange.js';
import type { RuleLimits as _portplane_v1_RuleLimits, RuleLimits__Output as _portplane_v1_RuleLimits__Output } from './portplane/v1/RuleLimits.js';
import type { RuleStatus as _portplane_v1_RuleStatus, RuleStatus__Output as _portplane_v1_RuleStatus__Output } from './portplane/v1/RuleStatus.js';
import type { SessionEffects as _portplane_v1_SessionEffects, SessionEffects__Output as _portplane_v1_SessionEffects__Output } from './portplane/v1/SessionEffects.js';
import type { Table as _portplane_v1_Table, Table__Output as _portplane_v1_Table__Output } from './portplane/v1/Table.js';
import type { UnsupportedFeature as _portplane_v1_UnsupportedFeature, UnsupportedFeature__Output as _portplane_v1_UnsupportedFeature__Output } from './portplane/v1/UnsupportedFeature.js';
import type { WatchApplyResultsRequest as _portplane_v1_WatchApplyResultsRequest, WatchApplyResultsRequest__Output as _portplane_v1_WatchApplyResultsRequest__Output } from './portplane/v1/WatchApplyResultsRequest.js';
import type { WatchApplyResultsResponse as _portplane_v1_WatchApplyResultsResponse, WatchApplyResultsResponse__Output as _portplane_v1_WatchApplyResultsResponse__Output } from './portplane/v1/WatchApplyResultsResponse.js';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  google: {
    protobuf: {
      Duration: MessageTypeDefinition<_google_protobuf_Duration, _google_protobuf_Duration__Output>
      Timestamp: MessageTypeDefinition<_google_protobuf_Timestamp, _google_protobuf_Timestamp__Output>
    }
  }
  portplane: {
    v1: {
      ApplyEventKind: EnumTypeDefinition
      ApplyHistoryEntry: MessageTypeDefinition<_portplane_v1_ApplyHistoryEntry, _portplane_v1_ApplyHistoryEntry__Output>
      ApplyHistoryOutcome: EnumTypeDefinition
      ApplyOutcome: EnumTypeDefinition
      ApplyResult: MessageTypeDefinition<_portplane_v1_ApplyResult, _portplane_v1_ApplyResult__Output>
      ApplyTrigger: EnumTypeDefinition
      CallerIdentity: MessageTypeDefinition<_portplane_v1_CallerIdentity, _portplane_v1_CallerIdentity__Output>
      CallerKind: EnumTypeDefinition
      CancelApplyRequest: MessageTypeDefinition<_portplane_v1_CancelApplyRequest, _portplane_v1_CancelApplyRequest__Output>
      CancelApplyResponse: MessageTypeDefinition<_portplane_v1_CancelApplyResponse, _portplane_v1_CancelApplyResponse__Output>
      Capabilities: MessageTypeDefinition<_portplane_v1_Capabilities, _portplane_v1_Capabilities__Output>
      ConfirmApplyRequest: MessageTypeDefinition<_portplane_v1_ConfirmApplyRequest, _portplane_v1_ConfirmApplyRequest__Output>
      ConfirmApplyResponse: MessageTypeDefinition<_portplane_v1_ConfirmApplyResponse, _portplane_v1_ConfirmApplyResponse__Output>
      DataplaneCondition: MessageTypeDefinition<_portplane_v1_DataplaneCondition, _portplane_v1_DataplaneCondition__Output>
      DivergedPort: MessageTypeDefinition<_portplane_v1_DivergedPort, _portplane_v1_DivergedPort__Output>
      DrainMode: EnumTypeDefinition
      DrainPolicy: MessageTypeDefinition<_portplane_v1_DrainPolicy, _portplane_v1_DrainPolicy__Output>
      Endpoint: MessageTypeDefinition<_portplane_v1_Endpoint, _portplane_v1_Endpoint__Output>
      ForwardRule: MessageTypeDefinition<_portplane_v1_ForwardRule, _portplane_v1_ForwardRule__Output>
      Limits: MessageTypeDefinition<_portplane_v1_Limits, _portplane_v1_Limits__Output>
      ListApplyHistoryRequest: MessageTypeDefinition<_portplane_v1_ListApplyHistoryRequest, _portplane_v1_ListApplyHistoryRequest__Output>
      ListApplyHistoryResponse: MessageTypeDefinition<_portplane_v1_ListApplyHistoryResponse, _portplane_v1_ListApplyHistoryResponse__Output>
      OnFilterChange: EnumTypeDefinition
      PendingApply: MessageTypeDefinition<_portplane_v1_PendingApply, _portplane_v1_PendingApply__Output>
      PendingOwner: EnumTypeDefinition
      Plan: MessageTypeDefinition<_portplane_v1_Plan, _portplane_v1_Plan__Output>
      PlanSummary: MessageTypeDefinition<_portplane_v1_PlanSummary, _portplane_v1_PlanSummary__Output>
      PortAction: EnumTypeDefinition
      PortChange: MessageTypeDefinition<_portplane_v1_PortChange, _portplane_v1_PortChange__Output>
      PortFailure: MessageTypeDefinition<_portplane_v1_PortFailure, _portplane_v1_PortFailure__Output>
      PortRange: MessageTypeDefinition<_portplane_v1_PortRange, _portplane_v1_PortRange__Output>
      Protocol: EnumTypeDefinition
      ProxyProtocol: EnumTypeDefinition
      RollbackToRequest: MessageTypeDefinition<_portplane_v1_RollbackToRequest, _portplane_v1_RollbackToRequest__Output>
      RollbackToResponse: MessageTypeDefinition<_portplane_v1_RollbackToResponse, _portplane_v1_RollbackToResponse__Output>
      RuleAction: EnumTypeDefinition
      RuleChange: MessageTypeDefinition<_portplane_v1_RuleChange, _portplane_v1_RuleChange__Output>
      RuleLimits: MessageTypeDefinition<_portplane_v1_RuleLimits, _portplane_v1_RuleLimits__Output>
      RuleState: EnumTypeDefinition
      RuleStatus: MessageTypeDefinition<_portplane_v1_RuleStatus, _portplane_v1_RuleStatus__Output>
      SessionEffects: MessageTypeDefinition<_portplane_v1_SessionEffects, _portplane_v1_SessionEffects__Output>
      Table: MessageTypeDefinition<_portplane_v1_Table, _portplane_v1_Table__Output>
      UnsupportedFeature: MessageTypeDefinition<_portplane_v1_UnsupportedFeature, _portplane_v1_UnsupportedFeature__Output>
      WatchApplyResultsRequest: MessageTypeDefinition<_portplane_v1_WatchApplyResultsRequest, _portplane_v1_WatchApplyResultsRequest__Output>
      WatchApplyResultsResponse: MessageTypeDefinition<_portplane_v1_WatchApplyResultsResponse, _portplane_v1_WatchApplyResultsResponse__Output>
    }
  }
}

