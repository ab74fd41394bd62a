// Original file: proto/portplane/v1/config_service.proto


export interface LastApplyResultRequest {
}

export interface LastApplyResultRequest__Output {
}
