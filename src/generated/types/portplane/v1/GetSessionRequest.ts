// Original file: proto/portplane/v1/session_service.proto


export interface GetSessionRequest {
  'id'?: (string);
}

export interface GetSessionRequest__Output {
  'id': (string);
}
