/**
 * Wire-form rules for tests that talk to a daemon over gRPC.
 */

/** A single-port TCP rule on 127.0.0.1 forwarding to 127.0.0.1:`target`. */
export const singlePortRule = (name: string, port: number, target: number): object => ({
  name,
  protocol: 'PROTOCOL_TCP',
  listen_address: '127.0.0.1',
  ports: { first: port, last: port },
  target_address: '127.0.0.1',
  target_port: target,
});
