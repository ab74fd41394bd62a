/**
 * Who is calling, and which grants of the policy apply to them. The
 * strongest credential a call presents names the caller: a bearer token,
 * else a verified client certificate, else the transport's uid/gid. Only
 * grants for that credential apply, so a tenant's scoped token is not
 * widened by whatever the process it runs in could do on its own.
 */
import type { CallerIdentity } from '../control/caller.js';
import { UnauthenticatedError } from './errors.js';
import { normalizeSubject, type AuthPolicy, type Grant } from './policy.js';
import { parseToken, tokenMatches } from './tokens.js';

/** What the connection itself tells about the peer. */
export interface TransportPeer {
  transport: 'unix' | 'tcp';
  uid?: number;
  gid?: number;
  /** Supplementary groups, when the kernel reports them. */
  groups?: readonly number[];
  pid?: number;
  credentials?: CallerIdentity['credentials'];
  /** TCP: the peer's `host:port`. */
  remote?: string;
}

/** A verified TLS client certificate. */
export interface ClientCertificate {
  /** As the certificate writes it, e.g. "CN=ctrl-a". */
  subject: string;
  /** Entries such as "DNS:ctrl-a.example", "URI:spiffe://acme/ctrl", "IP Address:127.0.0.1". */
  san: string[];
}

export interface CallCredentials {
  peer: TransportPeer;
  certificate?: ClientCertificate;
  /** The token of an `authorization: Bearer` header. */
  bearer?: string;
}

export interface Principal {
  caller: CallerIdentity;
  /** Grants of the policy that name this caller. */
  grants: Grant[];
}

function transportFacts(peer: TransportPeer): Pick<CallerIdentity, 'uid' | 'gid' | 'pid' | 'credentials'> {
  return { uid: peer.uid, gid: peer.gid, pid: peer.pid, credentials: peer.credentials };
}

/** The caller and their grants; throws UnauthenticatedError when nothing identifies them or a token is wrong. */
export function identify(creds: CallCredentials, policy: AuthPolicy): Principal {
  const { peer, certificate, bearer } = creds;
  if (bearer !== undefined) {
    const parsed = parseToken(bearer);
    const stored = parsed && policy.tokens.get(parsed.id);
    // The same answer for an unknown id and a wrong secret: the id is not confirmed to a guesser.
    if (!parsed || !stored || !tokenMatches(parsed.token, stored)) {
      throw new UnauthenticatedError('bearer token rejected: unknown token id or wrong secret');
    }
    return {
      caller: { kind: 'token', id: `token:${parsed.id}`, tokenId: parsed.id, ...transportFacts(peer) },
      grants: policy.grants.filter((g) => g.selector.kind === 'token' && g.selector.tokenId === parsed.id),
    };
  }
  if (certificate) {
    const subject = normalizeSubject(certificate.subject);
    return {
      caller: {
        kind: 'tls',
        id: `cert:${certificate.subject.split('\n').join(',')}`,
        subject: certificate.subject.split('\n').join(','),
        san: certificate.san,
        ...transportFacts(peer),
      },
      grants: policy.grants.filter(
        (g) =>
          (g.selector.kind === 'cert_subject' && g.selector.subject === subject) ||
          (g.selector.kind === 'cert_san' && certificate.san.includes(g.selector.san)),
      ),
    };
  }
  if (peer.uid !== undefined || peer.gid !== undefined) {
    const groups = new Set([...(peer.gid !== undefined ? [peer.gid] : []), ...(peer.groups ?? [])]);
    return {
      caller: {
        kind: peer.transport,
        id: peer.uid !== undefined ? `uid:${peer.uid}` : `gid:${peer.gid}`,
        ...transportFacts(peer),
      },
      grants: policy.grants.filter(
        (g) =>
          (g.selector.kind === 'uid' && g.selector.uid === peer.uid) ||
          (g.selector.kind === 'gid' && groups.has(g.selector.gid)),
      ),
    };
  }
  throw new UnauthenticatedError(
    `cannot identify the caller (${peer.transport}${peer.remote ? ` ${peer.remote}` : ''}): ` +
      'present a bearer token or a client certificate',
  );
}

/** A caller that could not be identified, for calls open to everyone (health) and for the audit of refusals. */
export function anonymousCaller(peer: TransportPeer): CallerIdentity {
  return { kind: peer.transport, id: `anonymous${peer.remote ? `@${peer.remote}` : ''}`, ...transportFacts(peer) };
}
