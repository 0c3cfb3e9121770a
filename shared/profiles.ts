/**
 * Profiles: which Exchange actions each workflow runs, with which options, and which SaaS Manager
 * run variables may override them per run. Read once at start from the JSON file EXO_PROFILES_PATH
 * names, checked by one schema, every problem reported at once with its JSON path. Without the
 * file, EXO_ACTIONS is every workflow's profile, with the defaults below.
 */
import { z } from 'zod';
import type { ActionName, ClientProtocol, ExternalAudience, InboxRuleScope } from './domain';

export const CATALOGUE_ACTIONS = [
  'hideFromAddressLists',
  'setAutoReply',
  'forwardToManager',
  'grantManagerSendOnBehalf',
  'disableProtocols',
  'removeMobileDevices',
  'disableInboxRules',
  'cancelMeetings',
  'litigationHold',
] as const satisfies readonly ActionName[];

export const CLIENT_PROTOCOLS = [
  'OWA',
  'ActiveSync',
  'POP',
  'IMAP',
  'EWS',
] as const satisfies readonly ClientProtocol[];
export const DEFAULT_PROTOCOLS: readonly ClientProtocol[] = ['OWA', 'ActiveSync', 'POP', 'IMAP'];

/** Placeholders a message template may use; anything else in braces is a configuration error. */
export const TEMPLATE_PLACEHOLDERS = [
  'leaver.name',
  'leaver.firstName',
  'manager.name',
  'manager.email',
  'leavingDate',
] as const;
export type Placeholder = (typeof TEMPLATE_PLACEHOLDERS)[number];

export const DEFAULT_AUTO_REPLY = {
  internalMessage:
    '{leaver.name} has left the organisation and this mailbox is no longer monitored. Please contact {manager.name} ({manager.email}) instead.',
  externalMessage:
    '{leaver.name} has left the organisation and this mailbox is no longer monitored. Please contact {manager.name} ({manager.email}) instead.',
  /** Used instead of the defaults above when the person has no line manager. */
  noManagerMessage: '{leaver.name} has left the organisation and this mailbox is no longer monitored.',
} as const;

export const MAX_TEMPLATE_LENGTH = 4000;
export const DEFAULT_MEETING_WINDOW_DAYS = 365;
export const MAX_MEETING_WINDOW_DAYS = 1825;
export const MAX_HOLD_DAYS = 36500;

/** Run variables a profile can map to SaaS Manager variable names, and the actions they override. */
export const RUN_VARIABLES = {
  forwardTo: ['forwardToManager'],
  delegateTo: ['grantManagerFullAccess', 'grantManagerSendAs', 'grantManagerSendOnBehalf'],
  autoReplyMessage: ['setAutoReply'],
  holdDays: ['litigationHold'],
  leavingDate: ['setAutoReply'],
} as const satisfies Record<string, readonly ActionName[]>;
export type RunVariableRole = keyof typeof RUN_VARIABLES;

/** The options of a profile's actions, before a run's variables apply (templates not yet rendered). */
export interface ProfileOptions {
  autoMapping: boolean;
  autoReply: {
    /** Absent: the default template (which has a variant for a person without a manager). */
    internalMessage?: string;
    externalMessage?: string;
    externalAudience: ExternalAudience;
  };
  deliverToMailboxAndForward: boolean;
  protocols: ClientProtocol[];
  inboxRuleScope: InboxRuleScope;
  meetingWindowDays: number;
  /** Absent: an unlimited hold. */
  holdDurationDays?: number;
}

export interface Profile {
  /** Where it came from, for `check` and messages: 'EXO_ACTIONS' or the profile file. */
  source: string;
  /** In the order they run. */
  actions: ActionName[];
  options: ProfileOptions;
  /** Run variable role -> SaaS Manager variable name. */
  variables: Partial<Record<RunVariableRole, string>>;
  /**
   * Expiring delegation (issue 17): the FullAccess, SendAs, SendOnBehalf and forwarding a run grants
   * are removed by the timer this many days later. Absent: they stay.
   */
  delegationDays?: number;
}

/** The actions whose grants `delegationDays` makes expire. */
export const EXPIRING_GRANTS: readonly ActionName[] = [
  'grantManagerFullAccess',
  'grantManagerSendAs',
  'grantManagerSendOnBehalf',
  'forwardToManager',
];
export const MAX_DELEGATION_DAYS = 3650;

export function defaultProfileOptions(autoMapping: boolean): ProfileOptions {
  return {
    autoMapping,
    autoReply: { externalAudience: 'All' },
    deliverToMailboxAndForward: true,
    protocols: [...DEFAULT_PROTOCOLS],
    inboxRuleScope: 'forwardingOrDeleting',
    meetingWindowDays: DEFAULT_MEETING_WINDOW_DAYS,
  };
}

/** The profile EXO_ACTIONS describes: the named actions, every option at its default. */
export function defaultProfile(actions: readonly ActionName[], autoMapping: boolean): Profile {
  return {
    source: 'EXO_ACTIONS',
    actions: [...actions],
    options: defaultProfileOptions(autoMapping),
    variables: {},
  };
}

/** Placeholders in a template that are not known, in order of appearance. */
export function unknownPlaceholders(template: string): string[] {
  const known: ReadonlySet<string> = new Set(TEMPLATE_PLACEHOLDERS);
  return [...template.matchAll(/\{([^{}]*)\}/g)]
    .map((match) => match[1] ?? '')
    .filter((name) => !known.has(name));
}

// ---------------------------------------------------------------------------------------------
// The file's schema

const template = z
  .string()
  .max(MAX_TEMPLATE_LENGTH, `must be at most ${MAX_TEMPLATE_LENGTH} characters`)
  .superRefine((text, context) => {
    for (const name of unknownPlaceholders(text)) {
      context.addIssue({
        code: 'custom',
        message: `uses the unknown placeholder {${name}} (known: ${TEMPLATE_PLACEHOLDERS.map((p) => `{${p}}`).join(', ')})`,
      });
    }
  });

const days = (max: number) =>
  z
    .number({ message: `must be a whole number of days from 1 to ${max}` })
    .int(`must be a whole number of days from 1 to ${max}`)
    .min(1, `must be a whole number of days from 1 to ${max}`)
    .max(max, `must be a whole number of days from 1 to ${max}`);

/** Each action's options (a strict object: an unknown option is reported). */
const ACTION_SCHEMAS: Record<ActionName, z.ZodType> = {
  convertToShared: z.strictObject({ name: z.literal('convertToShared') }),
  grantManagerFullAccess: z.strictObject({
    name: z.literal('grantManagerFullAccess'),
    autoMapping: z.boolean().optional(),
  }),
  grantManagerSendAs: z.strictObject({ name: z.literal('grantManagerSendAs') }),
  removeFromDistributionGroups: z.strictObject({ name: z.literal('removeFromDistributionGroups') }),
  hideFromAddressLists: z.strictObject({ name: z.literal('hideFromAddressLists') }),
  setAutoReply: z.strictObject({
    name: z.literal('setAutoReply'),
    internalMessage: template.optional(),
    externalMessage: template.optional(),
    externalAudience: z.enum(['None', 'Known', 'All']).optional(),
  }),
  forwardToManager: z.strictObject({
    name: z.literal('forwardToManager'),
    deliverToMailboxAndForward: z.boolean().optional(),
  }),
  grantManagerSendOnBehalf: z.strictObject({ name: z.literal('grantManagerSendOnBehalf') }),
  disableProtocols: z.strictObject({
    name: z.literal('disableProtocols'),
    protocols: z
      .array(z.enum(CLIENT_PROTOCOLS))
      .min(1, 'must name at least one protocol')
      .refine((list) => new Set(list).size === list.length, 'must not name a protocol twice')
      .optional(),
  }),
  removeMobileDevices: z.strictObject({ name: z.literal('removeMobileDevices') }),
  disableInboxRules: z.strictObject({
    name: z.literal('disableInboxRules'),
    scope: z.enum(['forwardingOrDeleting', 'all']).optional(),
  }),
  cancelMeetings: z.strictObject({
    name: z.literal('cancelMeetings'),
    queryWindowInDays: days(MAX_MEETING_WINDOW_DAYS).optional(),
  }),
  litigationHold: z.strictObject({
    name: z.literal('litigationHold'),
    durationDays: days(MAX_HOLD_DAYS).optional(),
  }),
};

const VARIABLE_NAME = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/;

const profileSchema = z.strictObject({
  description: z.string().optional(),
  delegationDays: days(MAX_DELEGATION_DAYS).optional(),
  actions: z.array(z.unknown()).min(1, 'must list at least one action'),
  variables: z
    .strictObject(
      Object.fromEntries(
        Object.keys(RUN_VARIABLES).map((role) => [
          role,
          z
            .string()
            .regex(VARIABLE_NAME, 'must be a SaaS Manager variable name (letters, digits, _ . -, at most 64)')
            .optional(),
        ]),
      ) as Record<RunVariableRole, z.ZodOptional<z.ZodString>>,
    )
    .optional(),
});

const fileSchema = z.strictObject({
  $schema: z.string().optional(),
  profiles: z.record(z.string().min(1, 'a workflow name must not be empty'), z.unknown()),
});

export type ProfilesResult =
  { ok: true; profiles: Record<string, Profile> } | { ok: false; problems: string[] };

/**
 * Check a parsed profile file and build one Profile per workflow. `workflowNames` (WORKFLOW_NAMES)
 * must each have a profile. Problems read "$.profiles["Leavers"].actions[2].protocols[0]: ...".
 */
export function parseProfiles(
  json: unknown,
  settings: { source: string; workflowNames: readonly string[]; autoMapping: boolean },
): ProfilesResult {
  const problems: string[] = [];
  const problem = (path: readonly PropertyKey[], message: string) =>
    problems.push(`${jsonPath(path)}: ${message}`);
  const parsed = fileSchema.safeParse(json, { reportInput: true });
  if (!parsed.success) for (const issue of parsed.error.issues) problem(issue.path, describe(issue));
  // The profiles are still checked when the top level is wrong (an unknown key): one message lists all.
  const entries = parsed.success
    ? parsed.data.profiles
    : isRecord(json) && isRecord(json.profiles)
      ? json.profiles
      : undefined;
  if (!entries) return { ok: false, problems };
  const profiles: Record<string, Profile> = {};
  for (const [workflow, value] of Object.entries(entries)) {
    const at = ['profiles', workflow];
    const shape = profileSchema.safeParse(value, { reportInput: true });
    if (!shape.success)
      for (const issue of shape.error.issues) problem([...at, ...issue.path], describe(issue));
    // Every action is still checked when another part of the profile is wrong: one message lists all.
    const raw = {
      actions: isRecord(value) && Array.isArray(value.actions) ? (value.actions as unknown[]) : [],
      variables: isRecord(value) && isRecord(value.variables) ? value.variables : undefined,
    };
    const options = defaultProfileOptions(settings.autoMapping);
    const actions: ActionName[] = [];
    raw.actions.forEach((entry, index) => {
      const path = [...at, 'actions', index];
      const object = typeof entry === 'string' ? { name: entry } : entry;
      const name = isRecord(object) ? object.name : undefined;
      if (typeof name !== 'string' || !Object.prototype.hasOwnProperty.call(ACTION_SCHEMAS, name)) {
        problem(
          typeof entry === 'string' || !isRecord(object) ? path : [...path, 'name'],
          typeof name === 'string'
            ? `unknown action ${JSON.stringify(name.slice(0, 60))} (known: ${Object.keys(ACTION_SCHEMAS).join(', ')})`
            : 'must be an action name or an object with "name"',
        );
        return;
      }
      const action = name as ActionName;
      if (actions.includes(action)) {
        problem(path, `lists ${action} twice`);
        return;
      }
      const checked = ACTION_SCHEMAS[action].safeParse(object, { reportInput: true });
      if (!checked.success) {
        for (const issue of checked.error.issues) problem([...path, ...issue.path], describe(issue));
        return;
      }
      actions.push(action);
      applyOptions(options, checked.data as Record<string, unknown>);
    });
    const variables: Partial<Record<RunVariableRole, string>> = {};
    for (const [role, variable] of Object.entries(raw.variables ?? {})) {
      // Wrong names and unknown roles were reported by the schema above.
      if (typeof variable !== 'string' || !VARIABLE_NAME.test(variable) || !(role in RUN_VARIABLES)) continue;
      const needs: readonly ActionName[] = RUN_VARIABLES[role as RunVariableRole];
      if (
        !needs.some((action) =>
          raw.actions.some((entry) => entry === action || (isRecord(entry) && entry.name === action)),
        )
      ) {
        problem(
          [...at, 'variables', role],
          `overrides ${needs.join(' / ')}, which this profile does not run`,
        );
        continue;
      }
      variables[role as RunVariableRole] = variable;
    }
    const delegationDays =
      isRecord(value) && shape.success && typeof value.delegationDays === 'number'
        ? value.delegationDays
        : undefined;
    profiles[workflow] = {
      source: settings.source,
      actions,
      options,
      variables,
      ...(delegationDays !== undefined ? { delegationDays } : {}),
    };
  }
  for (const workflow of settings.workflowNames) {
    if (
      !Object.prototype.hasOwnProperty.call(profiles, workflow) &&
      !problems.some((p) => p.startsWith(jsonPath(['profiles', workflow])))
    )
      problem(
        ['profiles'],
        `has no profile for the workflow ${JSON.stringify(workflow)} named in WORKFLOW_NAMES`,
      );
  }
  return problems.length > 0 ? { ok: false, problems } : { ok: true, profiles };
}

function applyOptions(options: ProfileOptions, entry: Record<string, unknown>): void {
  switch (entry.name) {
    case 'grantManagerFullAccess':
      if (typeof entry.autoMapping === 'boolean') options.autoMapping = entry.autoMapping;
      break;
    case 'setAutoReply':
      if (typeof entry.internalMessage === 'string')
        options.autoReply.internalMessage = entry.internalMessage;
      if (typeof entry.externalMessage === 'string')
        options.autoReply.externalMessage = entry.externalMessage;
      if (typeof entry.externalAudience === 'string')
        options.autoReply.externalAudience = entry.externalAudience as ExternalAudience;
      break;
    case 'forwardToManager':
      if (typeof entry.deliverToMailboxAndForward === 'boolean')
        options.deliverToMailboxAndForward = entry.deliverToMailboxAndForward;
      break;
    case 'disableProtocols':
      if (Array.isArray(entry.protocols)) options.protocols = entry.protocols as ClientProtocol[];
      break;
    case 'disableInboxRules':
      if (typeof entry.scope === 'string') options.inboxRuleScope = entry.scope as InboxRuleScope;
      break;
    case 'cancelMeetings':
      if (typeof entry.queryWindowInDays === 'number') options.meetingWindowDays = entry.queryWindowInDays;
      break;
    case 'litigationHold':
      if (typeof entry.durationDays === 'number') options.holdDurationDays = entry.durationDays;
      break;
  }
}

function describe(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') {
    return `unknown option${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}`;
  }
  if (issue.code === 'invalid_value' && 'values' in issue) {
    return `must be one of ${(issue.values as unknown[]).map(String).join(', ')}`;
  }
  if (issue.code === 'invalid_type') {
    // Our own messages (e.g. "must be a whole number of days") say it better than the type name.
    if (!issue.message.startsWith('Invalid input')) return issue.message;
    return issue.input === undefined
      ? 'is required'
      : `must be ${issue.expected === 'array' ? 'a list' : `a ${issue.expected}`}`;
  }
  return issue.message;
}

/** $.profiles["Terminate Users"].actions[2].name */
export function jsonPath(path: readonly PropertyKey[]): string {
  return (
    '$' +
    path
      .map((part) =>
        typeof part === 'number'
          ? `[${part}]`
          : typeof part === 'string' && /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(part)
            ? `.${part}`
            : `[${JSON.stringify(String(part))}]`,
      )
      .join('')
  );
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
