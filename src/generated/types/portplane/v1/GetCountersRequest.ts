// Original file: proto/portplane/v1/telemetry_service.proto


export interface GetCountersRequest {
  'table'?: (string);
}

export interface GetCountersRequest__Output {
  'table': (string);
}
