/**
 * The composition root: the one file that knows every adapter. It turns a parsed Config into the
 * use cases' dependencies. Triggers and the CLI call `sweep`, `check` here; nothing else builds
 * adapters.
 *
 * Lifetimes: the certificate source and the run claims live as long as the worker process (so the
 * certificate is cached and leases are shared); the SaaS Manager client and the PowerShell session
 * are new for every sweep (one token, one pwsh process per sweep).
 */
import { BlobLeaseClaims } from './claims/blobLeaseClaims';
import { LockFileClaims } from './claims/lockFileClaims';
import { runChecks, type CheckResult } from './check/runChecks';
import { FileCertificateSource } from './certificates/fileCertificateSource';
import type { Config } from './config';
import { AppError, ensureAppError } from './errors';
import { findPowerShell, type FoundPowerShell } from './exchange/findPowerShell';
import { PowerShellExchangeShell } from './exchange/powerShellExchangeShell';
import { SessionPool } from './exchange/sessionPool';
import { createAzureCredential } from './keyVault/credential';
import { KeyVaultCertificateSource } from './keyVault/keyVaultCertificateSource';
import type { CertificateSource, Clock, Logger, PendingRuns, RunClaims, RunRecords } from './ports';
import { MESSAGE_TTL_SECONDS, StorageQueue } from './queue/storageQueue';
import { FileRunRecords } from './runRecords/fileRunRecords';
import { TablePendingRuns, TableRunRecords } from './runRecords/tableRunRecords';
import { SaasManagerClient } from './saasManager/saasManagerClient';
import { fanOutSweep, parseQueuedRun, poisonedRunReport, type FanOutReport } from './sweep/fanOut';
import type { RunReport, SweepReport } from './sweep/report';
import { runSweep, type SweepRequest, type SweepSettings } from './sweep/runSweep';

export interface Runtime {
  logger: Logger;
  /** The environment the PowerShell child process inherits (PSModulePath decides which Exchange module loads). */
  env?: NodeJS.ProcessEnv;
  clock?: Clock;
  /** Cap for one PowerShell call, below the configured timeout (HTTP triggers must answer in time). */
  maxCallTimeoutMs?: number;
}

const systemClock: Clock = { now: () => new Date() };

// Worker-lifetime singletons, keyed by what they depend on (config can differ between tests).
const certificateSources = new Map<string, CertificateSource>();
const claimStores = new Map<string, RunClaims>();
const recordStores = new Map<string, RunRecords>();

export function sweepSettings(config: Config): SweepSettings {
  const exchange: SweepSettings['exchange'] =
    config.exchange.auth === 'certificate'
      ? {
          auth: 'certificate',
          organization: config.exchange.organization,
          appId: config.exchange.appId as string,
        }
      : {
          auth: 'managedIdentity',
          organization: config.exchange.organization,
          ...(config.exchange.managedIdentityAccountId
            ? { managedIdentityAccountId: config.exchange.managedIdentityAccountId }
            : {}),
        };
  return {
    workflowNames: config.workflows.names,
    stepName: config.workflows.stepName,
    actionName: config.workflows.actionName,
    actions: config.exchange.actions,
    autoMapping: config.exchange.autoMapping,
    acceptSharedLeavers: config.exchange.acceptSharedLeavers,
    protectedRecipients: config.exchange.protectedRecipients,
    exchange,
  };
}

function certificateSource(config: Config, logger: Logger, clock: Clock): CertificateSource | undefined {
  const cert = config.certificate;
  if (!cert) return undefined;
  const key = JSON.stringify({ ...cert, password: undefined });
  let source = certificateSources.get(key);
  if (!source) {
    source =
      cert.kind === 'keyVault'
        ? new KeyVaultCertificateSource({
            vaultUrl: cert.vaultUrl,
            certificateName: cert.name,
            credential: createAzureCredential({
              credential: cert.credential,
              ...(cert.managedIdentityClientId
                ? { managedIdentityClientId: cert.managedIdentityClientId }
                : {}),
            }),
            clock,
            logger,
          })
        : new FileCertificateSource({ path: cert.path, password: cert.password, clock, logger });
    certificateSources.set(key, source);
  }
  return source;
}

function runClaims(config: Config, env: NodeJS.ProcessEnv, logger: Logger): RunClaims {
  const blobServiceUri = env.AzureWebJobsStorage__blobServiceUri;
  const key = config.storageConnection ?? blobServiceUri ?? 'local';
  let claims = claimStores.get(key);
  if (!claims) {
    if (config.storageConnection) {
      claims = new BlobLeaseClaims({ connectionString: config.storageConnection, logger });
    } else if (blobServiceUri) {
      // Identity-based AzureWebJobsStorage (what infra/ deploys): the same user-assigned identity.
      const clientId = env.AzureWebJobsStorage__clientId;
      claims = new BlobLeaseClaims({
        blobServiceUri,
        credential: createAzureCredential({
          credential: 'managedIdentity',
          ...(clientId ? { managedIdentityClientId: clientId } : {}),
        }),
        logger,
      });
    } else {
      claims = new LockFileClaims();
    }
    claimStores.set(key, claims);
  }
  return claims;
}

function runRecords(config: Config, env: NodeJS.ProcessEnv): RunRecords {
  // Identity-based AzureWebJobsStorage (what infra/ deploys) names the table endpoint; an older
  // deployment with only the blob endpoint gets the same account's table endpoint.
  const blobServiceUri = env.AzureWebJobsStorage__blobServiceUri;
  const tableServiceUri =
    env.AzureWebJobsStorage__tableServiceUri ?? blobServiceUri?.replace('.blob.', '.table.');
  const key = config.storageConnection ?? tableServiceUri ?? `dir:${config.runRecordsDir ?? ''}`;
  let records = recordStores.get(key);
  if (!records) {
    if (config.storageConnection) {
      records = new TableRunRecords({ connectionString: config.storageConnection });
    } else if (tableServiceUri) {
      const clientId = env.AzureWebJobsStorage__clientId;
      records = new TableRunRecords({
        tableServiceUri,
        credential: createAzureCredential({
          credential: 'managedIdentity',
          ...(clientId ? { managedIdentityClientId: clientId } : {}),
        }),
      });
    } else {
      records = new FileRunRecords(config.runRecordsDir);
    }
    recordStores.set(key, records);
  }
  return records;
}

function buildDependencies(config: Config, runtime: Runtime, deadline?: Date, lent?: SessionPool) {
  const env = runtime.env ?? process.env;
  const clock = runtime.clock ?? systemClock;
  const logger = runtime.logger;
  const powerShell = findPowerShell(env);
  const callTimeoutMs = Math.min(
    config.exchange.callTimeoutMs,
    runtime.maxCallTimeoutMs ?? Number.POSITIVE_INFINITY,
  );
  const certificates = certificateSource(config, logger, clock);
  // EXO_SESSIONS sessions, each started and connected on first need (issue 14); a queue-triggered
  // run borrows the worker's long-lived pool instead.
  const pool = lent ? lent.lend() : newPool(config, runtime, powerShell, callTimeoutMs);
  return {
    workflowApi: new SaasManagerClient({
      baseUrl: config.trelica.baseUrl,
      clientId: config.trelica.clientId,
      clientSecret: config.trelica.clientSecret,
      pageSize: config.trelica.pageSize,
      logger,
      clock,
      // HTTP-triggered sweeps: no retry or wait may outlast the time left to answer.
      ...(deadline ? { deadline } : {}),
    }),
    exchange: pool,
    admission: pool,
    ...(certificates ? { certificates } : {}),
    claims: runClaims(config, env, logger),
    runRecords: runRecords(config, env),
    clock,
    logger,
  };
}

/** Run one sweep (or one rerun) with real adapters. */
export async function sweep(config: Config, runtime: Runtime, request: SweepRequest): Promise<SweepReport> {
  return runSweep(buildDependencies(config, runtime, request.deadline), sweepSettings(config), request);
}

/** Run every check, changing nothing. */
export async function check(config: Config, runtime: Runtime): Promise<CheckResult[]> {
  const deps = buildDependencies(config, runtime);
  return runChecks({ ...deps, now: () => deps.clock.now() }, sweepSettings(config));
}

// ---------------------------------------------------------------------------------------------
// Session pools and fan-out (issue 14)

function newPool(
  config: Config,
  runtime: Runtime,
  powerShell: FoundPowerShell,
  callTimeoutMs: number,
): SessionPool {
  const env = runtime.env ?? process.env;
  const logger = runtime.logger;
  return new SessionPool({
    size: config.exchange.sessions,
    createSession: (hooks) =>
      new PowerShellExchangeShell({
        powerShell,
        exchangeAuth: config.exchange.auth,
        callTimeoutMs,
        // Starting and connecting get more time than one run's plan, unless a trigger caps every call.
        ...(runtime.maxCallTimeoutMs === undefined
          ? {}
          : { connectTimeoutMs: callTimeoutMs, startTimeoutMs: callTimeoutMs }),
        env,
        logger,
        onThrottle: hooks.onThrottle,
      }),
    logger,
  });
}

/** A worker's sessions are closed after this long without a queued run (and when the worker shuts down). */
export const WORKER_POOL_IDLE_MS = 10 * 60 * 1000;

interface WorkerPool {
  pool: SessionPool;
  /** Queued runs in progress on this pool. */
  active: number;
  idleTimer?: NodeJS.Timeout;
}

// The queue trigger's pools: one per worker process (per configuration), living across invocations.
const workerPools = new Map<string, WorkerPool>();

function workerPool(config: Config, runtime: Runtime): WorkerPool {
  const env = runtime.env ?? process.env;
  const key = JSON.stringify({ exchange: config.exchange, modules: env.PSModulePath ?? '' });
  let entry = workerPools.get(key);
  if (!entry) {
    entry = {
      pool: newPool(config, { ...runtime }, findPowerShell(env), config.exchange.callTimeoutMs),
      active: 0,
    };
    workerPools.set(key, entry);
  }
  if (entry.idleTimer) clearTimeout(entry.idleTimer);
  entry.idleTimer = undefined;
  entry.active += 1;
  return entry;
}

/** Stop every worker-lifetime session (the worker is shutting down). */
export async function shutdownWorker(): Promise<void> {
  const entries = [...workerPools.values()];
  workerPools.clear();
  for (const entry of entries) if (entry.idleTimer) clearTimeout(entry.idleTimer);
  await Promise.all(entries.map((entry) => entry.pool.close()));
}

function pendingRuns(config: Config, env: NodeJS.ProcessEnv): PendingRuns {
  const staleAfterMs = (MESSAGE_TTL_SECONDS + 3600) * 1000;
  if (config.storageConnection) {
    return new TablePendingRuns({ connectionString: config.storageConnection, staleAfterMs });
  }
  const tableServiceUri =
    env.AzureWebJobsStorage__tableServiceUri ??
    env.AzureWebJobsStorage__blobServiceUri?.replace('.blob.', '.table.');
  if (!tableServiceUri) {
    throw new AppError('QueueStorageMissing', 'SWEEP_MODE=queue needs AzureWebJobsStorage', {
      hint: 'set AzureWebJobsStorage (or its identity-based __queueServiceUri and __tableServiceUri), or SWEEP_MODE=inline',
    });
  }
  return new TablePendingRuns({ tableServiceUri, credential: storageCredential(env), staleAfterMs });
}

function runQueue(config: Config, env: NodeJS.ProcessEnv, queue?: string): StorageQueue {
  if (config.storageConnection) {
    return new StorageQueue({ connectionString: config.storageConnection, ...(queue ? { queue } : {}) });
  }
  const queueServiceUri =
    env.AzureWebJobsStorage__queueServiceUri ??
    env.AzureWebJobsStorage__blobServiceUri?.replace('.blob.', '.queue.');
  if (!queueServiceUri) {
    throw new AppError('QueueStorageMissing', 'SWEEP_MODE=queue needs AzureWebJobsStorage', {
      hint: 'set AzureWebJobsStorage (or its identity-based __queueServiceUri and __tableServiceUri), or SWEEP_MODE=inline',
    });
  }
  return new StorageQueue({
    queueServiceUri,
    credential: storageCredential(env),
    ...(queue ? { queue } : {}),
  });
}

function storageCredential(env: NodeJS.ProcessEnv) {
  const clientId = env.AzureWebJobsStorage__clientId;
  return createAzureCredential({
    credential: 'managedIdentity',
    ...(clientId ? { managedIdentityClientId: clientId } : {}),
  });
}

/** The timer in queue mode: one exo-runs message per waiting run (none for a run already pending). */
export async function fanOut(config: Config, runtime: Runtime): Promise<FanOutReport> {
  const env = runtime.env ?? process.env;
  const deps = buildDependencies(config, runtime);
  return fanOutSweep(
    {
      workflowApi: deps.workflowApi,
      queue: runQueue(config, env),
      pending: pendingRuns(config, env),
      logger: runtime.logger,
    },
    sweepSettings(config),
  );
}

export interface QueuedRunResult {
  /** Absent when the run was no longer waiting (or no longer exists): nothing to do. */
  report?: SweepReport;
  /** Set when the attempt failed: the message must become visible again (and, in the end, poison). */
  retry?: string;
  /** Why nothing was done (the run moved on or is gone). */
  detail?: string;
}

/** The queue trigger: one run, on the worker's long-lived session pool; claims and signal rules as in a sweep. */
export async function processQueuedRun(
  config: Config,
  runtime: Runtime,
  body: unknown,
): Promise<QueuedRunResult> {
  const env = runtime.env ?? process.env;
  const run = parseQueuedRun(body);
  const pending = pendingRuns(config, env);
  const entry = workerPool(config, runtime);
  try {
    const deps = buildDependencies(config, runtime, undefined, entry.pool);
    let report: SweepReport;
    try {
      report = await runSweep(deps, sweepSettings(config), { dryRun: config.dryRun, runId: run.runId });
    } catch (thrown) {
      const error = ensureAppError(thrown);
      if (error.code === 'RunNotWaiting' || error.code === 'RunNotFound') {
        await pending.clear(run.runId);
        return { detail: error.message };
      }
      await pending.noteFailure(run.runId, error.describe()).catch(() => undefined);
      return { retry: error.describe() };
    }
    const outcome = report.runs[0];
    if (outcome?.outcome === 'failed') {
      const reason = outcome.error ?? 'the run failed';
      await pending.noteFailure(run.runId, reason).catch(() => undefined);
      return { report, retry: reason };
    }
    await pending.clear(run.runId);
    return { report };
  } finally {
    entry.active -= 1;
    if (entry.active === 0) {
      entry.idleTimer = setTimeout(() => void entry.pool.close(), WORKER_POOL_IDLE_MS);
      entry.idleTimer.unref();
    }
  }
}

/** The poison-queue trigger: the run is reported failed with the last reason, never signalled. */
export async function reportPoisonedRun(
  config: Config,
  runtime: Runtime,
  body: unknown,
  attempts: number,
): Promise<RunReport> {
  const run = parseQueuedRun(body);
  const pending = pendingRuns(config, runtime.env ?? process.env);
  const lastFailure = await pending.lastFailure(run.runId);
  // The mark goes: the next timer sweep may queue the run again, if it is still waiting.
  await pending.clear(run.runId);
  return poisonedRunReport(run, attempts, lastFailure);
}
