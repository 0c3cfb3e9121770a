/**
 * RunRecords in Azure Table Storage, in the app's own storage account (AzureWebJobsStorage): one
 * partition per run (PartitionKey = run id), the record that pins the run's leaver and manager at
 * RowKey 'run'. The journal of every attempt and action (issue 16) adds rows to the same partition
 * (e.g. RowKey 'attempt-0001', 'attempt-0001-action-convertToShared'), so one query reads a run's
 * whole history. TableJournalRows below stores those journal rows (shared/journal/runJournal.ts).
 * This is the only file that imports @azure/data-tables.
 */
import { odata, RestError, TableClient, type TableEntity } from '@azure/data-tables';
import type { TokenCredential } from '@azure/core-auth';
import { AppError } from '../errors';
import type { JournalRows, Row } from '../journal/runJournal';
import type { PendingRuns, RunRecords } from '../ports';
import type { RecipientRef, RunRecord, StoredRunRecord } from '../domain';

export const RUN_RECORDS_TABLE = 'ExoWorkflowSyncRuns';
const RECORD_ROW = 'run';
const SCHEMA_VERSION = 1;
const SAFE_RUN_ID = /^[A-Za-z0-9_-]{1,64}$/;

export type TableRunRecordsOptions =
  | { connectionString: string; table?: string }
  | { tableServiceUri: string; credential: TokenCredential; table?: string };

type RecordEntity = TableEntity<Record<string, string | number>>;

/** The run table, from a connection string (Azurite, or an account key) or an endpoint and identity. */
function tableClientFor(options: TableRunRecordsOptions): TableClient {
  const table = options.table ?? RUN_RECORDS_TABLE;
  return 'connectionString' in options
    ? TableClient.fromConnectionString(options.connectionString, table, {
        // Azurite (local development, tests) speaks plain HTTP on loopback; Azure never does.
        allowInsecureConnection: isLocalEmulator(options.connectionString),
        retryOptions: { maxRetries: 2 },
      })
    : new TableClient(options.tableServiceUri, table, options.credential, {
        retryOptions: { maxRetries: 2 },
      });
}

export class TableRunRecords implements RunRecords {
  private readonly client: TableClient;
  private tableReady?: Promise<void>;

  constructor(options: TableRunRecordsOptions) {
    this.client = tableClientFor(options);
  }

  async get(runId: string): Promise<StoredRunRecord | undefined> {
    checkRunId(runId);
    await this.ready();
    try {
      const entity = await this.client.getEntity<Record<string, unknown>>(runId, RECORD_ROW);
      return { record: fromEntity(runId, entity), version: String(entity.etag) };
    } catch (error) {
      if (error instanceof RestError && error.statusCode === 404) return undefined;
      throw storageError('read', runId, error);
    }
  }

  async create(record: RunRecord): Promise<boolean> {
    checkRunId(record.runId);
    await this.ready();
    try {
      await this.client.createEntity(toEntity(record));
      return true;
    } catch (error) {
      if (error instanceof RestError && error.statusCode === 409) return false;
      throw storageError('write', record.runId, error);
    }
  }

  async replace(record: RunRecord, version: string): Promise<boolean> {
    checkRunId(record.runId);
    await this.ready();
    try {
      await this.client.updateEntity(toEntity(record), 'Replace', { etag: version });
      return true;
    } catch (error) {
      if (error instanceof RestError && (error.statusCode === 412 || error.statusCode === 404)) return false;
      throw storageError('write', record.runId, error);
    }
  }

  /** The table client, once the table exists (for the pending marks in the same partitions). */
  async tableClient(): Promise<TableClient> {
    await this.ready();
    return this.client;
  }

  private ready(): Promise<void> {
    // createTable tolerates an existing table; a failure is this run's failure and is tried again.
    this.tableReady ??= this.client.createTable().catch((error: unknown) => {
      this.tableReady = undefined;
      throw storageError('create the table for', undefined, error);
    });
    return this.tableReady;
  }
}

/** The run journal's rows (shared/journal/runJournal.ts) in the same table, one partition per run. */
export class TableJournalRows implements JournalRows {
  private readonly client: TableClient;
  private tableReady?: Promise<void>;

  constructor(options: TableRunRecordsOptions) {
    this.client = tableClientFor(options);
  }

  async create(runId: string, rowKey: string, row: Row): Promise<boolean> {
    await this.ready(runId);
    try {
      await this.client.createEntity({ ...row, partitionKey: runId, rowKey });
      return true;
    } catch (error) {
      if (error instanceof RestError && error.statusCode === 409) return false;
      throw journalError('write', runId, error);
    }
  }

  async upsert(runId: string, rowKey: string, row: Row): Promise<void> {
    await this.ready(runId);
    try {
      await this.client.upsertEntity({ ...row, partitionKey: runId, rowKey }, 'Replace');
    } catch (error) {
      throw journalError('write', runId, error);
    }
  }

  async merge(runId: string, rowKey: string, row: Row): Promise<void> {
    await this.ready(runId);
    try {
      await this.client.upsertEntity({ ...row, partitionKey: runId, rowKey }, 'Merge');
    } catch (error) {
      throw journalError('write', runId, error);
    }
  }

  async get(runId: string, rowKey: string): Promise<Row | undefined> {
    await this.ready(runId);
    try {
      return rowOf(await this.client.getEntity<Record<string, unknown>>(runId, rowKey));
    } catch (error) {
      if (error instanceof RestError && error.statusCode === 404) return undefined;
      throw journalError('read', runId, error);
    }
  }

  async partition(runId: string): Promise<Array<{ rowKey: string; row: Row }>> {
    await this.ready(runId);
    const rows: Array<{ rowKey: string; row: Row }> = [];
    try {
      const entities = this.client.listEntities<Record<string, unknown>>({
        queryOptions: { filter: odata`PartitionKey eq ${runId}` },
      });
      for await (const entity of entities) rows.push({ rowKey: String(entity.rowKey), row: rowOf(entity) });
    } catch (error) {
      throw journalError('read', runId, error);
    }
    return rows.sort((a, b) => (a.rowKey < b.rowKey ? -1 : a.rowKey > b.rowKey ? 1 : 0));
  }

  async rowsNamed(
    rowKey: string,
    where: { property: string; atLeast?: string; below?: string },
  ): Promise<Array<{ runId: string; row: Row }>> {
    await this.ready(undefined);
    if (!/^[A-Za-z]+$/.test(where.property)) throw new AppError('JournalInvalid', 'bad journal query');
    const clauses = [odata`RowKey eq ${rowKey}`];
    if (where.atLeast !== undefined) clauses.push(`${where.property} ge ${quoted(where.atLeast)}`);
    if (where.below !== undefined) clauses.push(`${where.property} lt ${quoted(where.below)}`);
    const found: Array<{ runId: string; row: Row }> = [];
    try {
      const entities = this.client.listEntities<Record<string, unknown>>({
        queryOptions: { filter: clauses.join(' and ') },
      });
      for await (const entity of entities)
        found.push({ runId: String(entity.partitionKey), row: rowOf(entity) });
    } catch (error) {
      throw journalError('read', undefined, error);
    }
    return found;
  }

  async deletePartition(runId: string): Promise<void> {
    for (const { rowKey } of await this.partition(runId)) {
      try {
        await this.client.deleteEntity(runId, rowKey);
      } catch (error) {
        if (error instanceof RestError && error.statusCode === 404) continue;
        throw journalError('delete', runId, error);
      }
    }
  }

  private ready(runId: string | undefined): Promise<void> {
    if (runId !== undefined) checkRunId(runId);
    this.tableReady ??= this.client.createTable().catch((error: unknown) => {
      this.tableReady = undefined;
      throw journalError('create the table for', undefined, error);
    });
    return this.tableReady;
  }
}

/** An OData string literal (a single quote is doubled). */
function quoted(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

const ENTITY_KEYS = new Set(['partitionKey', 'rowKey', 'etag', 'timestamp', 'odata.metadata']);

function rowOf(entity: Record<string, unknown>): Row {
  const row: Row = {};
  for (const [key, value] of Object.entries(entity)) {
    if (ENTITY_KEYS.has(key)) continue;
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean')
      row[key] = value;
  }
  return row;
}

function journalError(operation: string, runId: string | undefined, error: unknown): AppError {
  const status = error instanceof RestError ? error.statusCode : undefined;
  const code =
    error instanceof RestError && typeof error.code === 'string' ? error.code.slice(0, 60) : undefined;
  const what = [status, code].filter((part) => part !== undefined).join(' ') || 'no answer';
  return new AppError(
    'JournalUnavailable',
    `could not ${operation} the journal${runId ? ` of run ${runId}` : ''} in Table Storage (${what})`,
    { hint: 'the app needs Storage Table Data Contributor on its storage account (AzureWebJobsStorage)' },
  );
}

function toEntity(record: RunRecord): RecordEntity {
  return {
    partitionKey: record.runId,
    rowKey: RECORD_ROW,
    kind: 'run',
    schemaVersion: SCHEMA_VERSION,
    workflowId: record.workflowId,
    pinnedAt: record.pinnedAt,
    ...flatten('leaver', record.leaver),
    ...(record.manager ? flatten('manager', record.manager) : {}),
  };
}

function flatten(prefix: string, recipient: RecipientRef): Record<string, string> {
  return {
    [`${prefix}Guid`]: recipient.guid,
    [`${prefix}Address`]: recipient.address,
    [`${prefix}DisplayName`]: recipient.displayName,
    [`${prefix}Type`]: recipient.type,
  };
}

function fromEntity(runId: string, entity: Record<string, unknown>): RunRecord {
  const text = (key: string) => (typeof entity[key] === 'string' ? entity[key] : '');
  const recipient = (prefix: string): RecipientRef | undefined =>
    text(`${prefix}Guid`) === ''
      ? undefined
      : {
          guid: text(`${prefix}Guid`),
          address: text(`${prefix}Address`),
          displayName: text(`${prefix}DisplayName`),
          type: text(`${prefix}Type`),
        };
  const leaver = recipient('leaver');
  if (!leaver) throw new AppError('RunRecordInvalid', `the stored record of run ${runId} has no leaver`);
  const manager = recipient('manager');
  return {
    runId,
    workflowId: text('workflowId'),
    leaver,
    ...(manager ? { manager } : {}),
    pinnedAt: text('pinnedAt'),
  };
}

function checkRunId(runId: string): void {
  if (!SAFE_RUN_ID.test(runId))
    throw new AppError('RunIdInvalid', 'refusing a run record for an unusual run id');
}

/** Status and service code only: storage messages can quote request URLs. */
function storageError(operation: string, runId: string | undefined, error: unknown): AppError {
  const status = error instanceof RestError ? error.statusCode : undefined;
  const code =
    error instanceof RestError && typeof error.code === 'string' ? error.code.slice(0, 60) : undefined;
  const what = [status, code].filter((part) => part !== undefined).join(' ') || 'no answer';
  return new AppError(
    'RunRecordsUnavailable',
    `could not ${operation} the run record${runId ? ` of run ${runId}` : 's'} in Table Storage (${what})`,
    { hint: 'the app needs Storage Table Data Contributor on its storage account (AzureWebJobsStorage)' },
  );
}

function isLocalEmulator(connectionString: string): boolean {
  return (
    /UseDevelopmentStorage=true/i.test(connectionString) ||
    /TableEndpoint=http:\/\/(127\.0\.0\.1|localhost)[:/]/i.test(connectionString)
  );
}

// -------------------------------------------------------------------------------------------------
// Pending marks (issue 14): RowKey 'queued' in the run's partition while its queue message is pending

const PENDING_ROW = 'queued';

export type TablePendingRunsOptions = TableRunRecordsOptions & {
  /** A mark older than this is stale (its message expired or was lost) and may be replaced. */
  staleAfterMs: number;
  now?: () => Date;
};

export class TablePendingRuns implements PendingRuns {
  private readonly records: TableRunRecords;
  private readonly staleAfterMs: number;
  private readonly now: () => Date;

  constructor(options: TablePendingRunsOptions) {
    this.records = new TableRunRecords(options);
    this.staleAfterMs = options.staleAfterMs;
    this.now = options.now ?? (() => new Date());
  }

  async tryMark(runId: string): Promise<boolean> {
    checkRunId(runId);
    const client = await this.records.tableClient();
    const entity = {
      partitionKey: runId,
      rowKey: PENDING_ROW,
      kind: 'queued',
      markedAt: this.now().toISOString(),
    };
    try {
      await client.createEntity(entity);
      return true;
    } catch (error) {
      if (!(error instanceof RestError && error.statusCode === 409)) throw storageError('mark', runId, error);
    }
    try {
      const existing = await client.getEntity<Record<string, unknown>>(runId, PENDING_ROW);
      const markedAt = Date.parse(typeof existing.markedAt === 'string' ? existing.markedAt : '');
      if (Number.isFinite(markedAt) && this.now().getTime() - markedAt < this.staleAfterMs) return false;
      await client.updateEntity(entity, 'Replace', { etag: String(existing.etag) });
      return true;
    } catch (error) {
      if (error instanceof RestError && (error.statusCode === 412 || error.statusCode === 404)) return false;
      throw storageError('mark', runId, error);
    }
  }

  async noteFailure(runId: string, reason: string): Promise<void> {
    checkRunId(runId);
    const client = await this.records.tableClient();
    try {
      await client.updateEntity(
        { partitionKey: runId, rowKey: PENDING_ROW, lastFailure: reason.slice(0, 2000) },
        'Merge',
      );
    } catch (error) {
      if (error instanceof RestError && error.statusCode === 404) return;
      throw storageError('write', runId, error);
    }
  }

  async lastFailure(runId: string): Promise<string | undefined> {
    checkRunId(runId);
    const client = await this.records.tableClient();
    try {
      const entity = await client.getEntity<Record<string, unknown>>(runId, PENDING_ROW);
      return typeof entity.lastFailure === 'string' ? entity.lastFailure : undefined;
    } catch (error) {
      if (error instanceof RestError && error.statusCode === 404) return undefined;
      throw storageError('read', runId, error);
    }
  }

  async clear(runId: string): Promise<void> {
    checkRunId(runId);
    const client = await this.records.tableClient();
    try {
      await client.deleteEntity(runId, PENDING_ROW);
    } catch (error) {
      if (error instanceof RestError && error.statusCode === 404) return;
      throw storageError('write', runId, error);
    }
  }
}
