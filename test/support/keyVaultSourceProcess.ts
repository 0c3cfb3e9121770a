/**
 * Runs KeyVaultCertificateSource in a child `node` process, so TLS trust and the managed identity
 * come from the environment exactly as in the Function App: NODE_EXTRA_CA_CERTS is read only when a
 * process starts, and @azure/identity picks its endpoint (and caches tokens) once per process.
 * The stubs stay in the test process, so a test can change the vault between two loads and read
 * the request logs. Outcomes come back as plain data (never the material itself: its SHA-256).
 */
import { fork, type ChildProcess } from 'node:child_process';
import type { CertificateSummary } from '../../shared/certificates/certificateChecks';
import { join } from 'node:path';

export interface CreateSourceOptions {
  vaultUrl: string;
  certificateName: string;
  managedIdentityClientId?: string;
  versionCheckIntervalMs?: number;
  /** Key Vault client retries (the SDK default of 3 with back-off makes failure tests slow). */
  keyVaultMaxRetries?: number;
  identityMaxRetries?: number;
}

/** What `check` may show (CertificateSummary), plus evidence that the secret parts never leak. */
export interface LoadedCertificate extends CertificateSummary {
  materialSha256: string;
  passwordLength: number;
  /** JSON.stringify, util.inspect and String of the ExchangeCertificate. */
  json: string;
  inspected: string;
  string: string;
  warnings: string[];
}

export interface LoadFailure {
  name: string;
  code: string;
  message: string;
  hint?: string;
  upstreamStatus?: number;
  isSetupError: boolean;
  string: string;
  json: string;
  inspected: string;
  described?: string;
}

export type LoadOutcome = { ok: true; certificate: LoadedCertificate } | { ok: false; error: LoadFailure };

export type ChildCommand =
  | { op: 'create'; key: string; options: CreateSourceOptions }
  | { op: 'load'; key: string }
  | { op: 'loadConcurrently'; key: string; count: number }
  | { op: 'setNow'; iso?: string }
  | { op: 'logs'; key: string };

export type ChildReply = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: string };

export interface SourceProcess {
  create(key: string, options: CreateSourceOptions): Promise<void>;
  load(key: string): Promise<LoadOutcome>;
  loadConcurrently(key: string, count: number): Promise<LoadOutcome[]>;
  /** Fix the clock of every source in the process; undefined goes back to the real clock. */
  setNow(date: Date | undefined): Promise<void>;
  /** Lines the source logged: "<level> <message> <properties JSON>". */
  logs(key: string): Promise<string[]>;
  /** Everything the child wrote to stdout/stderr (the SDKs may log there). */
  output(): string;
  stop(): Promise<void>;
}

const SUPPORT = __dirname;

/** Start a child with `env` added to a minimal environment (PATH, HOME, TMPDIR and nothing Azure-specific). */
export async function startSourceProcess(env: Record<string, string>): Promise<SourceProcess> {
  const base: Record<string, string> = {};
  for (const name of ['PATH', 'HOME', 'TMPDIR', 'SystemRoot']) {
    const value = process.env[name];
    if (value !== undefined) base[name] = value;
  }
  const child: ChildProcess = fork(
    join(SUPPORT, 'runTypeScript.js'),
    [join(SUPPORT, 'keyVaultSourceChild.ts')],
    {
      env: { ...base, ...env },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      execPath: process.execPath,
    },
  );
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));

  const pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  let nextId = 1;
  let exited = false;
  const ready = new Promise<void>((resolve, reject) => {
    pending.set(0, { resolve: () => resolve(), reject });
  });
  child.on('message', (reply: ChildReply) => {
    const waiter = pending.get(reply.id);
    if (!waiter) return;
    pending.delete(reply.id);
    if (reply.ok) waiter.resolve(reply.result);
    else waiter.reject(new Error(reply.error));
  });
  child.on('exit', (code, signal) => {
    exited = true;
    for (const waiter of pending.values())
      waiter.reject(new Error(`source process exited (${code ?? signal}): ${output.slice(-2000)}`));
    pending.clear();
  });
  await ready;

  const call = <T>(command: ChildCommand): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      if (exited) return reject(new Error('source process has exited'));
      const id = nextId++;
      pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      child.send({ ...command, id });
    });

  return {
    create: (key, options) => call<void>({ op: 'create', key, options }),
    load: (key) => call<LoadOutcome>({ op: 'load', key }),
    loadConcurrently: (key, count) => call<LoadOutcome[]>({ op: 'loadConcurrently', key, count }),
    setNow: (date) => call<void>(date ? { op: 'setNow', iso: date.toISOString() } : { op: 'setNow' }),
    logs: (key) => call<string[]>({ op: 'logs', key }),
    output: () => output,
    stop: () =>
      new Promise<void>((resolve) => {
        if (exited) return resolve();
        child.once('exit', () => resolve());
        child.disconnect();
        setTimeout(() => child.kill('SIGKILL'), 5000).unref();
      }),
  };
}
