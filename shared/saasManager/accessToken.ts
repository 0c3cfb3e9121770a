/**
 * The SaaS Manager access token: OAuth2 client credentials (client_secret_post), cached until
 * shortly before it expires, one request shared by concurrent callers, and a fresh one after a 401.
 * The client secret goes only into the token request's form body; the token only into a header.
 */
import { WorkflowApiError } from '../errors';
import { isRecord } from '../guards';
import type { Logger } from '../ports';
import { Secret } from '../secret';
import { isSuccess, type Transport } from './transport';
import { networkError, SAAS_MANAGER_SCOPES, SCOPES_HINT, statusError } from './workflowApiErrors';

export interface AccessToken {
  value: Secret<string>;
  /** When to stop using it (clock ms): shortly before the server's expiry. */
  refreshAt: number;
}

export interface AccessTokensOptions {
  /** Base URL of the tenant (no trailing slash). */
  base: string;
  origin: string;
  clientId: string;
  clientSecret: Secret<string>;
  transport: Transport;
  logger: Logger;
}

export class AccessTokens {
  readonly #options: AccessTokensOptions;
  #token: AccessToken | undefined;
  #pending: Promise<AccessToken> | undefined;

  constructor(options: AccessTokensOptions) {
    this.#options = options;
  }

  /** The cached token while it is fresh, else a new one. */
  async get(): Promise<AccessToken> {
    if (this.#token && this.#options.transport.now() < this.#token.refreshAt) return this.#token;
    // Concurrent callers share one token request.
    this.#pending ??= this.#request().finally(() => {
      this.#pending = undefined;
    });
    return this.#pending;
  }

  /** Forget `token` after the server refused it (unless another caller already replaced it). */
  discard(token: AccessToken): void {
    if (this.#token === token) this.#token = undefined;
  }

  async #request(): Promise<AccessToken> {
    const { base, origin, clientId, clientSecret, transport, logger } = this.#options;
    const url = new URL(`${base}/connect/token`);
    // Credentials as form fields (client_secret_post), like the official SDK: no Basic-header
    // encoding questions for secrets with ':' or '%' in them.
    const form = () =>
      new URLSearchParams({
        grant_type: 'client_credentials',
        scope: SAAS_MANAGER_SCOPES.join(' '),
        client_id: clientId,
        client_secret: clientSecret.reveal(),
      });
    const { exchange, attempts } = await transport.withRetries('POST', url, () =>
      transport.send('POST', url, { 'content-type': 'application/x-www-form-urlencoded' }, form()),
    );
    if (exchange.kind === 'network') throw networkError(origin, 'POST', url, exchange, attempts, true);

    const body = isRecord(exchange.body) ? exchange.body : {};
    if (isSuccess(exchange.status)) {
      const accessToken = typeof body.access_token === 'string' ? body.access_token : '';
      const tokenType = typeof body.token_type === 'string' ? body.token_type : 'Bearer';
      if (accessToken === '' || tokenType.toLowerCase() !== 'bearer') {
        throw new WorkflowApiError(
          'BadResponse',
          'SaaS Manager /connect/token answered without a bearer access token',
          {
            method: 'POST',
            path: url.pathname,
            upstreamStatus: exchange.status,
            setup: true,
          },
        );
      }
      const expiresIn = Number(body.expires_in);
      const lifetimeMs = (Number.isFinite(expiresIn) && expiresIn > 0 ? expiresIn : 3600) * 1000;
      // Refresh a little early (a minute, or a tenth of a short lifetime) so no call carries an expiring token.
      const margin = Math.min(60_000, lifetimeMs / 10);
      this.#token = { value: new Secret(accessToken), refreshAt: transport.now() + lifetimeMs - margin };
      logger.debug('SaaS Manager access token obtained', { expiresInSeconds: lifetimeMs / 1000 });
      return this.#token;
    }

    const oauthError = typeof body.error === 'string' ? body.error : undefined;
    if (
      oauthError === 'invalid_client' ||
      oauthError === 'unauthorized_client' ||
      oauthError === 'invalid_scope'
    ) {
      const why =
        oauthError === 'invalid_scope'
          ? `does not allow the scopes ${SAAS_MANAGER_SCOPES.join(', ')} (invalid_scope)`
          : `refused client id "${clientId}" and its secret (${oauthError})`;
      throw new WorkflowApiError('ClientRefused', `SaaS Manager ${why}`, {
        method: 'POST',
        path: url.pathname,
        upstreamStatus: exchange.status,
        title: oauthError,
        setup: true,
        hint: `check TRELICA_CLIENT_ID and TRELICA_CLIENT_SECRET; ${SCOPES_HINT}`,
      });
    }
    throw statusError('POST', url, exchange, attempts, true, 'TokenRequestFailed');
  }
}
