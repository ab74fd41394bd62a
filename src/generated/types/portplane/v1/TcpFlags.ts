// Original file: proto/portplane/v1/trace_service.proto


export interface TcpFlags {
  'syn'?: (boolean);
  'ack'?: (boolean);
  'fin'?: (boolean);
  'rst'?: (boolean);
}

export interface TcpFlags__Output {
  'syn': (boolean);
  'ack': (boolean);
  'fin': (boolean);
  'rst': (boolean);
}
