import type * as grpc from '@grpc/grpc-js';
import type { EnumTypeDefinition, MessageTypeDefinition } from '@grpc/proto-loader';

import type { CallerIdentity as _portplane_v1_CallerIdentity, CallerIdentity__Output as _portplane_v1_CallerIdentity__Output } from './portplane/v1/CallerIdentity.js';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  portplane: {
    v1: {
      CallerIdentity: MessageTypeDefinition<_portplane_v1_CallerIdentity, _portplane_v1_CallerIdentity__Output>
      CallerKind: EnumTypeDefinition
    }
  }
}

