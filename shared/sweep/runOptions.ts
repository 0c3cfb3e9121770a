/**
 * One run's action options: the profile's, overridden by the run's own variables (the workflow's
 * form), with the auto-reply templates rendered. Pure, no I/O. Run variables are hostile input like
 * every person field: addresses pass the planner's address rule here (and ExoActions binds them to
 * exactly one UserMailbox by primary address, not protected), messages are length-capped and
 * HTML-encoded, numbers range-checked. A bad value fails the run with a message naming the variable.
 */
import type { ActionOptions, RunVariableValue, WorkflowRun } from '../domain';
import {
  DEFAULT_AUTO_REPLY,
  MAX_HOLD_DAYS,
  type Placeholder,
  type Profile,
  type RunVariableRole,
} from '../profiles';
import { addressProblem, quoteUntrusted } from '../addresses';

/** Longest auto-reply text a run variable may carry (before HTML encoding). */
export const MAX_MESSAGE_VARIABLE = 1000;

export type RunOptionsResult =
  | {
      ok: true;
      options: ActionOptions;
      forwardTo?: string;
      delegate?: string;
      /** Actions that cannot run for this person (e.g. a template needs a manager there is none of). */
      skips: Partial<Record<string, string>>;
    }
  /** `final`: the run's own values are wrong; retrying the same run cannot fix them. */
  | { ok: false; error: string; final: true };

/** HTML-encode text for an auto-reply (Exchange stores and shows them as HTML). */
export function htmlEncode(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

export function resolveRunOptions(
  run: WorkflowRun,
  profile: Profile,
  context: { leaver: string; manager?: string; today: Date; isProtected: (address: string) => boolean },
): RunOptionsResult {
  const { options } = profile;
  const variables = run.variables ?? {};
  const problem = (
    role: RunVariableRole,
    message: string,
    value?: unknown,
  ): { ok: false; error: string; final: true } => ({
    ok: false,
    final: true,
    error: `the run variable ${quoteUntrusted(profile.variables[role] ?? role)} (${role}) ${message}${value === undefined ? '' : ` (got ${quoteUntrusted(typeof value === 'string' ? value : JSON.stringify(value))})`}; nothing was changed`,
  });
  /** The variable's value, or undefined when the profile does not map it or the run left it empty. */
  const valueOf = (role: RunVariableRole): RunVariableValue | undefined => {
    const name = profile.variables[role];
    if (name === undefined) return undefined;
    const value = variables[name];
    if (value === null || value === undefined) return undefined;
    if (typeof value === 'string' && value.trim() === '') return undefined;
    return value;
  };
  const textOf = (role: RunVariableRole): string | { ok: false; error: string; final: true } | undefined => {
    const value = valueOf(role);
    if (value === undefined) return undefined;
    if (typeof value === 'object' && value !== null)
      return problem(role, `is a${value.unsupported === 'object' ? 'n object' : ' list'}, not a text value`);
    return String(value).trim();
  };

  const result: Extract<RunOptionsResult, { ok: true }> = {
    ok: true,
    options: { autoMapping: options.autoMapping },
    skips: {},
  };

  // Addresses: the same rule as the manager's, never the leaver, never a protected recipient.
  for (const role of ['forwardTo', 'delegateTo'] as const) {
    const text = textOf(role);
    if (text === undefined) continue;
    if (typeof text !== 'string') return text;
    const address = addressProblem(text);
    if (address) return problem(role, `is not a usable email address: it ${address}`, text);
    if (text.toLowerCase() === context.leaver.toLowerCase())
      return problem(role, 'is the leaver themself', text);
    if (context.isProtected(text))
      return problem(
        role,
        'is a protected recipient (EXO_PROTECTED_RECIPIENTS); no run may grant or forward to it',
        text,
      );
    if (role === 'forwardTo') result.forwardTo = text;
    else result.delegate = text;
  }

  let holdDays = options.holdDurationDays;
  const rawHold = valueOf('holdDays');
  if (rawHold !== undefined) {
    const text = typeof rawHold === 'object' ? '' : String(rawHold).trim();
    const days = /^\d{1,6}$/.test(text) ? Number(text) : NaN;
    if (!Number.isInteger(days) || days < 1 || days > MAX_HOLD_DAYS)
      return problem(
        'holdDays',
        `must be a whole number of days from 1 to ${MAX_HOLD_DAYS}`,
        typeof rawHold === 'object' ? '[not a number]' : rawHold,
      );
    holdDays = days;
  }

  let leavingDate = context.today.toISOString().slice(0, 10);
  const rawDate = textOf('leavingDate');
  if (rawDate !== undefined) {
    if (typeof rawDate !== 'string') return rawDate;
    if (!isIsoDate(rawDate)) return problem('leavingDate', 'must be a date written YYYY-MM-DD', rawDate);
    leavingDate = rawDate;
  }

  let message: string | undefined;
  const rawMessage = valueOf('autoReplyMessage');
  if (rawMessage !== undefined) {
    if (typeof rawMessage !== 'string') return problem('autoReplyMessage', 'must be text');
    const text = rawMessage.trim();
    if (text.length > MAX_MESSAGE_VARIABLE)
      return problem(
        'autoReplyMessage',
        `is longer than ${MAX_MESSAGE_VARIABLE} characters (${text.length})`,
      );
    // eslint-disable-next-line no-control-regex
    if (/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/.test(text))
      return problem('autoReplyMessage', 'contains control or bidirectional-override characters');
    message = htmlEncode(text).replace(/\r?\n/g, '<br>');
  }

  if (profile.actions.includes('setAutoReply')) {
    const person = run.person ?? {};
    const manager = person.lineManager;
    const hasManager = context.manager !== undefined;
    const values: Record<Placeholder, string | undefined> = {
      'leaver.name':
        person.name ?? [person.firstName, person.lastName].filter(Boolean).join(' ') ?? context.leaver,
      'leaver.firstName': person.firstName ?? person.name?.split(/\s+/)[0],
      'manager.name': hasManager ? (manager?.name ?? context.manager) : undefined,
      'manager.email': hasManager ? context.manager : undefined,
      leavingDate,
    };
    if (!values['leaver.name']) values['leaver.name'] = context.leaver;
    const render = (template: string | undefined): string | { missing: string } => {
      const chosen =
        template ?? (hasManager ? DEFAULT_AUTO_REPLY.internalMessage : DEFAULT_AUTO_REPLY.noManagerMessage);
      let missing: string | undefined;
      const text = chosen.replace(/\{([^{}]*)\}/g, (whole, name: string) => {
        const value = values[name as Placeholder];
        if (value === undefined) {
          missing ??= whole;
          return '';
        }
        return htmlEncode(value);
      });
      return missing === undefined ? text : { missing };
    };
    const internal = message ?? render(options.autoReply.internalMessage);
    const external =
      message ??
      render(
        options.autoReply.externalMessage ??
          (options.autoReply.internalMessage === undefined ? undefined : options.autoReply.internalMessage),
      );
    if (typeof internal !== 'string' || typeof external !== 'string') {
      const missing =
        typeof internal !== 'string' ? internal.missing : (external as { missing: string }).missing;
      result.skips.setAutoReply = `the auto-reply template uses ${missing}, and the person has no ${missing.startsWith('{manager') ? 'line manager' : 'value for it'} in SaaS Manager`;
    } else {
      result.options.autoReply = {
        internalMessage: internal,
        externalMessage: external,
        externalAudience: options.autoReply.externalAudience,
      };
    }
  }
  if (profile.actions.includes('forwardToManager'))
    result.options.deliverToMailboxAndForward = options.deliverToMailboxAndForward;
  if (profile.actions.includes('disableProtocols')) result.options.protocols = [...options.protocols];
  if (profile.actions.includes('disableInboxRules')) result.options.inboxRuleScope = options.inboxRuleScope;
  if (profile.actions.includes('cancelMeetings'))
    result.options.meetingWindowDays = options.meetingWindowDays;
  if (profile.actions.includes('litigationHold') && holdDays !== undefined)
    result.options.holdDurationDays = holdDays;
  return result;
}

function isIsoDate(text: string): boolean {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(text)) return false;
  const date = new Date(`${text}T00:00:00Z`);
  return !Number.isNaN(date.getTime()) && date.toISOString().slice(0, 10) === text;
}
