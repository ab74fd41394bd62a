// Original file: proto/portplane/v1/telemetry_service.proto


export interface GetFloodCountersRequest {
  'top_n'?: (number);
  'table'?: (string);
}

export interface GetFloodCountersRequest__Output {
  'top_n': (number);
  'table': (string);
}
