/**
 * Configuration: every setting the product reads, parsed once by one schema. Empty strings count
 * as missing (Azure portal and local.settings.json both produce them), and every problem is
 * reported at once in a ConfigError that names the setting.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ConfigError } from './errors';
import type { ActionName } from './ports';
import { CATALOGUE_ACTIONS, defaultProfile, parseProfiles, type Profile } from './profiles';
import { Secret } from './secret';
import { addressProblem } from './sweep/plan';

/** The four basic actions: EXO_ACTIONS' default. */
export const BASIC_ACTIONS: readonly ActionName[] = [
  'convertToShared',
  'grantManagerFullAccess',
  'grantManagerSendAs',
  'removeFromDistributionGroups',
];

/** Every action, in the order EXO_ACTIONS runs them (a profile file orders its own). */
export const ALL_ACTIONS: readonly ActionName[] = [...BASIC_ACTIONS, ...CATALOGUE_ACTIONS];

/** The public settings table (README, Bicep and this schema are checked against each other by a test). */
export const SETTINGS = {
  TRELICA_BASE_URL: 'SaaS Manager host (https://eu.trelica.com in the EU)',
  TRELICA_CLIENT_ID: 'SaaS Manager API client id',
  TRELICA_CLIENT_SECRET: 'SaaS Manager API client secret (a Key Vault reference in Azure)',
  TRELICA_PAGE_SIZE: 'runs per page when listing waiting runs (1-1000)',
  WORKFLOW_NAMES: 'comma-separated workflow names',
  WORKFLOW_STEP_NAME: 'the Signal step that waits for us',
  WORKFLOW_ACTION_NAME: 'the action to POST when done',
  EXO_AUTH: 'certificate (app-only with a certificate) or managedIdentity',
  EXO_APP_ID: 'Entra app (client) id used with the certificate',
  EXO_ORGANIZATION: "the tenant's .onmicrosoft.com domain",
  EXO_MANAGED_IDENTITY_ID: 'client id of a user-assigned identity for EXO_AUTH=managedIdentity',
  EXO_ACTIONS: 'comma-separated Exchange actions to run for each leaver (the default profile)',
  EXO_AUTOMAPPING: 'add the shared mailbox to the manager’s Outlook (FullAccess -AutoMapping)',
  EXO_CALL_TIMEOUT_SECONDS: 'timeout for one PowerShell call (one run’s plan, or connecting)',
  EXO_ACCEPT_SHARED_LEAVERS:
    'accept a leaver whose mailbox is already shared when a run first sees it (converted by hand)',
  EXO_PROTECTED_RECIPIENTS:
    'comma-separated addresses no run may change or grant to; a group protects its direct members',
  EXO_RUN_RECORDS_DIR: 'local folder for run records when AzureWebJobsStorage is not set (CLI)',
  EXO_PROFILES_PATH: 'JSON file mapping each workflow to its actions, options and run variables',
  KEY_VAULT_URL: 'Key Vault holding the certificate (selects Key Vault mode)',
  EXO_CERTIFICATE_NAME: 'certificate name in Key Vault',
  KEY_VAULT_CREDENTIAL: 'managedIdentity or azureCli: how to authenticate to Key Vault',
  AZURE_CLIENT_ID: 'user-assigned managed identity client id (Key Vault)',
  EXO_CERTIFICATE_PATH: 'local PFX or PEM file (file mode, development)',
  EXO_CERTIFICATE_PASSWORD: 'password of the local PFX',
  DRY_RUN: 'plan only: no Exchange change, no signal',
  SWEEP_SCHEDULE: 'NCRONTAB (six fields) for the timer',
  HTTP_SWEEP_BUDGET_SECONDS: 'time an HTTP-triggered sweep may spend before it answers',
  AzureWebJobsStorage: 'Functions storage; also holds the run claims (blob leases) and run records (table)',
  EXO_MAX_ATTEMPTS: 'failed attempts after which a run is given up (not retried silently any more)',
  WORKFLOW_FAILURE_ACTION_NAME:
    'the action to POST when a run is given up (e.g. Failed); unset: the run stays waiting',
  EXO_JOURNAL_DAYS: 'days the run journal keeps a run after its last activity (pruned by the timer)',
} as const;

export type SettingName = keyof typeof SETTINGS;

export const DEFAULTS = {
  TRELICA_BASE_URL: 'https://app.trelica.com',
  TRELICA_PAGE_SIZE: '100',
  WORKFLOW_NAMES: 'Terminate Users',
  WORKFLOW_STEP_NAME: 'Signal',
  WORKFLOW_ACTION_NAME: 'Continue',
  EXO_AUTH: 'certificate',
  EXO_ACTIONS: BASIC_ACTIONS.join(','),
  EXO_AUTOMAPPING: 'true',
  EXO_CALL_TIMEOUT_SECONDS: '120',
  EXO_ACCEPT_SHARED_LEAVERS: 'false',
  EXO_CERTIFICATE_NAME: 'exo-app-only',
  DRY_RUN: 'false',
  SWEEP_SCHEDULE: '0 0 * * * *',
  HTTP_SWEEP_BUDGET_SECONDS: '200',
  EXO_MAX_ATTEMPTS: '5',
  EXO_JOURNAL_DAYS: '400',
} as const satisfies Partial<Record<SettingName, string>>;

export type CertificateConfig =
  | {
      kind: 'keyVault';
      vaultUrl: string;
      name: string;
      credential: 'managedIdentity' | 'azureCli';
      managedIdentityClientId?: string;
    }
  | { kind: 'file'; path: string; password: Secret<string> };

export interface Config {
  trelica: { baseUrl: string; clientId: string; clientSecret: Secret<string>; pageSize: number };
  workflows: { names: string[]; stepName: string; actionName: string };
  exchange: {
    organization: string;
    auth: 'certificate' | 'managedIdentity';
    appId?: string;
    managedIdentityAccountId?: string;
    actions: ActionName[];
    autoMapping: boolean;
    callTimeoutMs: number;
    acceptSharedLeavers: boolean;
    /** Lower-cased addresses. */
    protectedRecipients: string[];
  };
  /** Each workflow's actions and options: from EXO_PROFILES_PATH, or EXO_ACTIONS for every workflow. */
  profiles: Record<string, Profile>;
  /** EXO_PROFILES_PATH, when a profile file is used. */
  profilesPath?: string;
  /** Absent in managed-identity mode: Exchange then needs no certificate. */
  certificate?: CertificateConfig;
  dryRun: boolean;
  schedule: string;
  httpBudgetMs: number;
  /** AzureWebJobsStorage: when set, run claims are blob leases and run records a table there; else local folders. */
  storageConnection?: string;
  /** EXO_RUN_RECORDS_DIR: the local run-record folder (without storage). */
  runRecordsDir?: string;
  /** Bounded attempts and the run journal (issue 16). */
  journal: JournalConfig;
}

export interface JournalConfig {
  /** EXO_MAX_ATTEMPTS: failed attempts after which a run is given up. */
  maxAttempts: number;
  /** WORKFLOW_FAILURE_ACTION_NAME: the action POSTed when a run is given up, if any. */
  failureActionName?: string;
  /** EXO_JOURNAL_DAYS: retention after a run's last activity. */
  retentionDays: number;
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const ONMICROSOFT = /^[a-z0-9][a-z0-9-]{0,62}\.onmicrosoft\.(com|us|de|cn)$/i;
const NCRONTAB_FIELD = /^[0-9*/,\-A-Za-z]+$/;

const optional = z.preprocess(
  (value) => (typeof value === 'string' && value.trim() === '' ? undefined : value),
  z.string().trim().optional(),
);

function withDefault(name: keyof typeof DEFAULTS) {
  return z.preprocess(
    (value) => (typeof value === 'string' && value.trim() !== '' ? value : DEFAULTS[name]),
    z.string().trim(),
  );
}

const booleanSetting = (name: keyof typeof DEFAULTS) =>
  withDefault(name).pipe(
    z
      .string()
      .toLowerCase()
      .refine((v) => ['true', 'false', '1', '0', 'yes', 'no'].includes(v), 'must be true or false')
      .transform((v) => v === 'true' || v === '1' || v === 'yes'),
  );

const integerSetting = (name: keyof typeof DEFAULTS, min: number, max: number) =>
  withDefault(name).pipe(
    z
      .string()
      .regex(/^\d+$/, `must be a whole number from ${min} to ${max}`)
      .transform(Number)
      .refine((n) => n >= min && n <= max, `must be a whole number from ${min} to ${max}`),
  );

const httpsUrl = z
  .string()
  .refine((value) => {
    try {
      const url = new URL(value);
      return url.protocol === 'https:' || (url.protocol === 'http:' && isLoopback(url.hostname));
    } catch {
      return false;
    }
  }, 'must be an https:// URL')
  .transform((value) => value.replace(/\/+$/, ''));

const commaList = (name: keyof typeof DEFAULTS) =>
  withDefault(name).pipe(
    z
      .string()
      .transform((v) =>
        v
          .split(',')
          .map((item) => item.trim())
          .filter((item) => item !== ''),
      )
      .refine((items) => items.length > 0, 'must name at least one item'),
  );

const schema = z.object({
  TRELICA_BASE_URL: withDefault('TRELICA_BASE_URL').pipe(httpsUrl),
  TRELICA_CLIENT_ID: optional,
  TRELICA_CLIENT_SECRET: optional,
  TRELICA_PAGE_SIZE: integerSetting('TRELICA_PAGE_SIZE', 1, 1000),
  WORKFLOW_NAMES: commaList('WORKFLOW_NAMES'),
  WORKFLOW_STEP_NAME: withDefault('WORKFLOW_STEP_NAME'),
  WORKFLOW_ACTION_NAME: withDefault('WORKFLOW_ACTION_NAME'),
  EXO_AUTH: withDefault('EXO_AUTH').pipe(z.enum(['certificate', 'managedIdentity'])),
  EXO_APP_ID: optional,
  EXO_ORGANIZATION: optional,
  EXO_MANAGED_IDENTITY_ID: optional,
  EXO_ACTIONS: commaList('EXO_ACTIONS').pipe(z.array(z.enum(ALL_ACTIONS as [ActionName, ...ActionName[]]))),
  EXO_AUTOMAPPING: booleanSetting('EXO_AUTOMAPPING'),
  EXO_CALL_TIMEOUT_SECONDS: integerSetting('EXO_CALL_TIMEOUT_SECONDS', 5, 3600),
  EXO_ACCEPT_SHARED_LEAVERS: booleanSetting('EXO_ACCEPT_SHARED_LEAVERS'),
  EXO_PROTECTED_RECIPIENTS: optional.pipe(
    z
      .string()
      .optional()
      .transform((v) =>
        (v ?? '')
          .split(',')
          .map((item) => item.trim().toLowerCase())
          .filter((item) => item !== ''),
      )
      .superRefine((items, context) => {
        for (const item of items) {
          const problem = addressProblem(item);
          if (problem)
            context.addIssue({ code: 'custom', message: `lists "${truncate(item)}", which ${problem}` });
        }
      }),
  ),
  EXO_RUN_RECORDS_DIR: optional,
  EXO_PROFILES_PATH: optional,
  KEY_VAULT_URL: optional,
  EXO_CERTIFICATE_NAME: withDefault('EXO_CERTIFICATE_NAME'),
  KEY_VAULT_CREDENTIAL: optional,
  AZURE_CLIENT_ID: optional,
  EXO_CERTIFICATE_PATH: optional,
  EXO_CERTIFICATE_PASSWORD: optional,
  DRY_RUN: booleanSetting('DRY_RUN'),
  SWEEP_SCHEDULE: withDefault('SWEEP_SCHEDULE'),
  HTTP_SWEEP_BUDGET_SECONDS: integerSetting('HTTP_SWEEP_BUDGET_SECONDS', 10, 220),
  AzureWebJobsStorage: optional,
  EXO_MAX_ATTEMPTS: integerSetting('EXO_MAX_ATTEMPTS', 1, 100),
  WORKFLOW_FAILURE_ACTION_NAME: optional,
  EXO_JOURNAL_DAYS: integerSetting('EXO_JOURNAL_DAYS', 1, 3650),
  // Not settings of ours: tell where we run, to pick the Key Vault credential.
  IDENTITY_ENDPOINT: optional,
  WEBSITE_SITE_NAME: optional,
});

/** Settings whose values are never echoed in a problem, however wrong they are. */
const SECRET_VALUES: ReadonlySet<string> = new Set([
  'TRELICA_CLIENT_SECRET',
  'EXO_CERTIFICATE_PASSWORD',
  'AzureWebJobsStorage',
]);

/** ` (got "value")` for a bad value, so the admin sees which one is wrong; nothing for secrets. */
function got(setting: string, value: unknown): string {
  if (SECRET_VALUES.has(setting) || value === undefined || value === null) return '';
  const text = String(value);
  const shown = text.length > 60 ? `${text.slice(0, 60)}…` : text;
  // eslint-disable-next-line no-control-regex
  return ` (got ${JSON.stringify(shown.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?'))})`;
}

/**
 * Checks that involve more than one setting. They run on the raw values even when single-setting
 * checks failed, so one message lists every problem: an invalid EXO_AUTH is reported by the schema,
 * and the other settings are still checked, as for the default (certificate).
 */
function crossSettingProblems(raw: Record<string, string | undefined>): string[] {
  const env = Object.fromEntries(
    Object.entries(raw).map(([key, value]) => [
      key,
      typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined,
    ]),
  );
  const problems: string[] = [];
  const problem = (setting: string, message: string) => problems.push(`${setting} ${message}`);
  const invalid = (setting: string, message: string) =>
    problems.push(`${setting} ${message}${got(setting, env[setting])}`);
  if (!env.TRELICA_CLIENT_ID) problem('TRELICA_CLIENT_ID', 'is required');
  if (!env.TRELICA_CLIENT_SECRET) problem('TRELICA_CLIENT_SECRET', 'is required');
  if (!env.EXO_ORGANIZATION) problem('EXO_ORGANIZATION', 'is required (e.g. contoso.onmicrosoft.com)');
  else if (!ONMICROSOFT.test(env.EXO_ORGANIZATION))
    invalid(
      'EXO_ORGANIZATION',
      "must be the tenant's primary .onmicrosoft.com domain (e.g. contoso.onmicrosoft.com)",
    );
  if ((env.EXO_AUTH ?? DEFAULTS.EXO_AUTH) !== 'managedIdentity') {
    if (!env.EXO_APP_ID) problem('EXO_APP_ID', 'is required when EXO_AUTH=certificate');
    else if (!GUID.test(env.EXO_APP_ID))
      invalid('EXO_APP_ID', 'must be the Entra application (client) id, a GUID');
    if (env.KEY_VAULT_URL && env.EXO_CERTIFICATE_PATH)
      problem(
        'EXO_CERTIFICATE_PATH',
        'set either KEY_VAULT_URL (Key Vault mode) or EXO_CERTIFICATE_PATH (file mode), not both',
      );
    if (!env.KEY_VAULT_URL && !env.EXO_CERTIFICATE_PATH)
      problem(
        'KEY_VAULT_URL',
        'is required when EXO_AUTH=certificate (or EXO_CERTIFICATE_PATH for local development)',
      );
  }
  if (env.EXO_MANAGED_IDENTITY_ID && !GUID.test(env.EXO_MANAGED_IDENTITY_ID))
    invalid('EXO_MANAGED_IDENTITY_ID', 'must be a client id (GUID)');
  if (env.KEY_VAULT_URL && !httpsUrl.safeParse(env.KEY_VAULT_URL).success)
    invalid('KEY_VAULT_URL', 'must be an https:// URL such as https://my-vault.vault.azure.net');
  if (env.AZURE_CLIENT_ID && !GUID.test(env.AZURE_CLIENT_ID))
    invalid('AZURE_CLIENT_ID', 'must be a client id (GUID)');
  if (env.KEY_VAULT_CREDENTIAL && !['managedIdentity', 'azureCli'].includes(env.KEY_VAULT_CREDENTIAL))
    invalid('KEY_VAULT_CREDENTIAL', 'must be managedIdentity or azureCli');
  if (
    env.WORKFLOW_FAILURE_ACTION_NAME &&
    env.WORKFLOW_FAILURE_ACTION_NAME === (env.WORKFLOW_ACTION_NAME ?? DEFAULTS.WORKFLOW_ACTION_NAME)
  )
    invalid('WORKFLOW_FAILURE_ACTION_NAME', 'must differ from WORKFLOW_ACTION_NAME');
  const fields = (env.SWEEP_SCHEDULE ?? DEFAULTS.SWEEP_SCHEDULE).split(/\s+/);
  if (!(fields.length === 6 || fields.length === 5) || !fields.every((f) => NCRONTAB_FIELD.test(f)))
    invalid('SWEEP_SCHEDULE', 'must be an NCRONTAB expression with six fields, e.g. "0 0 * * * *" (hourly)');
  return problems;
}

export interface LoadConfigOptions {
  /** Reads the profile file (EXO_PROFILES_PATH); tests inject one. */
  readFile?: (path: string) => string;
}

/** Parse the environment (process.env or app settings) into a Config, or throw one ConfigError listing every problem. */
export function loadConfig(env: Record<string, string | undefined>, options: LoadConfigOptions = {}): Config {
  const parsed = schema.safeParse(env, { reportInput: true });
  const problems = parsed.success
    ? []
    : parsed.error.issues.map((issue) => {
        const setting = String(issue.path[0] ?? 'configuration');
        return `${setting} ${describeIssue(issue, setting, env[setting])}`;
      });
  problems.push(...crossSettingProblems(env));
  const profiles = loadProfiles(env, parsed.success ? parsed.data : undefined, options, problems);
  if (!parsed.success || problems.length > 0 || !profiles) throw new ConfigError([...new Set(problems)]);
  const e = parsed.data;
  const config: Config = {
    trelica: {
      baseUrl: e.TRELICA_BASE_URL,
      clientId: e.TRELICA_CLIENT_ID as string,
      clientSecret: new Secret(e.TRELICA_CLIENT_SECRET as string),
      pageSize: e.TRELICA_PAGE_SIZE,
    },
    workflows: {
      names: e.WORKFLOW_NAMES,
      stepName: e.WORKFLOW_STEP_NAME,
      actionName: e.WORKFLOW_ACTION_NAME,
    },
    exchange: {
      organization: (e.EXO_ORGANIZATION as string).toLowerCase(),
      auth: e.EXO_AUTH,
      ...(e.EXO_APP_ID ? { appId: e.EXO_APP_ID } : {}),
      ...(e.EXO_MANAGED_IDENTITY_ID ? { managedIdentityAccountId: e.EXO_MANAGED_IDENTITY_ID } : {}),
      actions: ALL_ACTIONS.filter((action) => e.EXO_ACTIONS.includes(action)),
      autoMapping: e.EXO_AUTOMAPPING,
      callTimeoutMs: e.EXO_CALL_TIMEOUT_SECONDS * 1000,
      acceptSharedLeavers: e.EXO_ACCEPT_SHARED_LEAVERS,
      protectedRecipients: [...new Set(e.EXO_PROTECTED_RECIPIENTS)],
    },
    profiles,
    ...(e.EXO_PROFILES_PATH ? { profilesPath: e.EXO_PROFILES_PATH } : {}),
    dryRun: e.DRY_RUN,
    schedule: e.SWEEP_SCHEDULE,
    httpBudgetMs: e.HTTP_SWEEP_BUDGET_SECONDS * 1000,
    ...(e.AzureWebJobsStorage ? { storageConnection: e.AzureWebJobsStorage } : {}),
    ...(e.EXO_RUN_RECORDS_DIR ? { runRecordsDir: e.EXO_RUN_RECORDS_DIR } : {}),
    journal: {
      maxAttempts: e.EXO_MAX_ATTEMPTS,
      ...(e.WORKFLOW_FAILURE_ACTION_NAME ? { failureActionName: e.WORKFLOW_FAILURE_ACTION_NAME } : {}),
      retentionDays: e.EXO_JOURNAL_DAYS,
    },
  };
  if (e.EXO_AUTH === 'certificate') {
    config.certificate = e.KEY_VAULT_URL
      ? {
          kind: 'keyVault',
          vaultUrl: e.KEY_VAULT_URL.replace(/\/+$/, ''),
          name: e.EXO_CERTIFICATE_NAME,
          // In Azure (the platform sets these) always the managed identity; elsewhere the admin's Azure CLI login.
          credential:
            (e.KEY_VAULT_CREDENTIAL as 'managedIdentity' | 'azureCli' | undefined) ??
            (e.IDENTITY_ENDPOINT || e.WEBSITE_SITE_NAME ? 'managedIdentity' : 'azureCli'),
          ...(e.AZURE_CLIENT_ID ? { managedIdentityClientId: e.AZURE_CLIENT_ID } : {}),
        }
      : {
          kind: 'file',
          path: e.EXO_CERTIFICATE_PATH as string,
          password: new Secret(e.EXO_CERTIFICATE_PASSWORD ?? ''),
        };
  }
  return config;
}

/**
 * Every workflow's profile: from the file EXO_PROFILES_PATH names (read and checked here, once), or
 * EXO_ACTIONS for each workflow. The file's problems are added to `problems`, each with its JSON path,
 * even when other settings are wrong (so one message lists everything).
 */
function loadProfiles(
  env: Record<string, string | undefined>,
  parsed: z.infer<typeof schema> | undefined,
  options: LoadConfigOptions,
  problems: string[],
): Record<string, Profile> | undefined {
  const path = env.EXO_PROFILES_PATH?.trim();
  // Even when other settings are wrong, the file is checked against the workflows named.
  const workflowNames =
    parsed?.WORKFLOW_NAMES ??
    (env.WORKFLOW_NAMES?.trim() || DEFAULTS.WORKFLOW_NAMES)
      .split(',')
      .map((name) => name.trim())
      .filter((name) => name !== '');
  const autoMapping = parsed?.EXO_AUTOMAPPING ?? true;
  if (!path) {
    if (!parsed) return undefined;
    return Object.fromEntries(
      workflowNames.map((name) => [
        name,
        defaultProfile(
          ALL_ACTIONS.filter((action) => parsed.EXO_ACTIONS.includes(action)),
          autoMapping,
        ),
      ]),
    );
  }
  let text: string;
  try {
    text = (options.readFile ?? ((file: string) => readFileSync(file, 'utf8')))(path);
  } catch (thrown) {
    const code = (thrown as NodeJS.ErrnoException).code;
    problems.push(
      `EXO_PROFILES_PATH cannot be read (${code ?? 'error'})${got('EXO_PROFILES_PATH', path)}; set it to the profile file's path (see the README: Profiles)`,
    );
    return undefined;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (thrown) {
    problems.push(`EXO_PROFILES_PATH ${path} is not valid JSON: ${(thrown as Error).message}`);
    return undefined;
  }
  const result = parseProfiles(json, { source: path, workflowNames, autoMapping });
  if (!result.ok) {
    problems.push(...result.problems.map((problem) => `EXO_PROFILES_PATH ${path} ${problem}`));
    return undefined;
  }
  return result.profiles;
}

function describeIssue(issue: z.core.$ZodIssue, setting: string, raw: string | undefined): string {
  const hasValue = typeof raw === 'string' && raw.trim() !== '';
  if (issue.code === 'invalid_type' && !hasValue) return 'is required';
  const oneOf =
    issue.code === 'invalid_value' && 'values' in issue
      ? `must be one of ${(issue.values as unknown[]).join(', ')}`
      : issue.message;
  // An entry of a list setting (EXO_ACTIONS): name the entry, not the whole value.
  if (issue.path.length > 1 && typeof issue.path[1] === 'number') {
    return `entry ${issue.path[1] + 1}${got(setting, issue.input)} is not valid: ${oneOf}`;
  }
  return `${oneOf}${hasValue ? got(setting, raw.trim()) : ''}`;
}

function truncate(value: string): string {
  return value.length > 40 ? `${value.slice(0, 40)}…` : value;
}

function isLoopback(hostname: string): boolean {
  return hostname === '127.0.0.1' || hostname === 'localhost' || hostname === '[::1]';
}

/** Only what `history` needs (storage, the local folder, retention), so it runs without the sweep's settings. */
export interface HistoryConfig {
  storageConnection?: string;
  runRecordsDir?: string;
  retentionDays: number;
}

const historySchema = z.object({
  AzureWebJobsStorage: optional,
  EXO_RUN_RECORDS_DIR: optional,
  EXO_JOURNAL_DAYS: integerSetting('EXO_JOURNAL_DAYS', 1, 3650),
});

export function loadHistoryConfig(env: Record<string, string | undefined>): HistoryConfig {
  const parsed = historySchema.safeParse(env, { reportInput: true });
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => {
        const setting = String(issue.path[0] ?? 'configuration');
        return `${setting} ${describeIssue(issue, setting, env[setting])}`;
      }),
    );
  }
  const e = parsed.data;
  return {
    ...(e.AzureWebJobsStorage ? { storageConnection: e.AzureWebJobsStorage } : {}),
    ...(e.EXO_RUN_RECORDS_DIR ? { runRecordsDir: e.EXO_RUN_RECORDS_DIR } : {}),
    retentionDays: e.EXO_JOURNAL_DAYS,
  };
}
