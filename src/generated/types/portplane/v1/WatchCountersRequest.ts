// Original file: proto/portplane/v1/telemetry_service.proto


export interface WatchCountersRequest {
  'interval_ms'?: (number);
  'table'?: (string);
}

export interface WatchCountersRequest__Output {
  'interval_ms': (number);
  'table': (string);
}
