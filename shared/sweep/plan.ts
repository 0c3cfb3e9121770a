/**
 * Planning: from a run's person (untrusted) and the configured actions to a RunPlan, with no I/O.
 * Addresses are validated here, before anything reaches PowerShell; ExoActions.psm1 checks them
 * again on its side, so neither layer trusts the other with hostile input.
 */
import type { ActionName, PlannedAction, RunPlan, RunPolicy, WorkflowRun } from '../domain';
import type { Profile } from '../profiles';
import { addressProblem, quoteUntrusted } from '../addresses';
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
