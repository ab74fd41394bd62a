// Original file: proto/portplane/v1/ha_service.proto


export interface GetRoleRequest {
}

export interface GetRoleRequest__Output {
}
