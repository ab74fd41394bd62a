import type * as grpc from '@grpc/grpc-js';
import type { EnumTypeDefinition, MessageTypeDefinition } from '@grpc/proto-loader';

import type { Timestamp as _google_protobuf_Timestamp, Timestamp__Output as _google_protobuf_Timestamp__Output } from './google/protobuf/Timestamp.js';
import type { ApplyResult as _portplane_v1_ApplyResult, ApplyResult__Output as _portplane_v1_ApplyResult__Output } from './portplane/v1/ApplyResult.js';
import type { Capabilities as _portplane_v1_Capabilities, Capabilities__Output as _portplane_v1_Capabilities__Output } from './portplane/v1/Capabilities.js';
import type { CounterDelta as _portplane_v1_CounterDelta, CounterDelta__Output as _portplane_v1_CounterDelta__Output } from './portplane/v1/CounterDelta.js';
import type { CounterRates as _portplane_v1_CounterRates, CounterRates__Output as _portplane_v1_CounterRates__Output } from './portplane/v1/CounterRates.js';
import type { DataplaneCondition as _portplane_v1_DataplaneCondition, DataplaneCondition__Output as _portplane_v1_DataplaneCondition__Output } from './portplane/v1/DataplaneCondition.js';
import type { DivergedPort as _portplane_v1_DivergedPort, DivergedPort__Output as _portplane_v1_DivergedPort__Output } from './portplane/v1/DivergedPort.js';
import type { DrainPolicy as _portplane_v1_DrainPolicy, DrainPolicy__Output as _portplane_v1_DrainPolicy__Output } from './portplane/v1/DrainPolicy.js';
import type { DropCount as _portplane_v1_DropCount, DropCount__Output as _portplane_v1_DropCount__Output } from './portplane/v1/DropCount.js';
import type { Endpoint as _portplane_v1_Endpoint, Endpoint__Output as _portplane_v1_Endpoint__Output } from './portplane/v1/Endpoint.js';
import type { ForwardRule as _portplane_v1_ForwardRule, ForwardRule__Output as _portplane_v1_ForwardRule__Output } from './portplane/v1/ForwardRule.js';
import type { GetCountersRequest as _portplane_v1_GetCountersRequest, GetCountersRequest__Output as _portplane_v1_GetCountersRequest__Output } from './portplane/v1/GetCountersRequest.js';
import type { GetCountersResponse as _portplane_v1_GetCountersResponse, GetCountersResponse__Output as _portplane_v1_GetCountersResponse__Output } from './portplane/v1/GetCountersResponse.js';
import type { GetFloodCountersRequest as _portplane_v1_GetFloodCountersRequest, GetFloodCountersRequest__Output as _portplane_v1_GetFloodCountersRequest__Output } from './portplane/v1/GetFloodCountersRequest.js';
import type { GetFloodCountersResponse as _portplane_v1_GetFloodCountersResponse, GetFloodCountersResponse__Output as _portplane_v1_GetFloodCountersResponse__Output } from './portplane/v1/GetFloodCountersResponse.js';
import type { GlobalCounters as _portplane_v1_GlobalCounters, GlobalCounters__Output as _portplane_v1_GlobalCounters__Output } from './portplane/v1/GlobalCounters.js';
import type { Limits as _portplane_v1_Limits, Limits__Output as _portplane_v1_Limits__Output } from './portplane/v1/Limits.js';
import type { PacketDropCount as _portplane_v1_PacketDropCount, PacketDropCount__Output as _portplane_v1_PacketDropCount__Output } from './portplane/v1/PacketDropCount.js';
import type { Plan as _portplane_v1_Plan, Plan__Output as _portplane_v1_Plan__Output } from './portplane/v1/Plan.js';
import type { PlanSummary as _portplane_v1_PlanSummary, PlanSummary__Output as _portplane_v1_PlanSummary__Output } from './portplane/v1/PlanSummary.js';
import type { PortChange as _portplane_v1_PortChange, PortChange__Output as _portplane_v1_PortChange__Output } from './portplane/v1/PortChange.js';
import type { PortFailure as _portplane_v1_PortFailure, PortFailure__Output as _portplane_v1_PortFailure__Output } from './portplane/v1/PortFailure.js';
import type { PortRange as _portplane_v1_PortRange, PortRange__Output as _portplane_v1_PortRange__Output } from './portplane/v1/PortRange.js';
import type { RuleChange as _portplane_v1_RuleChange, RuleChange__Output as _portplane_v1_RuleChange__Output } from './portplane/v1/RuleChange.js';
import type { RuleCounters as _portplane_v1_RuleCounters, RuleCounters__Output as _portplane_v1_RuleCounters__Output } from './portplane/v1/RuleCounters.js';
import type { RuleFloodCounters as _portplane_v1_RuleFloodCounters, RuleFloodCounters__Output as _portplane_v1_RuleFloodCounters__Output } from './portplane/v1/RuleFloodCounters.js';
import type { RuleLimits as _portplane_v1_RuleLimits, RuleLimits__Output as _portplane_v1_RuleLimits__Output } from './portplane/v1/RuleLimits.js';
import type { RuleSample as _portplane_v1_RuleSample, RuleSample__Output as _portplane_v1_RuleSample__Output } from './portplane/v1/RuleSample.js';
import type { RuleStatus as _portplane_v1_RuleStatus, RuleStatus__Output as _portplane_v1_RuleStatus__Output } from './portplane/v1/RuleStatus.js';
import type { SessionEffects as _portplane_v1_SessionEffects, SessionEffects__Output as _portplane_v1_SessionEffects__Output } from './portplane/v1/SessionEffects.js';
import type { SourceFloodCounters as _portplane_v1_SourceFloodCounters, SourceFloodCounters__Output as _portplane_v1_SourceFloodCounters__Output } from './portplane/v1/SourceFloodCounters.js';
import type { Table as _portplane_v1_Table, Table__Output as _portplane_v1_Table__Output } from './portplane/v1/Table.js';
import type { TableCounters as _portplane_v1_TableCounters, TableCounters__Output as _portplane_v1_TableCounters__Output } from './portplane/v1/TableCounters.js';
import type { TableSample as _portplane_v1_TableSample, TableSample__Output as _portplane_v1_TableSample__Output } from './portplane/v1/TableSample.js';
import type { TelemetryServiceClient as _portplane_v1_TelemetryServiceClient, TelemetryServiceDefinition as _portplane_v1_TelemetryServiceDefinition } from './portplane/v1/TelemetryService.js';
import type { TrafficCounters as _portplane_v1_TrafficCounters, TrafficCounters__Output as _portplane_v1_TrafficCounters__Output } from './portplane/v1/TrafficCounters.js';
import type { UnsupportedFeature as _portplane_v1_UnsupportedFeature, UnsupportedFeature__Output as _portplane_v1_UnsupportedFeature__Output } from './portplane/v1/UnsupportedFeature.js';
import type { WatchCountersRequest as _portplane_v1_WatchCountersRequest, WatchCountersRequest__Output as _portplane_v1_WatchCountersRequest__Output } from './portplane/v1/WatchCountersRequest.js';
import type { WatchCountersResponse as _portplane_v1_WatchCountersResponse, WatchCountersResponse__Output as _portplane_v1_WatchCountersResponse__Output } from './portplane/v1/WatchCountersResponse.js';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  google: {
    protobuf: {
      Timestamp: MessageTypeDefinition<_google_protobuf_Timestamp, _google_protobuf_Timestamp__Output>
    }
  }
  portplane: {
    v1: {
      ApplyOutcome: EnumTypeDefinition
      ApplyResult: MessageTypeDefinition<_portplane_v1_ApplyResult, _portplane_v1_ApplyResult__Output>
      Capabilities: MessageTypeDefinition<_portplane_v1_Capabilities, _portplane_v1_Capabilities__Output>
      CounterDelta: MessageTypeDefinition<_portplane_v1_CounterDelta, _portplane_v1_CounterDelta__Output>
      CounterRates: MessageTypeDefinition<_portplane_v1_CounterRates, _portplane_v1_CounterRates__Output>
      DataplaneCondition: MessageTypeDefinition<_portplane_v1_DataplaneCondition, _portplane_v1_DataplaneCondition__Output>
      DivergedPort: MessageTypeDefinition<_portplane_v1_DivergedPort, _portplane_v1_DivergedPort__Output>
      DrainMode: EnumTypeDefinition
      DrainPolicy: MessageTypeDefinition<_portplane_v1_DrainPolicy, _portplane_v1_DrainPolicy__Output>
      DropCount: MessageTypeDefinition<_portplane_v1_DropCount, _portplane_v1_DropCount__Output>
      DropReason: EnumTypeDefinition
      Endpoint: MessageTypeDefinition<_portplane_v1_Endpoint, _portplane_v1_Endpoint__Output>
      ForwardRule: MessageTypeDefinition<_portplane_v1_ForwardRule, _portplane_v1_ForwardRule__Output>
      GetCountersRequest: MessageTypeDefinition<_portplane_v1_GetCountersRequest, _portplane_v1_GetCountersRequest__Output>
      GetCountersResponse: MessageTypeDefinition<_portplane_v1_GetCountersResponse, _portplane_v1_GetCountersResponse__Output>
      GetFloodCountersRequest: MessageTypeDefinition<_portplane_v1_GetFloodCountersRequest, _portplane_v1_GetFloodCountersRequest__Output>
      GetFloodCountersResponse: MessageTypeDefinition<_portplane_v1_GetFloodCountersResponse, _portplane_v1_GetFloodCountersResponse__Output>
      GlobalCounters: MessageTypeDefinition<_portplane_v1_GlobalCounters, _portplane_v1_GlobalCounters__Output>
      Limits: MessageTypeDefinition<_portplane_v1_Limits, _portplane_v1_Limits__Output>
      OnFilterChange: EnumTypeDefinition
      PacketDropCount: MessageTypeDefinition<_portplane_v1_PacketDropCount, _portplane_v1_PacketDropCount__Output>
      Plan: MessageTypeDefinition<_portplane_v1_Plan, _portplane_v1_Plan__Output>
      PlanSummary: MessageTypeDefinition<_portplane_v1_PlanSummary, _portplane_v1_PlanSummary__Output>
      PortAction: EnumTypeDefinition
      PortChange: MessageTypeDefinition<_portplane_v1_PortChange, _portplane_v1_PortChange__Output>
      PortFailure: MessageTypeDefinition<_portplane_v1_PortFailure, _portplane_v1_PortFailure__Output>
      PortRange: MessageTypeDefinition<_portplane_v1_PortRange, _portplane_v1_PortRange__Output>
      Protocol: EnumTypeDefinition
      ProxyProtocol: EnumTypeDefinition
      RuleAction: EnumTypeDefinition
      RuleChange: MessageTypeDefinition<_portplane_v1_RuleChange, _portplane_v1_RuleChange__Output>
      RuleCounters: MessageTypeDefinition<_portplane_v1_RuleCounters, _portplane_v1_RuleCounters__Output>
      RuleFloodCounters: MessageTypeDefinition<_portplane_v1_RuleFloodCounters, _portplane_v1_RuleFloodCounters__Output>
      RuleLimits: MessageTypeDefinition<_portplane_v1_RuleLimits, _portplane_v1_RuleLimits__Output>
      RuleSample: MessageTypeDefinition<_portplane_v1_RuleSample, _portplane_v1_RuleSample__Output>
      RuleState: EnumTypeDefinition
      RuleStatus: MessageTypeDefinition<_portplane_v1_RuleStatus, _portplane_v1_RuleStatus__Output>
      SessionEffects: MessageTypeDefinition<_portplane_v1_SessionEffects, _portplane_v1_SessionEffects__Output>
      SourceFloodCounters: MessageTypeDefinition<_portplane_v1_SourceFloodCounters, _portplane_v1_SourceFloodCounters__Output>
      Table: MessageTypeDefinition<_portplane_v1_Table, _portplane_v1_Table__Output>
      TableCounters: MessageTypeDefinition<_portplane_v1_TableCounters, _portplane_v1_TableCounters__Output>
      TableSample: MessageTypeDefinition<_portplane_v1_TableSample, _portplane_v1_TableSample__Output>
      TelemetryService: SubtypeConstructor<typeof grpc.Client, _portplane_v1_TelemetryServiceClient> & { service: _portplane_v1_TelemetryServiceDefinition }
      TrafficCounters: MessageTypeDefinition<_portplane_v1_TrafficCounters, _portplane_v1_TrafficCounters__Output>
      UnsupportedFeature: MessageTypeDefinition<_portplane_v1_UnsupportedFeature, _portplane_v1_UnsupportedFeature__Output>
      WatchCountersRequest: MessageTypeDefinition<_portplane_v1_WatchCountersRequest, _portplane_v1_WatchCountersRequest__Output>
      WatchCountersResponse: MessageTypeDefinition<_portplane_v1_WatchCountersResponse, _portplane_v1_WatchCountersResponse__Output>
    }
  }
}

