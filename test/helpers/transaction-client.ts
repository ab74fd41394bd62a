/**
 * A Transaction client as its own process, for tests that kill it between
 * APPLY and COMMIT:
 *
 *   node --import tsx test/helpers/transaction-client.ts TARGET TABLES_JSON
 *
 * Prints `APPLIED <generation>` once the tables run, then waits to be killed.
 */
import * as grpc from '@grpc/grpc-js';
import { serviceClient } from '../../src/server/api-definition.js';

const [target, tablesJson] = process.argv.slice(2);
if (!target || !tablesJson) {
  console.error('usage: transaction-client.ts TARGET TABLES_JSON');
  process.exit(2);
}
const Ctor = serviceClient('ConfigService');
const client = new Ctor(target, grpc.credentials.createInsecure());
const call = (client as unknown as { Transaction(): grpc.ClientDuplexStream<object, Record<string, unknown>> }).Transaction();
call.on('data', (message: Record<string, unknown>) => {
  if (message.hello) call.write({ tables: { tables: JSON.parse(tablesJson), comment: 'killed client' } });
  else if (message.validated) call.write({ command: 'TRANSACTION_COMMAND_APPLY' });
  else if (message.applied) {
    const pending = (message.applied as { pending: { generation: string } }).pending;
    process.stdout.write(`APPLIED ${pending.generation}\n`);
  } else {
    console.error(`unexpected message: ${JSON.stringify(message)}`);
    process.exit(3);
  }
});
call.on('error', (err: Error) => {
  console.error(`transaction failed: ${err.message}`);
  process.exit(4);
});
// Never ends on its own: the test kills it.
setInterval(() => undefined, 60_000);
