/**
 * A stand-in for the App Service / Functions managed identity endpoint, on loopback. The real
 * @azure/identity ManagedIdentityCredential talks to it when a process has IDENTITY_ENDPOINT and
 * IDENTITY_HEADER set (see env()):
 *
 *   GET <IDENTITY_ENDPOINT>?api-version=2019-08-01&resource=https://vault.azure.net[&client_id=<guid>]
 *   X-IDENTITY-HEADER: <IDENTITY_HEADER>
 *   -> 200 {"access_token","expires_on","resource","token_type","client_id"}
 *
 * Tokens are opaque random strings; verifyToken() lets the Key Vault stub check them. The request
 * log never holds tokens or the header value.
 *
 * Note for tests: @azure/identity (MSAL) picks the endpoint once per process and caches tokens
 * per process, so a scenario that needs a different identity behaviour needs a fresh process.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface IdentityStubOptions {
  /** Client id of the app's system-assigned identity (used as the principal in issued tokens). */
  systemAssignedClientId?: string;
  /** User-assigned identities attached to the app; any other client_id is refused with a 400. */
  userAssignedClientIds?: string[];
  tokenLifetimeSeconds?: number;
}

export interface IdentityStubRequest {
  method: string;
  path: string;
  apiVersion?: string;
  resource?: string;
  clientId?: string;
  /** Whether X-IDENTITY-HEADER carried the right value (the value itself is never logged). */
  headerValid: boolean;
  status: number;
}

export interface IssuedToken {
  /** Client id of the identity the token was issued to. */
  clientId: string;
  /** The audience asked for, e.g. https://vault.azure.net */
  resource: string;
}

export interface IdentityStub {
  /** http://127.0.0.1:<port>/msi/token */
  readonly endpoint: string;
  /** The secret value the platform would put in IDENTITY_HEADER. */
  readonly header: string;
  readonly systemAssignedClientId: string;
  readonly requests: IdentityStubRequest[];
  /** Answer every token request with this status and App Service-style error JSON, until accept(). */
  refuse(status: number, message: string): void;
  accept(): void;
  verifyToken(token: string): IssuedToken | undefined;
  /** Every token issued so far (for tests asserting no token leaks). */
  issuedTokens(): string[];
  /** IDENTITY_ENDPOINT and IDENTITY_HEADER for a child process. */
  env(): Record<string, string>;
  close(): Promise<void>;
}

export async function startIdentityStub(options: IdentityStubOptions = {}): Promise<IdentityStub> {
  const header = randomBytes(16).toString('hex');
  const systemAssignedClientId = options.systemAssignedClientId ?? randomUUID();
  const userAssigned = new Set((options.userAssignedClientIds ?? []).map((id) => id.toLowerCase()));
  const lifetime = options.tokenLifetimeSeconds ?? 3600;
  const tokens = new Map<string, IssuedToken>();
  const requests: IdentityStubRequest[] = [];
  let refusal: { status: number; message: string } | undefined;

  const send = (response: ServerResponse, status: number, body: unknown) => {
    response.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
    response.end(JSON.stringify(body));
  };
  const appServiceError = (status: number, message: string) => ({
    statusCode: status,
    message,
    correlationId: randomUUID(),
  });

  const server: Server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    const entry: IdentityStubRequest = {
      method: request.method ?? 'GET',
      path: url.pathname,
      headerValid: request.headers['x-identity-header'] === header,
      status: 0,
    };
    const apiVersion = url.searchParams.get('api-version');
    const resource = url.searchParams.get('resource');
    const clientId = url.searchParams.get('client_id');
    if (apiVersion !== null) entry.apiVersion = apiVersion;
    if (resource !== null) entry.resource = resource;
    if (clientId !== null) entry.clientId = clientId;
    requests.push(entry);
    const reply = (status: number, body: unknown) => {
      entry.status = status;
      send(response, status, body);
    };

    if (refusal) return reply(refusal.status, appServiceError(refusal.status, refusal.message));
    if (request.method !== 'GET' || url.pathname !== '/msi/token')
      return reply(404, appServiceError(404, 'Not found'));
    if (!entry.headerValid)
      return reply(401, appServiceError(401, 'The X-IDENTITY-HEADER header is missing or wrong.'));
    if (apiVersion !== '2019-08-01')
      return reply(400, appServiceError(400, `Unsupported api-version '${apiVersion ?? ''}'.`));
    if (!resource) return reply(400, appServiceError(400, 'The resource parameter is required.'));
    if (clientId && !userAssigned.has(clientId.toLowerCase())) {
      return reply(
        400,
        appServiceError(
          400,
          'No User Assigned or Delegated Managed Identity found for specified ClientId/ResourceId/PrincipalId.',
        ),
      );
    }
    const token = `identity-stub-${randomBytes(24).toString('hex')}`;
    const principal = clientId ?? systemAssignedClientId;
    tokens.set(token, { clientId: principal.toLowerCase(), resource });
    return reply(200, {
      access_token: token,
      expires_on: String(Math.floor(Date.now() / 1000) + lifetime),
      resource,
      token_type: 'Bearer',
      client_id: principal,
    });
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const endpoint = `http://127.0.0.1:${port}/msi/token`;

  return {
    endpoint,
    header,
    systemAssignedClientId,
    requests,
    refuse(status, message) {
      refusal = { status, message };
    },
    accept() {
      refusal = undefined;
    },
    verifyToken(token) {
      return tokens.get(token);
    },
    issuedTokens() {
      return [...tokens.keys()];
    },
    env() {
      return { IDENTITY_ENDPOINT: endpoint, IDENTITY_HEADER: header };
    },
    close() {
      return new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
    },
  };
}
