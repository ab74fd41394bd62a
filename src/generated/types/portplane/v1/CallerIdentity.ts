// Original file: proto/portplane/v1/caller.proto

import type { CallerKind as _portplane_v1_CallerKind, CallerKind__Output as _portplane_v1_CallerKind__Output } from '../../portplane/v1/CallerKind.js';

export interface CallerIdentity {
  'kind'?: (_portplane_v1_CallerKind);
  'id'?: (string);
  'uid'?: (number);
  'gid'?: (number);
  'pid'?: (number);
  'subject'?: (string);
  'token_id'?: (string);
  '_uid'?: "uid";
  '_gid'?: "gid";
  '_pid'?: "pid";
}

export interface CallerIdentity__Output {
  'kind': (_portplane_v1_CallerKind__Output);
  'id': (string);
  'uid'?: (number);
  'gid'?: (number);
  'pid'?: (number);
  'subject': (string);
  'token_id': (string);
  '_uid'?: "uid";
  '_gid'?: "gid";
  '_pid'?: "pid";
}
