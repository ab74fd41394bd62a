// Original file: proto/portplane/v1/telemetry_service.proto


export interface CounterRates {
  'sessions_opened_per_second'?: (number | string);
  'sessions_closed_per_second'?: (number | string);
  'bytes_from_client_per_second'?: (number | string);
  'bytes_to_client_per_second'?: (number | string);
  'packets_from_client_per_second'?: (number | string);
  'packets_to_client_per_second'?: (number | string);
  'drops_per_second'?: (number | string);
}

export interface CounterRates__Output {
  'sessions_opened_per_second': (number);
  'sessions_closed_per_second': (number);
  'bytes_from_client_per_second': (number);
  'bytes_to_client_per_second': (number);
  'packets_from_client_per_second': (number);
  'packets_to_client_per_second': (number);
  'drops_per_second': (number);
}
