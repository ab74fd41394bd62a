// Original file: proto/portplane/v1/config_service.proto


export interface GetConfigRequest {
  'page_size'?: (number);
  'page_token'?: (string);
}

export interface GetConfigRequest__Output {
  'page_size': (number);
  'page_token': (string);
}
