// Original file: proto/portplane/v1/watch.proto


export interface WatchApplyResultsRequest {
}

export interface WatchApplyResultsRequest__Output {
}
