// Original file: proto/portplane/v1/history.proto


export interface ListApplyHistoryRequest {
  'limit'?: (number);
}

export interface ListApplyHistoryRequest__Output {
  'limit': (number);
}
