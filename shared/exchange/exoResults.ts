/**
 * What crosses the PowerShell boundary, as plain data: the payloads Node sends ExoActions (the
 * certificate only inside the connect payload, which travels as a data line, never as command text)
 * and the parsing of what ExoActions answers into the domain's results. Pure code: no process.
 */
import type {
  ActionApplied,
  ActionLook,
  ActionName,
  ActionResult,
  ActionStatus,
  ExchangeApply,
  ExchangeConnection,
  ExchangeLook,
  ExchangeRunResult,
  JsonValue,
  PlannedChange,
  RecipientRef,
  ExchangeUndoApply,
  ExchangeUndoLook,
  RunPlan,
  RunSubjects,
  UndoPlan,
  UndoStatus,
  UndoStepApplied,
  UndoStepLook,
} from '../domain';
import { isRecord } from '../guards';

const STATUSES: ReadonlySet<string> = new Set<ActionStatus>([
  'done',
  'already',
  'failed',
  'skipped',
  'planned',
]);

export function connectPayload(connection: ExchangeConnection): Record<string, unknown> {
  if (connection.auth === 'certificate') {
    const { certificate } = connection;
    return {
      organization: connection.organization,
      auth: 'certificate',
      appId: connection.appId,
      certificate: {
        format: certificate.format,
        data: certificate.material.reveal().toString('base64'),
        password: certificate.password.reveal(),
      },
    };
  }
  return {
    organization: connection.organization,
    auth: 'managedIdentity',
    ...(connection.managedIdentityAccountId ? { accountId: connection.managedIdentityAccountId } : {}),
  };
}

/** What Invoke-ExoRunPlan and Get-ExoRunLook read: the validated plan, the admin's policy, the pins. */
export function planPayload(plan: RunPlan, whatIf: boolean): Record<string, unknown> {
  return {
    runId: plan.runId,
    mailbox: plan.mailbox,
    manager: plan.manager ?? null,
    actions: plan.actions.map((action) =>
      action.skipReason === undefined
        ? { name: action.name }
        : { name: action.name, skipReason: action.skipReason },
    ),
    // Every action's options for this run (rendered auto-reply, protocols, windows, hold); plain JSON.
    options: { ...plan.options },
    forwardTo: plan.forwardTo ?? null,
    delegate: plan.delegate ?? null,
    policy: {
      acceptSharedLeavers: plan.policy?.acceptSharedLeavers ?? false,
      protected: [...(plan.policy?.protectedRecipients ?? [])],
    },
    pinned: plan.pinned
      ? {
          leaver: { guid: plan.pinned.leaver.guid },
          manager: plan.pinned.manager ? { guid: plan.pinned.manager.guid } : null,
        }
      : null,
    whatIf,
  };
}

/** The leaver and manager as ExoActions reported them, or undefined when the answer has none. */
export function subjectsOf(value: unknown): RunSubjects | undefined {
  if (!isRecord(value)) return undefined;
  const leaver = recipientOf(value.leaver);
  if (!leaver) return undefined;
  const manager = recipientOf(value.manager);
  return manager ? { leaver, manager } : { leaver };
}

export function recipientOf(value: unknown): RecipientRef | undefined {
  if (!isRecord(value)) return undefined;
  const text = (key: string, max: number) => (typeof value[key] === 'string' ? redact(value[key], max) : '');
  const guid = text('guid', 40);
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(guid)) return undefined;
  return {
    guid: guid.toLowerCase(),
    address: text('address', 254),
    displayName: text('displayName', 120),
    type: text('type', 60),
  };
}

export function actionResults(plan: RunPlan, reported: unknown): ActionResult[] {
  const entries = Array.isArray(reported) ? reported.filter(isRecord) : [];
  return plan.actions.map((planned) => {
    const entry = entries.find((candidate) => candidate.name === planned.name);
    if (!entry)
      return {
        name: planned.name,
        status: 'failed',
        detail: 'PowerShell returned no result for this action.',
      };
    const known = typeof entry.status === 'string' && STATUSES.has(entry.status);
    const result: ActionResult = {
      name: planned.name,
      status: known ? (entry.status as ActionStatus) : 'failed',
    };
    const detail = known ? entry.detail : `PowerShell returned an unknown status for this action.`;
    if (typeof detail === 'string' && detail.length > 0) result.detail = detail;
    const cmdlets = strings(entry.cmdlets);
    if (cmdlets.length > 0) result.cmdlets = cmdlets;
    const warnings = strings(entry.warnings);
    if (warnings.length > 0) result.warnings = warnings;
    return result;
  });
}

/** The look's answer: per action status, detail, cmdlets, before-image and planned changes. */
export function lookOf(plan: RunPlan, value: Record<string, unknown>): ExchangeLook {
  const entries = Array.isArray(value.actions) ? value.actions.filter(isRecord) : [];
  const actions: ActionLook[] = actionResults(plan, value.actions).map((result) => {
    const entry = entries.find((candidate) => candidate.name === result.name);
    const look: ActionLook = { ...result };
    if (entry && entry.before !== undefined && entry.before !== null) look.before = plainJson(entry.before);
    const changes = (Array.isArray(entry?.changes) ? entry.changes : [])
      .filter(isRecord)
      .map((change): PlannedChange => ({
        cmdlet: typeof change.cmdlet === 'string' ? change.cmdlet : '',
        parameters: isRecord(change.parameters)
          ? (plainJson(change.parameters) as Record<string, JsonValue>)
          : {},
        line: typeof change.line === 'string' ? change.line : '',
      }));
    if (changes.length > 0) look.changes = changes;
    return look;
  });
  const subjects = subjectsOf(value.subjects);
  const refusal =
    typeof value.refusal === 'string' && value.refusal !== '' ? redact(value.refusal, 1000) : '';
  return {
    actions,
    cmdletCalls: typeof value.cmdletCalls === 'number' ? value.cmdletCalls : 0,
    ...(subjects ? { subjects } : {}),
    ...(refusal ? { refusal, refusalFinal: value.refusalFinal === true } : {}),
    ...(typeof value.lookId === 'string' && /^[0-9a-f-]{36}$/i.test(value.lookId)
      ? { lookId: value.lookId }
      : {}),
  };
}

export function appliedOf(value: Record<string, unknown>): ExchangeApply {
  const entries = Array.isArray(value.actions) ? value.actions.filter(isRecord) : [];
  const actions = entries.map((entry): ActionApplied => {
    const known = typeof entry.status === 'string' && STATUSES.has(entry.status);
    const applied: ActionApplied = {
      name: String(entry.name) as ActionName,
      status: known ? (entry.status as ActionStatus) : 'failed',
    };
    const detail = known ? entry.detail : 'PowerShell returned an unknown status for this action.';
    if (typeof detail === 'string' && detail.length > 0) applied.detail = detail;
    const cmdlets = strings(entry.cmdlets);
    if (cmdlets.length > 0) applied.cmdlets = cmdlets;
    const warnings = strings(entry.warnings);
    if (warnings.length > 0) applied.warnings = warnings;
    if (entry.after !== undefined && entry.after !== null) applied.after = plainJson(entry.after);
    return applied;
  });
  return { actions, cmdletCalls: typeof value.cmdletCalls === 'number' ? value.cmdletCalls : 0 };
}

/** A bounded, JSON-plain copy of what PowerShell sent (strings redacted like every other answer). */
export function plainJson(value: unknown, depth = 0): JsonValue {
  if (depth > 12) return '[too deep]';
  if (value === null || value === undefined) return null;
  if (typeof value === 'string') return redact(value, 1000);
  if (typeof value === 'number' || typeof value === 'boolean') return value;
  if (Array.isArray(value)) return value.slice(0, 5000).map((item) => plainJson(item, depth + 1));
  if (isRecord(value)) {
    const out: Record<string, JsonValue> = {};
    for (const [key, item] of Object.entries(value).slice(0, 200))
      out[key.slice(0, 100)] = plainJson(item, depth + 1);
    return out;
  }
  return null;
}

/** Every action that was to run is failed with the reason; policy skips stay skipped. */
export function failedRun(plan: RunPlan, reason: string): ExchangeRunResult {
  return {
    actions: plan.actions.map((action) =>
      action.skipReason === undefined
        ? { name: action.name, status: 'failed', detail: reason }
        : { name: action.name, status: 'skipped', detail: action.skipReason },
    ),
    cmdletCalls: 0,
  };
}

export function errorOf(value: Record<string, unknown>): { code: string; message: string } {
  const error = isRecord(value.error) ? value.error : {};
  return {
    code: typeof error.code === 'string' ? error.code : 'Unknown',
    message: typeof error.message === 'string' ? redact(error.message, 1000) : 'no message',
  };
}

export function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : [];
}

/**
 * Text from PowerShell or the process, made safe for logs and errors: long base64 runs (which could
 * only be a payload echoed back) are removed, control characters flattened, length bounded.
 */
export function redact(text: string, max = 500): string {
  const cleaned = text
    // Hex runs (thumbprints) are kept: they identify a certificate without revealing it.
    .replace(/[A-Za-z0-9+/=]{40,}/g, (run) => (/^[0-9A-Fa-f]+$/.test(run) ? run : '[redacted]'))
    // eslint-disable-next-line no-control-regex
    .replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ')
    .trim();
  return cleaned.length > max ? `${cleaned.slice(0, max)}…` : cleaned;
}

// ---------------------------------------------------------------------------------------------
// Undo (issue 17)

const UNDO_STATUSES: ReadonlySet<string> = new Set<UndoStatus>([
  'planned',
  'done',
  'already',
  'drift',
  'failed',
  'skipped',
]);

/** What Get-ExoUndoLook reads: the journal's images per step (reverse order) and the switches. */
export function undoPayload(plan: UndoPlan, whatIf: boolean): Record<string, unknown> {
  return {
    runId: plan.undoId,
    force: plan.force,
    whatIf,
    steps: plan.steps.map((step) => ({ action: step.action, before: step.before, after: step.after })),
    labels: { ...(plan.labels ?? {}) },
  };
}

function undoEntry(entry: Record<string, unknown>, fallback: ActionName): UndoStepApplied {
  const known = typeof entry.status === 'string' && UNDO_STATUSES.has(entry.status);
  const step: UndoStepApplied = {
    action: typeof entry.name === 'string' ? (entry.name as ActionName) : fallback,
    status: known ? (entry.status as UndoStatus) : 'failed',
  };
  const detail = known ? entry.detail : 'PowerShell returned an unknown status for this step.';
  if (typeof detail === 'string' && detail.length > 0) step.detail = redact(detail, 2000);
  const cmdlets = strings(entry.cmdlets);
  if (cmdlets.length > 0) step.cmdlets = cmdlets;
  const warnings = strings(entry.warnings);
  if (warnings.length > 0) step.warnings = warnings;
  return step;
}

/** The undo look's answer, one entry per step in the plan's order. */
export function undoLookOf(plan: UndoPlan, value: Record<string, unknown>): ExchangeUndoLook {
  const entries = Array.isArray(value.actions) ? value.actions.filter(isRecord) : [];
  const steps = plan.steps.map((planned, index): UndoStepLook => {
    const entry = entries[index];
    if (!entry || entry.name !== planned.action)
      return {
        action: planned.action,
        status: 'failed',
        detail: 'PowerShell returned no result for this step.',
      };
    const look: UndoStepLook = undoEntry(entry, planned.action);
    if (entry.before !== undefined && entry.before !== null) look.current = plainJson(entry.before);
    const changes = (Array.isArray(entry.changes) ? entry.changes : [])
      .filter(isRecord)
      .map((change): PlannedChange => ({
        cmdlet: typeof change.cmdlet === 'string' ? change.cmdlet : '',
        parameters: isRecord(change.parameters)
          ? (plainJson(change.parameters) as Record<string, JsonValue>)
          : {},
        line: typeof change.line === 'string' ? change.line : '',
      }));
    if (changes.length > 0) look.changes = changes;
    return look;
  });
  return {
    steps,
    cmdletCalls: typeof value.cmdletCalls === 'number' ? value.cmdletCalls : 0,
    ...(typeof value.lookId === 'string' && /^[0-9a-f-]{36}$/i.test(value.lookId)
      ? { lookId: value.lookId }
      : {}),
  };
}

/** The undo apply's answer: one entry per planned step, in order. */
export function undoAppliedOf(value: Record<string, unknown>): ExchangeUndoApply {
  const entries = Array.isArray(value.actions) ? value.actions.filter(isRecord) : [];
  const steps = entries.map((entry) => {
    const step = undoEntry(entry, 'convertToShared');
    if (entry.after !== undefined && entry.after !== null) step.after = plainJson(entry.after);
    return step;
  });
  return { steps, cmdletCalls: typeof value.cmdletCalls === 'number' ? value.cmdletCalls : 0 };
}
