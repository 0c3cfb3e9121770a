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
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { hostname } from 'node:os';
import type { Config, HistoryConfig, StorageConfig } from './config';
import { FileJournalRows } from './runRecords/fileJournalRows';
import { RowRunJournal } from './journal/runJournal';
import { AppError, ensureAppError } from './errors';
import { findPowerShell, type FoundPowerShell } from './exchange/findPowerShell';
import { PowerShellExchangeShell } from './exchange/powerShellExchangeShell';
import { SessionPool } from './exchange/sessionPool';
import { MESSAGE_TTL_SECONDS, StorageQueue } from './queue/storageQueue';
import { fanOutSweep, parseQueuedRun, poisonedRunReport, type FanOutReport } from './sweep/fanOut';
import { createAzureCredential } from './identity/azureCredential';
import { KeyVaultCertificateSource } from './certificates/keyVaultCertificateSource';
import type {
  CertificateSource,
  Clock,
  Logger,
  PendingRuns,
  RunClaims,
  RunJournal,
  RunRecords,
} from './ports';
import type { RunHistory, RunJournalState } from './domain';
import { defaultRunRecordsDirectory, FileRunRecords } from './runRecords/fileRunRecords';
import { TableJournalRows, TablePendingRuns, TableRunRecords } from './runRecords/tableRunRecords';
import { SaasManagerClient } from './saasManager/saasManagerClient';
import type { RunReport, SweepReport } from './sweep/report';
import { runSweep, type SweepRequest, type SweepSettings } from './sweep/runSweep';
import { runVerify, type VerifyRequest } from './verify/runVerify';
import type { VerifyReport } from './verify/verifyReport';
import { runUndo, type UndoDependencies, type UndoReport, type UndoRequest } from './undo/runUndo';
import { expireGrants, type ExpiredGrant } from './undo/expireGrants';

export interface Runtime {
  logger: Logger;
  /**
   * The process environment, for finding PowerShell and for the PowerShell child's allow-listed
   * environment (PSModulePath decides which Exchange module loads). Settings come from Config only.
   */
  env: NodeJS.ProcessEnv;
  clock?: Clock;
  /** Cap for one PowerShell call, below the configured timeout (HTTP triggers must answer in time). */
  maxCallTimeoutMs?: number;
}

const systemClock: Clock = { now: () => new Date() };

// Worker-lifetime singletons, keyed by what they depend on (config can differ between tests).
const certificateSources = new Map<string, CertificateSource>();
const claimStores = new Map<string, RunClaims>();
const recordStores = new Map<string, RunRecords>();
const journals = new Map<string, RunJournal>();

export function sweepSettings(config: Config): SweepSettings {
  const { exchange: ex } = config;
  const exchange: SweepSettings['exchange'] =
    ex.auth === 'certificate'
      ? { auth: 'certificate', organization: ex.organization, appId: ex.appId }
      : {
          auth: 'managedIdentity',
          organization: ex.organization,
          ...(ex.managedIdentityAccountId ? { managedIdentityAccountId: ex.managedIdentityAccountId } : {}),
        };
  return {
    workflowNames: config.workflows.names,
    stepName: config.workflows.stepName,
    actionName: config.workflows.actionName,
    actions: ex.actions,
    autoMapping: ex.autoMapping,
    acceptSharedLeavers: ex.acceptSharedLeavers,
    protectedRecipients: ex.protectedRecipients,
    profiles: config.profiles,
    maxAttempts: config.journal.maxAttempts,
    ...(config.journal.failureActionName ? { failureActionName: config.journal.failureActionName } : {}),
    exchange,
  };
}

function certificateSource(config: Config, logger: Logger, clock: Clock): CertificateSource | undefined {
  if (config.exchange.auth !== 'certificate') return undefined;
  const cert = config.exchange.certificate;
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

/** A key for a worker-lifetime store: which storage it talks to (never the connection string itself). */
function storageKey(storage: StorageConfig): string {
  switch (storage.kind) {
    case 'connectionString':
      return `connection:${createHash('sha256').update(storage.connectionString.reveal()).digest('hex')}`;
    case 'identity':
      return `identity:${storage.blobServiceUri}:${storage.tableServiceUri}:${storage.clientId ?? ''}`;
    case 'local':
      return `local:${storage.runRecordsDir ?? ''}`;
  }
}

/** What `check` says about the storage: endpoints and identity, never a key. */
function describeStorage(storage: StorageConfig): string {
  switch (storage.kind) {
    case 'connectionString': {
      const text = storage.connectionString.reveal();
      if (/^UseDevelopmentStorage=true/i.test(text))
        return 'the local storage emulator (UseDevelopmentStorage=true)';
      const account = /(?:^|;)AccountName=([^;]+)/i.exec(text)?.[1];
      return `AzureWebJobsStorage connection string${account ? ` (account ${account})` : ''}`;
    }
    case 'identity':
      return `identity-based AzureWebJobsStorage: table ${storage.tableServiceUri}, blob ${storage.blobServiceUri}, as ${
        storage.clientId ? `the user-assigned identity ${storage.clientId}` : 'the system-assigned identity'
      }`;
    case 'local':
      return `local folders (run records in ${storage.runRecordsDir ?? 'the default folder'}, claims as lock files)`;
  }
}

/** Identity-based storage (what infra/ deploys) uses the Function App's user-assigned identity. */
function storageCredential(storage: { clientId?: string }) {
  return createAzureCredential({
    credential: 'managedIdentity',
    ...(storage.clientId ? { managedIdentityClientId: storage.clientId } : {}),
  });
}

function runClaims(storage: StorageConfig, logger: Logger): RunClaims {
  const key = storageKey(storage);
  let claims = claimStores.get(key);
  if (!claims) {
    claims =
      storage.kind === 'connectionString'
        ? new BlobLeaseClaims({ connectionString: storage.connectionString.reveal(), logger })
        : storage.kind === 'identity'
          ? new BlobLeaseClaims({
              blobServiceUri: storage.blobServiceUri,
              credential: storageCredential(storage),
              logger,
            })
          : // Next to the run records they guard (so two sandboxes or test worlds with the same run
            // ids never share a claim); in the system temp folder when there is no records folder.
            new LockFileClaims(
              storage.runRecordsDir ? { directory: join(storage.runRecordsDir, '.claims') } : {},
            );
    claimStores.set(key, claims);
  }
  return claims;
}

function runRecords(storage: StorageConfig): RunRecords {
  const key = storageKey(storage);
  let records = recordStores.get(key);
  if (!records) {
    records =
      storage.kind === 'connectionString'
        ? new TableRunRecords({ connectionString: storage.connectionString.reveal() })
        : storage.kind === 'identity'
          ? new TableRunRecords({
              tableServiceUri: storage.tableServiceUri,
              credential: storageCredential(storage),
            })
          : new FileRunRecords(storage.runRecordsDir);
    recordStores.set(key, records);
  }
  return records;
}

/** The run journal next to the run records (same table and partition, or the same folder per run). */
function runJournal(storage: StorageConfig): RunJournal {
  const key = storageKey(storage);
  let journal = journals.get(key);
  if (!journal) {
    const records = runRecords(storage);
    const rows =
      storage.kind === 'connectionString'
        ? new TableJournalRows({ connectionString: storage.connectionString.reveal() })
        : storage.kind === 'identity'
          ? new TableJournalRows({
              tableServiceUri: storage.tableServiceUri,
              credential: storageCredential(storage),
            })
          : new FileJournalRows(storage.runRecordsDir ?? defaultRunRecordsDirectory());
    journal = new RowRunJournal(rows, records);
    journals.set(key, journal);
  }
  return journal;
}

function buildDependencies(config: Config, runtime: Runtime, deadline?: Date, lent?: SessionPool) {
  const env = runtime.env;
  const clock = runtime.clock ?? systemClock;
  const logger = runtime.logger;
  const powerShell = findPowerShell(env);
  const callTimeoutMs = Math.min(
    config.exchange.callTimeoutMs,
    runtime.maxCallTimeoutMs ?? Number.POSITIVE_INFINITY,
  );
  const certificates = certificateSource(config, logger, clock);
  // EXO_SESSIONS sessions, each started and connected on first need; a queue-triggered run borrows
  // the worker's long-lived pool instead.
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
    claims: runClaims(config.storage, logger),
    runRecords: runRecords(config.storage),
    journal: runJournal(config.storage),
    host: hostname(),
    clock,
    logger,
  };
}

/**
 * Run one sweep (or one rerun) with real adapters. A whole real sweep then removes the grants whose
 * delegation expired (the profile's delegationDays) and lists them in `expired`.
 */
export async function sweep(config: Config, runtime: Runtime, request: SweepRequest): Promise<SweepReport> {
  const report = await runSweep(
    buildDependencies(config, runtime, request.deadline),
    sweepSettings(config),
    request,
  );
  if (request.dryRun || request.runId !== undefined) return report;
  try {
    const expired = await expireDelegations(config, runtime);
    return expired.length > 0 ? { ...report, expired } : report;
  } catch (thrown) {
    // Never the sweep's failure: the due grants stay due and the next sweep tries again.
    const error = ensureAppError(thrown);
    return { ...report, warnings: [...report.warnings, `expiring delegation failed: ${error.describe()}`] };
  }
}

/** Expiring delegation: remove the grants that are due (the timer, in both sweep modes). */
export async function expireDelegations(config: Config, runtime: Runtime): Promise<ExpiredGrant[]> {
  return expireGrants(undoDependencies(config, runtime), { exchange: sweepSettings(config).exchange });
}

function undoDependencies(config: Config, runtime: Runtime): UndoDependencies {
  const deps = buildDependencies(config, runtime);
  return {
    exchange: deps.exchange,
    journal: deps.journal,
    claims: deps.claims,
    ...(deps.certificates ? { certificates: deps.certificates } : {}),
    clock: deps.clock,
    logger: deps.logger,
    host: deps.host,
  };
}

/** Undo one run from its journal (`undo <runId>`, POST /api/runs/{runId}/undo); never signals. */
export async function undo(config: Config, runtime: Runtime, request: UndoRequest): Promise<UndoReport> {
  return runUndo(undoDependencies(config, runtime), { exchange: sweepSettings(config).exchange }, request);
}

/** Re-check completed runs against Exchange (`verify`, the verify timer); with `repair`, re-apply drift. */
export async function verify(
  config: Config,
  runtime: Runtime,
  request: VerifyRequest,
): Promise<VerifyReport> {
  const deps = buildDependencies(config, runtime);
  return runVerify(
    {
      journal: deps.journal,
      exchange: deps.exchange,
      ...(deps.certificates ? { certificates: deps.certificates } : {}),
      claims: deps.claims,
      clock: deps.clock,
      logger: deps.logger,
      host: deps.host,
    },
    { exchange: sweepSettings(config).exchange },
    request,
  );
}

/** Run every check, changing nothing. */
export async function check(config: Config, runtime: Runtime): Promise<CheckResult[]> {
  const deps = buildDependencies(config, runtime);
  return runChecks(
    { ...deps, storageDescription: describeStorage(config.storage), now: () => deps.clock.now() },
    sweepSettings(config),
  );
}

/** The journal of one run (`history <runId>`, GET /api/runs/{runId}); undefined for an unknown run. */
export async function runHistory(config: HistoryConfig, runId: string): Promise<RunHistory | undefined> {
  return runJournal(config.storage).read(runId);
}

/** Runs with journal activity since `since`, newest first (`history --since 7d`). */
export async function recentRuns(config: HistoryConfig, since: Date): Promise<RunJournalState[]> {
  return runJournal(config.storage).list(since);
}

/** Remove journal entries older than EXO_JOURNAL_DAYS (the timer, after its sweep); answers how many runs. */
export async function pruneJournal(config: HistoryConfig, clock: Clock = systemClock): Promise<number> {
  const cutoff = new Date(clock.now().getTime() - config.retentionDays * 24 * 3600 * 1000);
  return runJournal(config.storage).prune(cutoff);
}

// ---------------------------------------------------------------------------------------------
// Session pools and fan-out (issue 14)

function newPool(
  config: Config,
  runtime: Runtime,
  powerShell: FoundPowerShell,
  callTimeoutMs: number,
): SessionPool {
  const env = runtime.env;
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
  const env = runtime.env;
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

/** Queue mode needs storage; local folders cannot hold a queue. */
function queueStorage(storage: StorageConfig): Exclude<StorageConfig, { kind: 'local' }> {
  if (storage.kind === 'local') {
    throw new AppError('QueueStorageMissing', 'SWEEP_MODE=queue needs AzureWebJobsStorage', {
      hint: 'set AzureWebJobsStorage (or its identity-based __blobServiceUri, __queueServiceUri and __tableServiceUri), or SWEEP_MODE=inline',
    });
  }
  return storage;
}

function pendingRuns(config: Config): PendingRuns {
  const staleAfterMs = (MESSAGE_TTL_SECONDS + 3600) * 1000;
  const storage = queueStorage(config.storage);
  return storage.kind === 'connectionString'
    ? new TablePendingRuns({ connectionString: storage.connectionString.reveal(), staleAfterMs })
    : new TablePendingRuns({
        tableServiceUri: storage.tableServiceUri,
        credential: storageCredential(storage),
        staleAfterMs,
      });
}

function runQueue(config: Config, queue?: string): StorageQueue {
  const storage = queueStorage(config.storage);
  return storage.kind === 'connectionString'
    ? new StorageQueue({ connectionString: storage.connectionString.reveal(), ...(queue ? { queue } : {}) })
    : new StorageQueue({
        queueServiceUri: storage.queueServiceUri,
        credential: storageCredential(storage),
        ...(queue ? { queue } : {}),
      });
}

/** The timer in queue mode: one exo-runs message per waiting run (none for a run already pending). */
export async function fanOut(config: Config, runtime: Runtime): Promise<FanOutReport> {
  const deps = buildDependencies(config, runtime);
  return fanOutSweep(
    {
      workflowApi: deps.workflowApi,
      queue: runQueue(config),
      pending: pendingRuns(config),
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
  const run = parseQueuedRun(body);
  const pending = pendingRuns(config);
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
    // A run given up (bounded attempts) is final: its message must not be tried again.
    if (outcome?.outcome === 'failed' && outcome.gaveUp !== true) {
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
export async function reportPoisonedRun(config: Config, body: unknown, attempts: number): Promise<RunReport> {
  const run = parseQueuedRun(body);
  const pending = pendingRuns(config);
  const lastFailure = await pending.lastFailure(run.runId);
  // The mark goes: the next timer sweep may queue the run again, if it is still waiting.
  await pending.clear(run.runId);
  return poisonedRunReport(run, attempts, lastFailure);
}
