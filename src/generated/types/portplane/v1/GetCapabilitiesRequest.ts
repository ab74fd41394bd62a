// Original file: proto/portplane/v1/config_service.proto


export interface GetCapabilitiesRequest {
}

export interface GetCapabilitiesRequest__Output {
}
