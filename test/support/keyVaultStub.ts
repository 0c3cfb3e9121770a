/**
 * A stand-in for one Azure Key Vault, served on loopback so the real @azure/keyvault-* clients talk
 * to it exactly as in production, with no test switch in the product:
 *
 * - The vault keeps a real-looking URL, https://<vault>.vault.azure.net. Child processes reach it
 *   through HTTPS_PROXY: a loopback CONNECT proxy that tunnels that one host (port 443) to the
 *   stub's HTTPS listener and refuses every other destination, so nothing leaves the machine.
 *   Because the host really is under vault.azure.net, the SDK's challenge check (the resource in
 *   the 401 challenge must be a parent domain of the vault host) passes as it does in Azure.
 * - TLS: a server certificate from a throwaway CA; trust it with NODE_EXTRA_CA_CERTS.
 * - Authentication: requests without a token get the Key Vault 401 challenge
 *   (resource="https://vault.azure.net"); tokens are checked with `verifyToken` (the identity
 *   stub's), and RBAC is simulated from role assignments per client id.
 * - GET /certificates/<name>[/<version>] and /secrets/<name>[/<version>] with api-version (the
 *   SDK sends the key percent-encoded, api%2Dversion; URLSearchParams decodes it).
 *
 * env() gives a child process everything it needs. The request log never holds tokens or secret values.
 */
import { createHash, createPrivateKey, randomBytes } from 'node:crypto';
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server as HttpServer,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { connect, type AddressInfo, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TestCertificate } from '../../sandbox/certificates';
import { createTestCertificateAuthority, type TestCertificateAuthority } from './testCertificateAuthority';

export type KeyVaultRole =
  'Key Vault Secrets User' | 'Key Vault Certificate User' | 'Key Vault Reader' | 'Key Vault Administrator';

const CAN_READ_CERTIFICATE: KeyVaultRole[] = [
  'Key Vault Certificate User',
  'Key Vault Reader',
  'Key Vault Administrator',
];
const CAN_READ_SECRET: KeyVaultRole[] = [
  'Key Vault Secrets User',
  'Key Vault Certificate User',
  'Key Vault Administrator',
];

export const KEY_VAULT_RESOURCE = 'https://vault.azure.net';
const CONTENT_TYPE = { pfx: 'application/x-pkcs12', pem: 'application/x-pem-file' } as const;

export interface KeyVaultStubOptions {
  /** The vault's name: its URL is https://<vaultName>.vault.azure.net. Default "exo-test". */
  vaultName?: string;
  /** Who a bearer token belongs to, or undefined for an unknown token (e.g. identityStub.verifyToken). */
  verifyToken: (token: string) => { clientId: string; resource: string } | undefined;
  /** Tenant named in the challenge. */
  tenantId?: string;
}

export interface CertificateVersionOptions {
  /** How the backing secret holds it (the certificate policy's content type). Default pfx. */
  format?: 'pfx' | 'pem';
  /** Overrides the secret's content type (e.g. to simulate a plain secret of another type). */
  contentType?: string;
  /** false: Key Vault keeps the private key out of the secret. Default true. */
  exportable?: boolean;
  enabled?: boolean;
  /** Simulates a certificate whose backing secret version is gone. */
  withoutSecret?: boolean;
}

export interface KeyVaultStubRequest {
  method: string;
  /** Path without query, e.g. /secrets/exo/abc123 */
  path: string;
  apiVersion?: string;
  auth: 'none' | 'valid' | 'invalid';
  clientId?: string;
  status: number;
  /** Service error code when not 200, e.g. Forbidden, SecretNotFound. */
  errorCode?: string;
}

export interface KeyVaultStub {
  /** https://<vault>.vault.azure.net (reachable through proxyUrl) */
  readonly vaultUrl: string;
  /** http://127.0.0.1:<port>, for HTTPS_PROXY */
  readonly proxyUrl: string;
  /** The same vault on https://127.0.0.1:<port>, without the proxy (its challenge will not verify there). */
  readonly directUrl: string;
  readonly ca: TestCertificateAuthority;
  readonly requests: KeyVaultStubRequest[];
  /** Tunnels the proxy opened or refused, by destination. */
  readonly tunnels: { destination: string; allowed: boolean }[];
  /** Adds a new (current) version of a certificate; returns its version id. */
  putCertificate(name: string, certificate: TestCertificate, options?: CertificateVersionOptions): string;
  deleteCertificate(name: string): void;
  /** Answer every authenticated request with this status (e.g. 503) until called with undefined. */
  failRequests(status: number | undefined): void;
  assignRole(clientId: string, role: KeyVaultRole): void;
  removeRole(clientId: string, role: KeyVaultRole): void;
  /**
   * Everything a child process needs to reach this vault: HTTPS_PROXY, NO_PROXY (loopback stays
   * direct, e.g. the identity endpoint) and NODE_EXTRA_CA_CERTS.
   */
  env(): Record<string, string>;
  close(): Promise<void>;
}

interface StoredVersion {
  version: string;
  certificate: TestCertificate;
  format: 'pfx' | 'pem';
  contentType: string;
  exportable: boolean;
  enabled: boolean;
  withoutSecret: boolean;
  created: number;
}

export async function startKeyVaultStub(options: KeyVaultStubOptions): Promise<KeyVaultStub> {
  const vaultName = options.vaultName ?? 'exo-test';
  const vaultHost = `${vaultName}.vault.azure.net`;
  const vaultUrl = `https://${vaultHost}`;
  const tenantId = options.tenantId ?? '72f988bf-86f1-41af-91ab-2d7cd011db47';
  const ca = createTestCertificateAuthority();
  const serverCertificate = ca.issueServerCertificate([vaultHost, 'localhost'], ['127.0.0.1']);
  const certificates = new Map<string, StoredVersion[]>();
  const roles = new Map<string, Set<KeyVaultRole>>();
  const requests: KeyVaultStubRequest[] = [];
  const tunnels: { destination: string; allowed: boolean }[] = [];
  const sockets = new Set<Socket | Duplex>();
  let failure: number | undefined;

  const track = (socket: Socket | Duplex) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  };

  const handler = (request: IncomingMessage, response: ServerResponse) => {
    const url = new URL(request.url ?? '/', vaultUrl);
    const entry: KeyVaultStubRequest = {
      method: request.method ?? 'GET',
      path: url.pathname,
      auth: 'none',
      status: 0,
    };
    const apiVersion = url.searchParams.get('api-version');
    if (apiVersion !== null) entry.apiVersion = apiVersion;
    requests.push(entry);
    const reply = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      entry.status = status;
      const code = (body as { error?: { code?: string } }).error?.code;
      if (code) entry.errorCode = code;
      response.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
      response.end(JSON.stringify(body));
    };
    const error = (status: number, code: string, message: string, inner?: string) =>
      reply(status, { error: { code, message, ...(inner ? { innererror: { code: inner } } : {}) } });
    const challenge = {
      'www-authenticate': `Bearer authorization="https://login.microsoftonline.com/${tenantId}", resource="${KEY_VAULT_RESOURCE}"`,
    };

    // The SDK's first request on a client has no token: answer with the challenge.
    const authorization = request.headers.authorization;
    if (!authorization) {
      return reply(
        401,
        { error: { code: 'Unauthorized', message: 'AKV10000: Request is missing a Bearer or PoP token.' } },
        challenge,
      );
    }
    const token = /^Bearer (.+)$/i.exec(authorization)?.[1];
    const issued = token ? options.verifyToken(token) : undefined;
    if (!issued || issued.resource.replace(/\/$/, '') !== KEY_VAULT_RESOURCE) {
      entry.auth = 'invalid';
      return reply(
        401,
        { error: { code: 'Unauthorized', message: 'AKV10022: Invalid audience or token.' } },
        challenge,
      );
    }
    entry.auth = 'valid';
    entry.clientId = issued.clientId;
    if (failure !== undefined)
      return error(failure, failure === 429 ? 'Throttled' : 'ServiceUnavailable', 'Simulated failure.');
    if (request.method !== 'GET') return error(405, 'BadParameter', 'Only GET is simulated.');
    if (!apiVersion) return error(400, 'BadParameter', "The 'api-version' query parameter is missing.");

    const match = /^\/(certificates|secrets)\/([A-Za-z0-9-]{1,127})\/?([0-9a-f]{32})?\/?$/.exec(url.pathname);
    if (!match) return error(400, 'BadParameter', 'This path is not simulated.');
    const collection = match[1] as 'certificates' | 'secrets';
    const name = match[2] as string;
    const version = match[3];

    const granted = roles.get(issued.clientId) ?? new Set<KeyVaultRole>();
    const allowed = collection === 'certificates' ? CAN_READ_CERTIFICATE : CAN_READ_SECRET;
    if (!allowed.some((role) => granted.has(role))) {
      const action =
        collection === 'certificates'
          ? 'Microsoft.KeyVault/vaults/certificates/read'
          : 'Microsoft.KeyVault/vaults/secrets/getSecret/action';
      return error(
        403,
        'Forbidden',
        `Caller is not authorized to perform action on resource.\r\nIf role assignments, deny assignments or role definitions were changed recently, please observe propagation time.\r\nCaller: appid=${issued.clientId};oid=${issued.clientId}\r\nAction: '${action}'\r\nResource: '/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/rg/providers/microsoft.keyvault/vaults/${vaultName}/${collection}/${name}'\r\nAssignment: (not found)\r\nVault: ${vaultName};location=westeurope\r\n`,
        'ForbiddenByRbac',
      );
    }

    const versions = certificates.get(name) ?? [];
    const stored = version ? versions.find((v) => v.version === version) : versions[versions.length - 1];
    if (collection === 'certificates') {
      if (!stored) {
        return error(
          404,
          'CertificateNotFound',
          `A certificate with (name/id) ${name}${version ? `/${version}` : ''} was not found in this key vault. If you recently deleted this certificate you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182`,
        );
      }
      return reply(200, certificateBundle(name, stored));
    }
    if (!stored || stored.withoutSecret) {
      return error(
        404,
        'SecretNotFound',
        `A secret with (name/id) ${name}${version ? `/${version}` : ''} was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182`,
      );
    }
    if (!stored.enabled)
      return error(403, 'Forbidden', 'Operation get is not allowed on a disabled secret.', 'SecretDisabled');
    return reply(200, secretBundle(name, stored));
  };

  const attributes = (stored: StoredVersion) => ({
    enabled: stored.enabled,
    nbf: Math.floor(stored.certificate.notBefore.getTime() / 1000),
    exp: Math.floor(stored.certificate.notAfter.getTime() / 1000),
    created: stored.created,
    updated: stored.created,
    recoveryLevel: 'Recoverable+Purgeable',
    recoverableDays: 90,
  });

  const certificateBundle = (name: string, stored: StoredVersion) => ({
    id: `${vaultUrl}/certificates/${name}/${stored.version}`,
    kid: `${vaultUrl}/keys/${name}/${stored.version}`,
    sid: `${vaultUrl}/secrets/${name}/${stored.version}`,
    x5t: createHash('sha1').update(stored.certificate.der).digest('base64url'),
    cer: stored.certificate.der.toString('base64'),
    attributes: attributes(stored),
    tags: {},
    policy: {
      id: `${vaultUrl}/certificates/${name}/policy`,
      key_props: { exportable: stored.exportable, kty: 'RSA', key_size: 2048, reuse_key: false },
      secret_props: { contentType: stored.contentType },
      x509_props: {
        subject: stored.certificate.subject,
        ekus: ['1.3.6.1.5.5.7.3.2'],
        key_usage: ['digitalSignature', 'keyEncipherment'],
        validity_months: 12,
      },
      lifetime_actions: [{ trigger: { lifetime_percentage: 80 }, action: { action_type: 'AutoRenew' } }],
      issuer: { name: 'Self' },
      attributes: { enabled: true, created: stored.created, updated: stored.created },
    },
  });

  const secretValue = (stored: StoredVersion): string => {
    const { certificate } = stored;
    if (stored.format === 'pem')
      return stored.exportable ? keyVaultPem(certificate) : lf(certificate.certificatePem);
    return (stored.exportable ? certificate.pfx : certificate.pfxWithoutKey).toString('base64');
  };

  const secretBundle = (name: string, stored: StoredVersion) => ({
    value: secretValue(stored),
    contentType: stored.contentType,
    id: `${vaultUrl}/secrets/${name}/${stored.version}`,
    managed: true,
    kid: `${vaultUrl}/keys/${name}/${stored.version}`,
    attributes: attributes(stored),
    tags: {},
  });

  const https: HttpsServer = createHttpsServer(
    { key: serverCertificate.key, cert: serverCertificate.cert },
    handler,
  );
  https.on('secureConnection', track);
  await new Promise<void>((resolve) => https.listen(0, '127.0.0.1', resolve));
  const httpsPort = (https.address() as AddressInfo).port;

  // The CONNECT proxy: only the vault's host on 443 is tunnelled, to the loopback listener.
  const proxy: HttpServer = createHttpServer((_request, response) => {
    response.writeHead(403, { 'content-type': 'text/plain' });
    response.end('This test proxy only tunnels HTTPS to the Key Vault stub.\n');
  });
  proxy.on('connect', (request: IncomingMessage, client: Duplex, head: Buffer) => {
    track(client);
    const destination = request.url ?? '';
    const allowed = destination.toLowerCase() === `${vaultHost}:443`;
    tunnels.push({ destination, allowed });
    if (!allowed) {
      client.end('HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    const upstream = connect(httpsPort, '127.0.0.1', () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    track(upstream);
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const proxyPort = (proxy.address() as AddressInfo).port;

  return {
    vaultUrl,
    proxyUrl: `http://127.0.0.1:${proxyPort}`,
    directUrl: `https://127.0.0.1:${httpsPort}`,
    ca,
    requests,
    tunnels,
    putCertificate(name, certificate, versionOptions = {}) {
      const format = versionOptions.format ?? 'pfx';
      const version = randomBytes(16).toString('hex');
      const list = certificates.get(name) ?? [];
      list.push({
        version,
        certificate,
        format,
        contentType: versionOptions.contentType ?? CONTENT_TYPE[format],
        exportable: versionOptions.exportable ?? true,
        enabled: versionOptions.enabled ?? true,
        withoutSecret: versionOptions.withoutSecret ?? false,
        created: Math.floor(Date.now() / 1000),
      });
      certificates.set(name, list);
      return version;
    },
    deleteCertificate(name) {
      certificates.delete(name);
    },
    failRequests(status) {
      failure = status;
    },
    assignRole(clientId, role) {
      const key = clientId.toLowerCase();
      const set = roles.get(key) ?? new Set<KeyVaultRole>();
      set.add(role);
      roles.set(key, set);
    },
    removeRole(clientId, role) {
      roles.get(clientId.toLowerCase())?.delete(role);
    },
    env() {
      return {
        HTTPS_PROXY: `http://127.0.0.1:${proxyPort}`,
        NO_PROXY: '127.0.0.1,localhost',
        NODE_EXTRA_CA_CERTS: ca.certificatePath,
      };
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await Promise.all([
        new Promise<void>((resolve) => {
          https.closeAllConnections();
          https.close(() => resolve());
        }),
        new Promise<void>((resolve) => {
          proxy.closeAllConnections();
          proxy.close(() => resolve());
        }),
      ]);
      ca.dispose();
    },
  };
}

/** An HTTPS server on loopback that is not a Key Vault: every request gets a 404 HTML page, no challenge. */
export async function startNotAVault(
  ca: TestCertificateAuthority,
): Promise<{ url: string; close(): Promise<void> }> {
  const { key, cert } = ca.issueServerCertificate(['localhost'], ['127.0.0.1']);
  const server = createHttpsServer({ key, cert }, (_request, response) => {
    response.writeHead(404, { 'content-type': 'text/html' });
    response.end('<!DOCTYPE html><html><body><h1>404 - Not Found</h1></body></html>');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A loopback port nothing listens on (bound, then released), for "unreachable" tests. */
export async function closedLoopbackPort(): Promise<number> {
  const server = createHttpServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** The PEM Key Vault stores for a certificate with an exportable key: PKCS#8 key, then the certificate, LF line ends. */
export function keyVaultPem(certificate: TestCertificate): string {
  const key = createPrivateKey(certificate.pem).export({ type: 'pkcs8', format: 'pem' }) as string;
  return `${lf(key)}${lf(certificate.certificatePem)}`;
}

function lf(text: string): string {
  return text.replace(/\r\n/g, '\n');
}
