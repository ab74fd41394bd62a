// Original file: proto/portplane/v1/config_service.proto


export interface LastApplyResultRequest {
  'page_size'?: (number);
  'page_token'?: (string);
}

export interface LastApplyResultRequest__Output {
  'page_size': (number);
  'page_token': (string);
}
