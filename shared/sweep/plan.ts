/**
 * Planning: from a run's person (untrusted) and the configured actions to a RunPlan, with no I/O.
 * Addresses are validated here, before anything reaches PowerShell; ExoActions.psm1 checks them
 * again on its side, so neither layer trusts the other with hostile input.
 */
import type { ActionName, PlannedAction, RunPlan, RunPolicy, WorkflowRun } from '../ports';
import type { Profile } from '../profiles';
import { resolveRunOptions } from './runOptions';

export interface PlanOptions {
  actions: readonly ActionName[];
  autoMapping: boolean;
  /** Defaults: no shared leavers accepted, nobody protected. */
  policy?: RunPolicy;
  /** The workflow's profile: its actions, options and run variables (then `actions`/`autoMapping` are ignored). */
  profile?: Profile;
  /** Today, for the {leavingDate} placeholder when the run has no leaving date variable. */
  today?: Date;
}

const DEFAULT_POLICY: RunPolicy = { acceptSharedLeavers: false, protectedRecipients: [] };

/** `final`: retrying cannot fix this (a protected recipient, a manager who is the leaver). */
export type PlanResult = { ok: true; plan: RunPlan } | { ok: false; error: string; final?: boolean };

const MANAGER_ACTIONS: ReadonlySet<ActionName> = new Set([
  'grantManagerFullAccess',
  'grantManagerSendAs',
  'grantManagerSendOnBehalf',
]);

// Letters, marks and digits from any script (zoë.ångström@), plus the punctuation real tenants
// use in local parts (o'brien@, first+tag@). Everything PowerShell or OPATH treats specially
// ($ ` " ; | * { } ( ) and the typographic quotes) is outside this set.
const LOCAL_PART = /^[\p{L}\p{M}\p{N}_%+'-]+(\.[\p{L}\p{M}\p{N}_%+'-]+)*$/u;
const DOMAIN = /^([\p{L}\p{M}\p{N}]([\p{L}\p{M}\p{N}-]{0,61}[\p{L}\p{M}\p{N}])?\.)+[\p{L}\p{M}]{2,63}$/u;

/** Why an address is unusable, or undefined when it is a plausible mailbox address. */
export function addressProblem(address: string): string | undefined {
  if (address.length > 254) return 'is longer than 254 characters';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f-\u009f]/.test(address)) return 'contains control characters';
  // Exchange's side (.NET regular expressions) sees UTF-16 halves above U+FFFF; refuse them here too,
  // so Node and PowerShell agree on every address.
  if (/[\u{10000}-\u{10FFFF}]/u.test(address))
    return 'contains characters outside the Basic Multilingual Plane';
  const at = address.indexOf('@');
  if (at < 0 || at !== address.lastIndexOf('@')) return 'must contain exactly one @';
  const local = address.slice(0, at);
  const domain = address.slice(at + 1);
  if (local.length === 0 || local.length > 64 || !LOCAL_PART.test(local)) return 'has an invalid local part';
  if (!DOMAIN.test(domain)) return 'has an invalid domain';
  return undefined;
}

/** A short, safe rendering of untrusted text for error messages: no control characters, bounded length. */
export function quoteUntrusted(value: string): string {
  // eslint-disable-next-line no-control-regex
  const printable = value.replace(/[\u0000-\u001f\u007f-\u009f]/g, '�');
  return JSON.stringify(printable.length > 80 ? `${printable.slice(0, 80)}…` : printable);
}

export function planRun(run: WorkflowRun, options: PlanOptions): PlanResult {
  const rawEmail = run.person?.email;
  if (typeof rawEmail !== 'string' || rawEmail.trim() === '') {
    return { ok: false, error: 'the run has no person email (context.person.email is missing)' };
  }
  const mailbox = rawEmail.trim();
  const mailboxProblem = addressProblem(mailbox);
  if (mailboxProblem)
    return { ok: false, error: `the person's email ${quoteUntrusted(mailbox)} ${mailboxProblem}` };

  const rawManager = run.person?.lineManager?.email;
  let manager: string | undefined;
  if (typeof rawManager === 'string' && rawManager.trim() !== '') {
    manager = rawManager.trim();
    const managerProblem = addressProblem(manager);
    if (managerProblem) {
      return { ok: false, error: `the line manager's email ${quoteUntrusted(manager)} ${managerProblem}` };
    }
    if (manager.toLowerCase() === mailbox.toLowerCase()) {
      return {
        ok: false,
        error: 'the line manager is the leaver themself; fix the manager in SaaS Manager',
        final: true,
      };
    }
  }

  // The cheap half of the protected-recipient rule: the literal addresses. ExoActions checks the
  // resolved objects (aliases, and members of protected groups) before any change.
  const policy = options.policy ?? DEFAULT_POLICY;
  const isProtected = (address: string) =>
    policy.protectedRecipients.some((entry) => entry.toLowerCase() === address.toLowerCase());
  if (isProtected(mailbox)) {
    return {
      ok: false,
      error: `the leaver ${quoteUntrusted(mailbox)} is a protected recipient (EXO_PROTECTED_RECIPIENTS); no run may change it or grant to it, so nothing was changed`,
      final: true,
    };
  }
  if (manager !== undefined && isProtected(manager)) {
    return {
      ok: false,
      error: `the line manager ${quoteUntrusted(manager)} is a protected recipient (EXO_PROTECTED_RECIPIENTS); no run may grant to it, so nothing was changed`,
      final: true,
    };
  }

  if (!options.profile) {
    const actions: PlannedAction[] = options.actions.map((name) =>
      MANAGER_ACTIONS.has(name) && manager === undefined
        ? { name, skipReason: 'the person has no line manager in SaaS Manager' }
        : { name },
    );
    return {
      ok: true,
      plan: {
        runId: run.runId,
        mailbox,
        ...(manager === undefined ? {} : { manager }),
        actions,
        options: { autoMapping: options.autoMapping },
        policy,
      },
    };
  }

  // A profile: its actions in its order, its options with this run's variables applied.
  const resolved = resolveRunOptions(run, options.profile, {
    leaver: mailbox,
    ...(manager === undefined ? {} : { manager }),
    today: options.today ?? new Date(),
    isProtected,
  });
  if (!resolved.ok) return resolved;
  const actions: PlannedAction[] = options.profile.actions.map((name) => {
    const skip = resolved.skips[name];
    if (skip !== undefined) return { name, skipReason: skip };
    if (MANAGER_ACTIONS.has(name) && manager === undefined && resolved.delegate === undefined)
      return { name, skipReason: 'the person has no line manager in SaaS Manager' };
    if (name === 'forwardToManager' && manager === undefined && resolved.forwardTo === undefined)
      return { name, skipReason: 'the person has no line manager in SaaS Manager to forward to' };
    return { name };
  });
  return {
    ok: true,
    plan: {
      runId: run.runId,
      mailbox,
      ...(manager === undefined ? {} : { manager }),
      ...(resolved.forwardTo === undefined ? {} : { forwardTo: resolved.forwardTo }),
      ...(resolved.delegate === undefined ? {} : { delegate: resolved.delegate }),
      actions,
      options: resolved.options,
      policy,
    },
  };
}
