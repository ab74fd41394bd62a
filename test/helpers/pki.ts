/**
 * A throwaway PKI made with the openssl CLI: a CA, a server certificate for
 * 127.0.0.1, client certificates signed by that CA, and a client certificate
 * from a second CA the daemon does not trust.
 */
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

async function openssl(dir: string, args: string[]): Promise<void> {
  await run('openssl', args, { cwd: dir });
}

async function ca(dir: string, name: string): Promise<void> {
  await openssl(dir, ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
    '-subj', `/CN=${name}`, '-keyout', `${name}.key`, '-out', `${name}.crt`]);
}

/** Issues `name`.crt/.key, signed by `issuer`, with `subject` and the SAN entries (openssl syntax, e.g. "DNS:x,IP:127.0.0.1"). */
async function issue(dir: string, issuer: string, name: string, subject: string, san: string, usage: 'serverAuth' | 'clientAuth'): Promise<void> {
  await openssl(dir, ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', subject,
    '-keyout', `${name}.key`, '-out', `${name}.csr`]);
  await writeFile(join(dir, `${name}.ext`), `subjectAltName=${san}\nextendedKeyUsage=${usage}\n`);
  await openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', `${issuer}.crt`, '-CAkey', `${issuer}.key`, '-CAcreateserial',
    '-days', '2', '-extfile', `${name}.ext`, '-out', `${name}.crt`]);
}

export interface Pki {
  dir: string;
  /** Paths of `<name>.crt` and `<name>.key`. */
  cert(name: string): string;
  key(name: string): string;
}

/**
 * Files in `dir`: ca (trusted), server (127.0.0.1), admin (CN=ctrl-admin),
 * reader (CN=ctrl-reader, SAN DNS:reader.ctrl.test), rogue (CN=ctrl-admin from the untrusted rogue-ca).
 */
/** A server certificate `name`.crt/.key signed by the `ca` of makePki, for the SAN entries given (e.g. "IP:10.0.0.1"). */
export async function issueServerCertificate(dir: string, name: string, san: string): Promise<void> {
  await issue(dir, 'ca', name, `/CN=${name}`, san, 'serverAuth');
}

export async function makePki(dir: string): Promise<Pki> {
  await ca(dir, 'ca');
  await ca(dir, 'rogue-ca');
  await issue(dir, 'ca', 'server', '/CN=portplane', 'IP:127.0.0.1,DNS:localhost', 'serverAuth');
  await issue(dir, 'ca', 'admin', '/O=Acme/CN=ctrl-admin', 'DNS:admin.ctrl.test', 'clientAuth');
  await issue(dir, 'ca', 'reader', '/CN=ctrl-reader', 'DNS:reader.ctrl.test', 'clientAuth');
  await issue(dir, 'rogue-ca', 'rogue', '/O=Acme/CN=ctrl-admin', 'DNS:admin.ctrl.test', 'clientAuth');
  return { dir, cert: (name) => join(dir, `${name}.crt`), key: (name) => join(dir, `${name}.key`) };
}
