/**
 * Kerberos login for KojiClient: the `negotiate` auth built on spnego.ts. Each login starts a
 * GSS exchange for the hub's HTTP service, sends its token to /ssllogin and, with mutual
 * authentication (the default), checks the hub's reply token before trusting the session.
 */
import type { KojiAuth } from './client.js';
import { serviceForUrl, startNegotiate, type NegotiateClientOptions, type NegotiateSession } from './spnego.js';

export type KerberosAuthOptions = Omit<NegotiateClientOptions, 'service'> & {
  /** GSS service name; default `HTTP@<hub host>` */
  service?: string;
};

export function kerberosAuth(options: KerberosAuthOptions = {}): KojiAuth {
  let session: NegotiateSession | undefined;
  const release = () => {
    session?.close();
    session = undefined;
  };
  return {
    type: 'negotiate',
    async authorization(url) {
      release();
      session = await startNegotiate({ ...options, service: options.service ?? serviceForUrl(url) });
      return session.authorization;
    },
    async verify(wwwAuthenticate) {
      await session?.finish(wwwAuthenticate);
    },
    release,
  };
}
