/**
 * RunRecords in a local folder, for the CLI on a machine without AzureWebJobsStorage: one folder
 * per run holding `run.json` (the record that pins the run's leaver and manager), so the journal of
 * a later issue can add a file per attempt next to it. Creation is atomic (a hard link that fails
 * when the record exists); a replace checks the content hash it read. Run claims keep two sweeps
 * on one machine off the same run, so no wider locking is needed.
 */
import { createHash, randomUUID } from 'node:crypto';
import { link, readFile, rename, unlink } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { AppError } from '../errors';
import type { RunRecords } from '../ports';
import type { RunRecord, StoredRunRecord } from '../domain';
import { writeInRunFolder } from './runFolder';

const SAFE_RUN_ID = /^[A-Za-z0-9_-]{1,64}$/;
const MAX_RECORD_BYTES = 64 * 1024;

/** Where the CLI keeps run records when EXO_RUN_RECORDS_DIR is not set. */
export function defaultRunRecordsDirectory(): string {
  return join(homedir(), '.exo-workflow-sync', 'runs');
}

export class FileRunRecords implements RunRecords {
  readonly directory: string;

  constructor(directory: string = defaultRunRecordsDirectory()) {
    this.directory = directory;
  }

  async get(runId: string): Promise<StoredRunRecord | undefined> {
    const path = this.recordPath(runId);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw fileError('read', runId, error);
    }
    if (text.length > MAX_RECORD_BYTES) throw invalid(runId);
    let record: RunRecord;
    try {
      record = JSON.parse(text) as RunRecord;
    } catch {
      throw invalid(runId);
    }
    if (record?.runId !== runId || typeof record.leaver?.guid !== 'string') throw invalid(runId);
    return { record, version: hash(text) };
  }

  async create(record: RunRecord): Promise<boolean> {
    const path = this.recordPath(record.runId);
    const temporary = await this.writeTemporary(record);
    try {
      await link(temporary, path);
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw fileError('write', record.runId, error);
    } finally {
      await unlink(temporary).catch(() => undefined);
    }
  }

  async replace(record: RunRecord, version: string): Promise<boolean> {
    const current = await this.get(record.runId);
    if (!current || current.version !== version) return false;
    const temporary = await this.writeTemporary(record);
    try {
      await rename(temporary, this.recordPath(record.runId));
      return true;
    } catch (error) {
      await unlink(temporary).catch(() => undefined);
      throw fileError('write', record.runId, error);
    }
  }

  private recordPath(runId: string): string {
    if (!SAFE_RUN_ID.test(runId))
      throw new AppError('RunIdInvalid', 'refusing a run record for an unusual run id');
    return join(this.directory, runId, 'run.json');
  }

  private async writeTemporary(record: RunRecord): Promise<string> {
    const folder = join(this.directory, record.runId);
    const temporary = join(folder, `.run.${process.pid}.${randomUUID()}.tmp`);
    try {
      await writeInRunFolder(folder, temporary, JSON.stringify(record, null, 2));
    } catch (error) {
      throw fileError('write', record.runId, error);
    }
    return temporary;
  }
}

function hash(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function invalid(runId: string): AppError {
  return new AppError('RunRecordInvalid', `the stored record of run ${runId} is not readable`, {
    hint: 'remove it only if you know who the run is about; the next attempt then pins the run again',
  });
}

function fileError(operation: string, runId: string, error: unknown): AppError {
  const code = (error as NodeJS.ErrnoException)?.code ?? 'unknown error';
  return new AppError(
    'RunRecordsUnavailable',
    `could not ${operation} the run record of run ${runId} (${code})`,
    {
      hint: 'check that EXO_RUN_RECORDS_DIR (default ~/.exo-workflow-sync/runs) is writable',
    },
  );
}
