// Original file: proto/portplane/v1/config_service.proto


export interface GetConfigRequest {
}

export interface GetConfigRequest__Output {
}
