/**
 * The run journal over rows in the run's partition (PartitionKey = run id, next to the run record
 * at RowKey 'run'): one storage-neutral implementation, with Table Storage and a local folder as
 * row stores (JournalRows). Row keys:
 *
 *   state                        counters: attempts, failed attempts, last outcome, gave up
 *   attempt-0001                 start (sweep id, host), end (outcome, error, signalled)
 *   attempt-0001-action-01       the look (status, before-image, planned changes), written BEFORE
 *                                the change; the result (status, cmdlets, after-state) merged after it
 *   attempt-0001-signal-continue the signal POST ('requested' before it) and its answer
 *
 * A planned action whose row has no result therefore says: the change may or may not have run.
 * JSON values are stored as JSON text split over properties of at most 30,000 characters (Table
 * Storage caps a string property at 64 KiB).
 */
import { AppError } from '../errors';
import type { RunJournal, RunRecords } from '../ports';
import type {
  ActionHistory,
  AttemptEnd,
  AttemptHistory,
  AttemptStart,
  JournalLook,
  JournalResult,
  JournalSignal,
  JsonValue,
  RunHistory,
  RunJournalState,
} from '../domain';

export type RowValue = string | number | boolean;
export type Row = Record<string, RowValue>;

/** Where journal rows live: one partition per run. Implemented for Table Storage and a folder. */
export interface JournalRows {
  /** Write the row unless it exists; false when it does. */
  create(runId: string, rowKey: string, row: Row): Promise<boolean>;
  /** Write the row, replacing it. */
  upsert(runId: string, rowKey: string, row: Row): Promise<void>;
  /** Add or overwrite these properties of the row (creating it when missing). */
  merge(runId: string, rowKey: string, row: Row): Promise<void>;
  get(runId: string, rowKey: string): Promise<Row | undefined>;
  /** Every row of the run (the run record included), in row-key order. */
  partition(runId: string): Promise<Array<{ rowKey: string; row: Row }>>;
  /** The row `rowKey` of every run whose string property `property` is >= atLeast / < below. */
  rowsNamed(
    rowKey: string,
    where: { property: string; atLeast?: string; below?: string },
  ): Promise<Array<{ runId: string; row: Row }>>;
  /** Remove every row of the run. */
  deletePartition(runId: string): Promise<void>;
}

const STATE_ROW = 'state';
const CHUNK = 30_000;
const MAX_JSON = 600_000;
const MAX_ATTEMPT_NUMBER = 9999;

/** Attempts whose action rows this journal wrote (for recordResults); the oldest are forgotten. */
const MAX_REMEMBERED_ATTEMPTS = 512;

export class RowRunJournal implements RunJournal {
  /**
   * Per attempt this journal looked at: the action name of each row index it wrote. recordResults
   * finds its rows here instead of reading the run's whole partition back (on Table Storage a query
   * that returns every before-image again, once per run).
   */
  readonly #lookedActions = new Map<string, Map<number, string>>();

  constructor(
    private readonly rows: JournalRows,
    private readonly records?: RunRecords,
  ) {}

  async startAttempt(start: AttemptStart): Promise<number> {
    const state = await this.getState(start.runId);
    let attempt = (state?.attempts ?? 0) + 1;
    // Claims keep two sweeps off one run; a row left by a crashed attempt just moves the number on.
    for (let tries = 0; tries < 50 && attempt <= MAX_ATTEMPT_NUMBER; tries++, attempt++) {
      const row: Row = { kind: 'attempt', attempt, ...withoutUndefined(start) };
      if (await this.rows.create(start.runId, attemptKey(attempt), row)) return attempt;
    }
    throw new AppError('JournalUnavailable', `could not number a new attempt of run ${start.runId}`);
  }

  async recordLooks(runId: string, attempt: number, looks: readonly JournalLook[]): Promise<void> {
    const lookedAt = new Date().toISOString();
    const remembered = this.#remember(runId, attempt);
    for (const [index, look] of looks.entries()) {
      // Before the write: should it fail halfway, recordResults still finds the rows (or reads them).
      remembered.set(index + 1, look.name);
      await this.rows.upsert(runId, actionKey(attempt, index + 1), {
        kind: 'action',
        attempt,
        index: index + 1,
        name: look.name,
        status: look.status,
        lookedAt,
        ...(look.detail !== undefined ? { detail: look.detail } : {}),
        ...jsonProps('before', look.before),
        ...jsonProps('changes', look.changes as JsonValue | undefined),
      });
    }
  }

  async recordResults(runId: string, attempt: number, results: readonly JournalResult[]): Promise<void> {
    // Each name's lowest index, as the partition's row-key order would find it.
    const rememberedKeys = new Map<string, string>();
    const looked = [...(this.#lookedActions.get(journalKey(runId, attempt)) ?? [])].sort(([a], [b]) => a - b);
    for (const [index, name] of looked)
      if (!rememberedKeys.has(name)) rememberedKeys.set(name, actionKey(attempt, index));
    // Only a result this journal did not see looked at (another process's look) needs the partition.
    const rows = results.every((result) => rememberedKeys.has(result.name))
      ? undefined
      : await this.rows.partition(runId);
    const at = new Date().toISOString();
    for (const result of results) {
      const found = rows?.find(
        ({ rowKey, row }) => rowKey.startsWith(`${attemptKey(attempt)}-action-`) && row.name === result.name,
      );
      const key =
        rememberedKeys.get(result.name) ?? found?.rowKey ?? actionKey(attempt, 90 + (rows?.length ?? 0));
      await this.rows.merge(runId, key, {
        kind: 'action',
        attempt,
        name: result.name,
        resultStatus: result.status,
        resultAt: at,
        ...(result.detail !== undefined ? { resultDetail: result.detail } : {}),
        ...jsonProps('cmdlets', result.cmdlets),
        ...jsonProps('warnings', result.warnings),
        ...jsonProps('after', result.after),
        ...(result.expiresAt !== undefined ? { expiresAt: result.expiresAt } : {}),
      });
    }
  }

  async recordSignal(runId: string, attempt: number, signal: JournalSignal): Promise<void> {
    const { kind, ...rest } = signal;
    await this.rows.merge(runId, `${attemptKey(attempt)}-signal-${kind}`, {
      ...withoutUndefined(rest),
      kind: 'signal',
      signalKind: kind,
      attempt,
    });
  }

  async endAttempt(runId: string, attempt: number, end: AttemptEnd): Promise<void> {
    this.#lookedActions.delete(journalKey(runId, attempt));
    const { subjects, plan, ...rest } = end;
    await this.rows.merge(runId, attemptKey(attempt), {
      ...withoutUndefined(rest),
      ...jsonProps('subjects', subjects as JsonValue | undefined),
      ...jsonProps('plan', plan as unknown as JsonValue | undefined),
    });
  }

  async getState(runId: string): Promise<RunJournalState | undefined> {
    const row = await this.rows.get(runId, STATE_ROW);
    return row ? stateOf(runId, row) : undefined;
  }

  async putState(state: RunJournalState): Promise<void> {
    const { kind, ...rest } = state;
    await this.rows.upsert(state.runId, STATE_ROW, {
      kind: 'state',
      ...withoutUndefined(rest),
      ...(kind === 'undo' ? { journalKind: 'undo' } : {}),
    });
  }

  async read(runId: string): Promise<RunHistory | undefined> {
    const rows = await this.rows.partition(runId);
    const record = await this.records?.get(runId);
    if (rows.length === 0 && !record) return undefined;
    const attempts = new Map<number, AttemptHistory>();
    let state: RunJournalState | undefined;
    for (const { rowKey, row } of rows) {
      if (rowKey === STATE_ROW) state = stateOf(runId, row);
      else if (row.kind === 'attempt') attempts.set(Number(row.attempt), attemptOf(runId, row));
    }
    for (const { row } of rows) {
      const attempt = attempts.get(Number(row.attempt));
      if (!attempt) continue;
      if (row.kind === 'action') attempt.actions.push(actionOf(row));
      else if (row.kind === 'signal') attempt.signals.push(signalOf(row));
    }
    const ordered = [...attempts.values()].sort((a, b) => a.attempt - b.attempt);
    for (const attempt of ordered) {
      attempt.actions.sort((a, b) => a.index - b.index);
      for (const action of attempt.actions)
        if (action.status === 'planned' && !action.result) action.resultUnknown = true;
    }
    return {
      runId,
      ...(record ? { record: record.record } : {}),
      ...(state ? { state } : {}),
      attempts: ordered,
    };
  }

  async dueForExpiry(now: Date, limit: number): Promise<RunJournalState[]> {
    const found = await this.rows.rowsNamed(STATE_ROW, {
      property: 'nextExpiryAt',
      below: now.toISOString(),
    });
    return found
      .map(({ runId, row }) => stateOf(runId, row))
      .filter((state) => state.nextExpiryAt !== undefined && state.nextExpiryAt !== '')
      .sort((a, b) => (a.nextExpiryAt ?? '').localeCompare(b.nextExpiryAt ?? ''))
      .slice(0, limit);
  }

  async list(since: Date): Promise<RunJournalState[]> {
    const found = await this.rows.rowsNamed(STATE_ROW, {
      property: 'lastActivityAt',
      atLeast: since.toISOString(),
    });
    return found
      .map(({ runId, row }) => stateOf(runId, row))
      .sort((a, b) => b.lastActivityAt.localeCompare(a.lastActivityAt));
  }

  async prune(before: Date): Promise<number> {
    const cutoff = before.toISOString();
    const stale = new Set(
      (await this.rows.rowsNamed(STATE_ROW, { property: 'lastActivityAt', below: cutoff })).map(
        (r) => r.runId,
      ),
    );
    // Run records from before the journal existed (no state row) age by when they were pinned.
    for (const { runId } of await this.rows.rowsNamed('run', { property: 'pinnedAt', below: cutoff })) {
      if (!(await this.rows.get(runId, STATE_ROW))) stale.add(runId);
    }
    for (const runId of stale) await this.rows.deletePartition(runId);
    return stale.size;
  }

  #remember(runId: string, attempt: number): Map<number, string> {
    const key = journalKey(runId, attempt);
    let remembered = this.#lookedActions.get(key);
    if (!remembered) {
      if (this.#lookedActions.size >= MAX_REMEMBERED_ATTEMPTS)
        this.#lookedActions.delete(this.#lookedActions.keys().next().value as string);
      remembered = new Map();
      this.#lookedActions.set(key, remembered);
    }
    return remembered;
  }
}

// -------------------------------------------------------------------------------------------------

function journalKey(runId: string, attempt: number): string {
  return `${runId}/${attempt}`;
}

function attemptKey(attempt: number): string {
  return `attempt-${String(attempt).padStart(4, '0')}`;
}

function actionKey(attempt: number, index: number): string {
  return `${attemptKey(attempt)}-action-${String(index).padStart(2, '0')}`;
}

function withoutUndefined(value: object): Row {
  const row: Row = {};
  for (const [key, item] of Object.entries(value)) {
    if (typeof item === 'string' || typeof item === 'number' || typeof item === 'boolean') row[key] = item;
  }
  return row;
}

/** A JSON value as `<name>Json` (and `<name>Json1`, ...) text properties. */
export function jsonProps(name: string, value: JsonValue | undefined): Row {
  if (value === undefined) return {};
  let text = JSON.stringify(value);
  if (text.length > MAX_JSON) text = JSON.stringify({ truncated: true, length: text.length });
  const row: Row = {};
  for (let part = 0; part * CHUNK < text.length || part === 0; part++) {
    row[`${name}Json${part === 0 ? '' : part}`] = text.slice(part * CHUNK, (part + 1) * CHUNK);
  }
  return row;
}

export function readJson(row: Row, name: string): JsonValue | undefined {
  const first = row[`${name}Json`];
  if (typeof first !== 'string') return undefined;
  let text = first;
  for (let part = 1; typeof row[`${name}Json${part}`] === 'string'; part++) text += row[`${name}Json${part}`];
  try {
    return JSON.parse(text) as JsonValue;
  } catch {
    return { unreadable: true };
  }
}

const text = (row: Row, key: string): string | undefined =>
  typeof row[key] === 'string' ? row[key] : undefined;

function stateOf(runId: string, row: Row): RunJournalState {
  const state: RunJournalState = {
    runId,
    workflowId: text(row, 'workflowId') ?? '',
    workflowName: text(row, 'workflowName') ?? '',
    email: text(row, 'email') ?? '',
    attempts: Number(row.attempts ?? 0),
    failedAttempts: Number(row.failedAttempts ?? 0),
    lastActivityAt: text(row, 'lastActivityAt') ?? '',
  };
  const outcome = text(row, 'lastOutcome');
  if (outcome === 'completed' || outcome === 'failed' || outcome === 'skipped') state.lastOutcome = outcome;
  const lastError = text(row, 'lastError');
  if (lastError !== undefined) state.lastError = lastError;
  const gaveUpAt = text(row, 'gaveUpAt');
  if (gaveUpAt !== undefined) state.gaveUpAt = gaveUpAt;
  if (row.finalFailure === true) state.finalFailure = true;
  const failureSignalled = text(row, 'failureSignalled');
  if (failureSignalled === 'signalled' || failureSignalled === 'notWaiting')
    state.failureSignalled = failureSignalled;
  const nextExpiryAt = text(row, 'nextExpiryAt');
  if (nextExpiryAt !== undefined) state.nextExpiryAt = nextExpiryAt;
  if (text(row, 'journalKind') === 'undo') state.kind = 'undo';
  const undoOf = text(row, 'undoOf');
  if (undoOf !== undefined) state.undoOf = undoOf;
  return state;
}

function attemptOf(runId: string, row: Row): AttemptHistory {
  const attempt: AttemptHistory = {
    runId,
    attempt: Number(row.attempt),
    workflowId: text(row, 'workflowId') ?? '',
    workflowName: text(row, 'workflowName') ?? '',
    sweepId: text(row, 'sweepId') ?? '',
    host: text(row, 'host') ?? '',
    startedAt: text(row, 'startedAt') ?? '',
    email: text(row, 'email') ?? '',
    actions: [],
    signals: [],
  };
  if (text(row, 'purpose') === 'repair') attempt.purpose = 'repair';
  const endedAt = text(row, 'endedAt');
  const outcome = text(row, 'outcome');
  if (endedAt !== undefined && (outcome === 'completed' || outcome === 'failed' || outcome === 'skipped')) {
    const end: AttemptEnd = { endedAt, outcome, signalled: row.signalled === true };
    const error = text(row, 'error');
    if (error !== undefined) end.error = error;
    const detail = text(row, 'detail');
    if (detail !== undefined) end.detail = detail;
    if (row.gaveUp === true) end.gaveUp = true;
    const subjects = readJson(row, 'subjects');
    if (subjects && typeof subjects === 'object')
      end.subjects = subjects as unknown as AttemptEnd['subjects'];
    const plan = readJson(row, 'plan');
    if (plan && typeof plan === 'object' && !Array.isArray(plan) && Array.isArray(plan.actions))
      end.plan = plan as unknown as AttemptEnd['plan'];
    attempt.end = end;
  }
  return attempt;
}

function actionOf(row: Row): ActionHistory {
  const action: ActionHistory = {
    index: Number(row.index ?? 0),
    name: text(row, 'name') ?? '',
    status: (text(row, 'status') ?? 'failed') as ActionHistory['status'],
    lookedAt: text(row, 'lookedAt') ?? '',
  };
  const detail = text(row, 'detail');
  if (detail !== undefined) action.detail = detail;
  const before = readJson(row, 'before');
  if (before !== undefined) action.before = before;
  const changes = readJson(row, 'changes');
  if (Array.isArray(changes)) action.changes = changes as unknown as ActionHistory['changes'];
  const resultStatus = text(row, 'resultStatus');
  if (resultStatus !== undefined) {
    const result: NonNullable<ActionHistory['result']> = {
      name: action.name,
      status: resultStatus as ActionHistory['status'],
      at: text(row, 'resultAt') ?? '',
    };
    const resultDetail = text(row, 'resultDetail');
    if (resultDetail !== undefined) result.detail = resultDetail;
    const cmdlets = readJson(row, 'cmdlets');
    if (Array.isArray(cmdlets)) result.cmdlets = cmdlets.filter((c): c is string => typeof c === 'string');
    const warnings = readJson(row, 'warnings');
    if (Array.isArray(warnings)) result.warnings = warnings.filter((c): c is string => typeof c === 'string');
    const after = readJson(row, 'after');
    if (after !== undefined) result.after = after;
    const expiresAt = text(row, 'expiresAt');
    if (expiresAt !== undefined) result.expiresAt = expiresAt;
    action.result = result;
  }
  return action;
}

function signalOf(row: Row): JournalSignal {
  const signal: JournalSignal = {
    kind: text(row, 'signalKind') === 'failure' ? 'failure' : 'continue',
    action: text(row, 'action') ?? '',
    requestedAt: text(row, 'requestedAt') ?? '',
  };
  const answer = text(row, 'answer');
  if (answer === 'signalled' || answer === 'notWaiting' || answer === 'error') signal.answer = answer;
  for (const key of ['error', 'answeredAt', 'reason'] as const) {
    const value = text(row, key);
    if (value !== undefined) signal[key] = value;
  }
  return signal;
}
