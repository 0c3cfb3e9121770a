/**
 * The composition root: the one file that knows every adapter. It turns a parsed Config into the
 * use cases' dependencies. Triggers and the CLI call `sweep`, `check` here; nothing else builds
 * adapters.
 *
 * Lifetimes: the certificate source and the run claims live as long as the worker process (so the
 * certificate is cached and leases are shared); the SaaS Manager client and the PowerShell session
 * are new for every sweep (one token, one pwsh process per sweep).
 */
import { hostname } from 'node:os';
import { BlobLeaseClaims } from './claims/blobLeaseClaims';
import { LockFileClaims } from './claims/lockFileClaims';
import { runChecks, type CheckResult } from './check/runChecks';
import { FileCertificateSource } from './certificates/fileCertificateSource';
import type { Config, HistoryConfig } from './config';
import { FileJournalRows } from './journal/fileJournalRows';
import { RowRunJournal } from './journal/runJournal';
import { findPowerShell } from './exchange/findPowerShell';
import { PowerShellExchangeShell } from './exchange/powerShellExchangeShell';
import { createAzureCredential } from './keyVault/credential';
import { KeyVaultCertificateSource } from './keyVault/keyVaultCertificateSource';
import type {
  CertificateSource,
  Clock,
  Logger,
  RunClaims,
  RunHistory,
  RunJournal,
  RunJournalState,
  RunRecords,
} from './ports';
import { defaultRunRecordsDirectory, FileRunRecords } from './runRecords/fileRunRecords';
import { TableJournalRows, TableRunRecords } from './runRecords/tableRunRecords';
import { SaasManagerClient } from './saasManager/saasManagerClient';
import type { SweepReport } from './sweep/report';
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
const journals = new Map<string, RunJournal>();

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
    profiles: config.profiles,
    maxAttempts: config.journal.maxAttempts,
    ...(config.journal.failureActionName ? { failureActionName: config.journal.failureActionName } : {}),
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

/** Where run records and the journal live: AzureWebJobsStorage's table, or a local folder. */
type StorageSettings = Pick<Config, 'storageConnection' | 'runRecordsDir'>;

function runRecords(config: StorageSettings, env: NodeJS.ProcessEnv): RunRecords {
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

/** The run journal next to the run records (same table and partition, or the same folder per run). */
function runJournal(config: StorageSettings, env: NodeJS.ProcessEnv): RunJournal {
  const blobServiceUri = env.AzureWebJobsStorage__blobServiceUri;
  const tableServiceUri =
    env.AzureWebJobsStorage__tableServiceUri ?? blobServiceUri?.replace('.blob.', '.table.');
  const key = config.storageConnection ?? tableServiceUri ?? `dir:${config.runRecordsDir ?? ''}`;
  let journal = journals.get(key);
  if (!journal) {
    const records = runRecords(config, env);
    if (config.storageConnection) {
      journal = new RowRunJournal(
        new TableJournalRows({ connectionString: config.storageConnection }),
        records,
      );
    } else if (tableServiceUri) {
      const clientId = env.AzureWebJobsStorage__clientId;
      const rows = new TableJournalRows({
        tableServiceUri,
        credential: createAzureCredential({
          credential: 'managedIdentity',
          ...(clientId ? { managedIdentityClientId: clientId } : {}),
        }),
      });
      journal = new RowRunJournal(rows, records);
    } else {
      journal = new RowRunJournal(
        new FileJournalRows(config.runRecordsDir ?? defaultRunRecordsDirectory()),
        records,
      );
    }
    journals.set(key, journal);
  }
  return journal;
}

function buildDependencies(config: Config, runtime: Runtime, deadline?: Date) {
  const env = runtime.env ?? process.env;
  const clock = runtime.clock ?? systemClock;
  const logger = runtime.logger;
  const powerShell = findPowerShell(env);
  const callTimeoutMs = Math.min(
    config.exchange.callTimeoutMs,
    runtime.maxCallTimeoutMs ?? Number.POSITIVE_INFINITY,
  );
  const certificates = certificateSource(config, logger, clock);
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
    exchange: new PowerShellExchangeShell({
      powerShell,
      exchangeAuth: config.exchange.auth,
      callTimeoutMs,
      // Starting and connecting get more time than one run's plan, unless a trigger caps every call.
      ...(runtime.maxCallTimeoutMs === undefined
        ? {}
        : { connectTimeoutMs: callTimeoutMs, startTimeoutMs: callTimeoutMs }),
      env,
      logger,
    }),
    ...(certificates ? { certificates } : {}),
    claims: runClaims(config, env, logger),
    runRecords: runRecords(config, env),
    journal: runJournal(config, env),
    host: hostname(),
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

/** The journal of one run (`history <runId>`, GET /api/runs/{runId}); undefined for an unknown run. */
export async function runHistory(
  config: HistoryConfig,
  runId: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<RunHistory | undefined> {
  return runJournal(config, env).read(runId);
}

/** Runs with journal activity since `since`, newest first (`history --since 7d`). */
export async function recentRuns(
  config: HistoryConfig,
  since: Date,
  env: NodeJS.ProcessEnv = process.env,
): Promise<RunJournalState[]> {
  return runJournal(config, env).list(since);
}

/** Remove journal entries older than EXO_JOURNAL_DAYS (the timer, after its sweep); answers how many runs. */
export async function pruneJournal(
  config: HistoryConfig,
  runtime: Pick<Runtime, 'env' | 'clock'> = {},
): Promise<number> {
  const now = (runtime.clock ?? systemClock).now();
  const cutoff = new Date(now.getTime() - config.retentionDays * 24 * 3600 * 1000);
  return runJournal(config, runtime.env ?? process.env).prune(cutoff);
}
