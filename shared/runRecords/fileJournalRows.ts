/**
 * Journal rows in a local folder, for the CLI without AzureWebJobsStorage: the same folder per run
 * as FileRunRecords (`<dir>/<runId>/run.json`), one JSON file per row next to it
 * (`state.json`, `attempt-0001.json`, `attempt-0001-action-01.json`, ...). Creation is atomic (a
 * hard link that fails when the row exists); every other write is a temporary file renamed into
 * place, so a crash never leaves half a row. Run claims keep two sweeps off one run.
 */
import { randomUUID } from 'node:crypto';
import { link, readdir, readFile, rename, rm, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { AppError } from '../errors';
import type { JournalRows, Row } from '../journal/runJournal';
import { writeInRunFolder } from './runFolder';

const SAFE_KEY = /^[A-Za-z0-9_-]{1,64}$/;
const MAX_ROW_BYTES = 2 * 1024 * 1024;

export class FileJournalRows implements JournalRows {
  constructor(readonly directory: string) {}

  async create(runId: string, rowKey: string, row: Row): Promise<boolean> {
    const temporary = await this.writeTemporary(runId, row);
    try {
      await link(temporary, this.path(runId, rowKey));
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw fileError('write', runId, error);
    } finally {
      await unlink(temporary).catch(() => undefined);
    }
  }

  async upsert(runId: string, rowKey: string, row: Row): Promise<void> {
    const temporary = await this.writeTemporary(runId, row);
    try {
      await rename(temporary, this.path(runId, rowKey));
    } catch (error) {
      await unlink(temporary).catch(() => undefined);
      throw fileError('write', runId, error);
    }
  }

  async merge(runId: string, rowKey: string, row: Row): Promise<void> {
    const current = (await this.get(runId, rowKey)) ?? {};
    await this.upsert(runId, rowKey, { ...current, ...row });
  }

  async get(runId: string, rowKey: string): Promise<Row | undefined> {
    return this.readRow(runId, this.path(runId, rowKey));
  }

  async partition(runId: string): Promise<Array<{ rowKey: string; row: Row }>> {
    this.path(runId, 'run');
    let names: string[];
    try {
      names = await readdir(join(this.directory, runId));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw fileError('read', runId, error);
    }
    const rows: Array<{ rowKey: string; row: Row }> = [];
    for (const name of names.filter((n) => n.endsWith('.json') && !n.startsWith('.')).sort()) {
      const row = await this.readRow(runId, join(this.directory, runId, name));
      if (row) rows.push({ rowKey: name.slice(0, -5), row });
    }
    return rows;
  }

  async rowsNamed(
    rowKey: string,
    where: { property: string; atLeast?: string; below?: string },
  ): Promise<Array<{ runId: string; row: Row }>> {
    let runIds: string[];
    try {
      runIds = (await readdir(this.directory)).filter((name) => SAFE_KEY.test(name));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw fileError('read', undefined, error);
    }
    const found: Array<{ runId: string; row: Row }> = [];
    for (const runId of runIds) {
      const row = await this.get(runId, rowKey).catch(() => undefined);
      const value = row?.[where.property];
      if (!row || typeof value !== 'string') continue;
      if (where.atLeast !== undefined && value < where.atLeast) continue;
      if (where.below !== undefined && value >= where.below) continue;
      found.push({ runId, row });
    }
    return found;
  }

  async deletePartition(runId: string): Promise<void> {
    this.path(runId, 'run');
    await rm(join(this.directory, runId), { recursive: true, force: true });
  }

  private path(runId: string, rowKey: string): string {
    if (!SAFE_KEY.test(runId) || !SAFE_KEY.test(rowKey))
      throw new AppError('RunIdInvalid', 'refusing a journal row for an unusual run id');
    return join(this.directory, runId, `${rowKey}.json`);
  }

  private async readRow(runId: string, path: string): Promise<Row | undefined> {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw fileError('read', runId, error);
    }
    if (text.length > MAX_ROW_BYTES) throw unreadable(runId);
    try {
      const value = JSON.parse(text) as unknown;
      if (typeof value !== 'object' || value === null || Array.isArray(value)) throw unreadable(runId);
      return value as Row;
    } catch {
      throw unreadable(runId);
    }
  }

  private async writeTemporary(runId: string, row: Row): Promise<string> {
    this.path(runId, 'run');
    const folder = join(this.directory, runId);
    const temporary = join(folder, `.row.${process.pid}.${randomUUID()}.tmp`);
    try {
      await writeInRunFolder(folder, temporary, JSON.stringify(row, null, 1));
    } catch (error) {
      throw fileError('write', runId, error);
    }
    return temporary;
  }
}

function unreadable(runId: string): AppError {
  return new AppError('JournalInvalid', `a journal row of run ${runId} is not readable`);
}

function fileError(operation: string, runId: string | undefined, error: unknown): AppError {
  const code = (error as NodeJS.ErrnoException)?.code ?? 'unknown error';
  return new AppError(
    'JournalUnavailable',
    `could not ${operation} the journal${runId ? ` of run ${runId}` : ''} (${code})`,
    { hint: 'check that EXO_RUN_RECORDS_DIR (default ~/.exo-workflow-sync/runs) is writable' },
  );
}
