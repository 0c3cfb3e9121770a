/**
 * Child-process side of keyVaultSourceProcess.ts: hosts real KeyVaultCertificateSource instances
 * (real @azure/identity credential, real Key Vault clients) in a process whose environment was set
 * at start (NODE_EXTRA_CA_CERTS, HTTPS_PROXY, IDENTITY_ENDPOINT, ...), and answers the parent's
 * commands over IPC. Run with: node test/support/runTypeScript.js test/support/keyVaultSourceChild.ts
 */
import { createHash } from 'node:crypto';
import { inspect } from 'node:util';
import { AppError } from '../../shared/errors';
import { certificateWarnings } from '../../shared/certificateExpiry';
import { describeCertificate } from '../../shared/certificates/certificateChecks';
import { createAzureCredential } from '../../shared/identity/azureCredential';
import {
  KeyVaultCertificateSource,
  type KeyVaultClientOptions,
} from '../../shared/certificates/keyVaultCertificateSource';
import type { Logger } from '../../shared/ports';
import type { ExchangeCertificate } from '../../shared/domain';
import type { ChildCommand, ChildReply, CreateSourceOptions, LoadOutcome } from './keyVaultSourceProcess';

const sources = new Map<string, KeyVaultCertificateSource>();
const logs = new Map<string, string[]>();
let now = (): Date => new Date();

function logger(key: string): Logger {
  const lines: string[] = [];
  logs.set(key, lines);
  const write = (level: string) => (message: string, properties?: Record<string, unknown>) => {
    lines.push(`${level} ${message}${properties ? ` ${JSON.stringify(properties)}` : ''}`);
  };
  return { debug: write('debug'), info: write('info'), warn: write('warn'), error: write('error') };
}

function create(key: string, options: CreateSourceOptions): void {
  const credential = createAzureCredential({
    credential: 'managedIdentity',
    ...(options.managedIdentityClientId ? { managedIdentityClientId: options.managedIdentityClientId } : {}),
    ...(options.identityMaxRetries === undefined ? {} : { maxRetries: options.identityMaxRetries }),
  });
  const clientOptions: KeyVaultClientOptions =
    options.keyVaultMaxRetries === undefined
      ? {}
      : { retryOptions: { maxRetries: options.keyVaultMaxRetries } };
  sources.set(
    key,
    new KeyVaultCertificateSource({
      vaultUrl: options.vaultUrl,
      certificateName: options.certificateName,
      credential,
      clock: { now: () => now() },
      logger: logger(key),
      clientOptions,
      ...(options.versionCheckIntervalMs === undefined
        ? {}
        : { versionCheckIntervalMs: options.versionCheckIntervalMs }),
    }),
  );
}

function describeSuccess(certificate: ExchangeCertificate): LoadOutcome {
  return {
    ok: true,
    certificate: {
      ...describeCertificate(certificate),
      materialSha256: createHash('sha256').update(certificate.material.reveal()).digest('hex'),
      passwordLength: certificate.password.reveal().length,
      json: JSON.stringify(certificate),
      inspected: inspect(certificate, { depth: 10 }),
      // What String() makes of the certificate is the point: it must not show the secret parts.
      // eslint-disable-next-line @typescript-eslint/no-base-to-string
      string: String(certificate),
      warnings: certificateWarnings(certificate, now()),
    },
  };
}

function describeFailure(error: unknown): LoadOutcome {
  const appError = error instanceof AppError ? error : undefined;
  return {
    ok: false,
    error: {
      name: error instanceof Error ? error.name : typeof error,
      code: appError?.code ?? 'NotAnAppError',
      message: error instanceof Error ? error.message : String(error),
      ...(appError?.hint === undefined ? {} : { hint: appError.hint }),
      ...(appError?.upstreamStatus === undefined ? {} : { upstreamStatus: appError.upstreamStatus }),
      isSetupError: appError?.isSetupError ?? false,
      string: String(error),
      json: JSON.stringify(error),
      inspected: inspect(error, { depth: 10 }),
      ...(appError ? { described: appError.describe() } : {}),
    },
  };
}

async function handle(command: ChildCommand): Promise<unknown> {
  switch (command.op) {
    case 'create':
      create(command.key, command.options);
      return null;
    case 'load': {
      const source = sources.get(command.key);
      if (!source) throw new Error(`no source ${command.key}`);
      return source.load().then(describeSuccess, describeFailure);
    }
    case 'loadConcurrently': {
      const source = sources.get(command.key);
      if (!source) throw new Error(`no source ${command.key}`);
      return Promise.all(
        Array.from({ length: command.count }, () => source.load().then(describeSuccess, describeFailure)),
      );
    }
    case 'setNow': {
      const fixed = command.iso === undefined ? undefined : new Date(command.iso);
      now = fixed ? () => fixed : () => new Date();
      return null;
    }
    case 'logs':
      return logs.get(command.key) ?? [];
  }
}

process.on('message', (message: ChildCommand & { id: number }) => {
  handle(message).then(
    (result) => process.send?.({ id: message.id, ok: true, result } satisfies ChildReply),
    (error: unknown) =>
      process.send?.({
        id: message.id,
        ok: false,
        error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
      } satisfies ChildReply),
  );
});
process.on('disconnect', () => process.exit(0));
process.send?.({ id: 0, ok: true, result: 'ready' } satisfies ChildReply);
