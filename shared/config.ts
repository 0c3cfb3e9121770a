/**
 * Configuration: every setting the product reads, parsed once by one schema. Empty strings count
 * as missing (Azure portal and local.settings.json both produce them), and every problem is
 * reported at once in a ConfigError that names the setting.
 */
import { z } from 'zod';
import { ConfigError } from './errors';
import type { ActionName } from './ports';
import { Secret } from './secret';
import { addressProblem } from './sweep/plan';

export const ALL_ACTIONS: readonly ActionName[] = [
  'convertToShared',
  'grantManagerFullAccess',
  'grantManagerSendAs',
  'removeFromDistributionGroups',
];

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
  EXO_ACTIONS: 'comma-separated Exchange actions to run for each leaver',
  EXO_AUTOMAPPING: 'add the shared mailbox to the manager’s Outlook (FullAccess -AutoMapping)',
  EXO_CALL_TIMEOUT_SECONDS: 'timeout for one PowerShell call (one run’s plan, or connecting)',
  EXO_ACCEPT_SHARED_LEAVERS:
    'accept a leaver whose mailbox is already shared when a run first sees it (converted by hand)',
  EXO_PROTECTED_RECIPIENTS:
    'comma-separated addresses no run may change or grant to; a group protects its direct members',
  EXO_RUN_RECORDS_DIR: 'local folder for run records when AzureWebJobsStorage is not set (CLI)',
  KEY_VAULT_URL: 'Key Vault holding the certificate (selects Key Vault mode)',
  EXO_CERTIFICATE_NAME: 'certificate name in Key Vault',
  KEY_VAULT_CREDENTIAL: 'managedIdentity or azureCli: how to authenticate to Key Vault',
  AZURE_CLIENT_ID: 'user-assigned managed identity client id (Key Vault)',
  EXO_CERTIFICATE_PATH: 'local PFX or PEM file (file mode, development)',
  EXO_CERTIFICATE_PASSWORD: 'password of the local PFX',
  DRY_RUN: 'plan only: no Exchange change, no signal',
  SWEEP_SCHEDULE: 'NCRONTAB (six fields) for the timer',
  HTTP_SWEEP_BUDGET_SECONDS: 'time an HTTP-triggered sweep may spend before it answers',
  EXO_SESSIONS: 'Exchange sessions (PowerShell processes) per worker, each running one run at a time (1-8)',
  SWEEP_MODE:
    'inline (the timer sweeps itself) or queue (one exo-runs message per waiting run, every instance works through them)',
  AzureWebJobsStorage: 'Functions storage; also holds the run claims (blob leases) and run records (table)',
} as const;

export type SettingName = keyof typeof SETTINGS;

export const DEFAULTS = {
  TRELICA_BASE_URL: 'https://app.trelica.com',
  TRELICA_PAGE_SIZE: '100',
  WORKFLOW_NAMES: 'Terminate Users',
  WORKFLOW_STEP_NAME: 'Signal',
  WORKFLOW_ACTION_NAME: 'Continue',
  EXO_AUTH: 'certificate',
  EXO_ACTIONS: ALL_ACTIONS.join(','),
  EXO_AUTOMAPPING: 'true',
  EXO_CALL_TIMEOUT_SECONDS: '120',
  EXO_ACCEPT_SHARED_LEAVERS: 'false',
  EXO_CERTIFICATE_NAME: 'exo-app-only',
  DRY_RUN: 'false',
  SWEEP_SCHEDULE: '0 0 * * * *',
  HTTP_SWEEP_BUDGET_SECONDS: '200',
  EXO_SESSIONS: '4',
  SWEEP_MODE: 'queue',
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
    /** EXO_SESSIONS: sessions in the pool (1-8). */
    sessions: number;
  };
  /** Absent in managed-identity mode: Exchange then needs no certificate. */
  certificate?: CertificateConfig;
  dryRun: boolean;
  schedule: string;
  httpBudgetMs: number;
  /** SWEEP_MODE: whether the timer sweeps itself or fans the runs out on the exo-runs queue. */
  sweepMode: 'inline' | 'queue';
  /** AzureWebJobsStorage: when set, run claims are blob leases and run records a table there; else local folders. */
  storageConnection?: string;
  /** EXO_RUN_RECORDS_DIR: the local run-record folder (without storage). */
  runRecordsDir?: string;
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
  KEY_VAULT_URL: optional,
  EXO_CERTIFICATE_NAME: withDefault('EXO_CERTIFICATE_NAME'),
  KEY_VAULT_CREDENTIAL: optional,
  AZURE_CLIENT_ID: optional,
  EXO_CERTIFICATE_PATH: optional,
  EXO_CERTIFICATE_PASSWORD: optional,
  DRY_RUN: booleanSetting('DRY_RUN'),
  SWEEP_SCHEDULE: withDefault('SWEEP_SCHEDULE'),
  HTTP_SWEEP_BUDGET_SECONDS: integerSetting('HTTP_SWEEP_BUDGET_SECONDS', 10, 220),
  EXO_SESSIONS: integerSetting('EXO_SESSIONS', 1, 8),
  SWEEP_MODE: withDefault('SWEEP_MODE').pipe(z.enum(['inline', 'queue'])),
  AzureWebJobsStorage: optional,
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
  const fields = (env.SWEEP_SCHEDULE ?? DEFAULTS.SWEEP_SCHEDULE).split(/\s+/);
  if (!(fields.length === 6 || fields.length === 5) || !fields.every((f) => NCRONTAB_FIELD.test(f)))
    invalid('SWEEP_SCHEDULE', 'must be an NCRONTAB expression with six fields, e.g. "0 0 * * * *" (hourly)');
  return problems;
}

/** Parse the environment (process.env or app settings) into a Config, or throw one ConfigError listing every problem. */
export function loadConfig(env: Record<string, string | undefined>): Config {
  const parsed = schema.safeParse(env, { reportInput: true });
  const problems = parsed.success
    ? []
    : parsed.error.issues.map((issue) => {
        const setting = String(issue.path[0] ?? 'configuration');
        return `${setting} ${describeIssue(issue, setting, env[setting])}`;
      });
  problems.push(...crossSettingProblems(env));
  if (!parsed.success || problems.length > 0) throw new ConfigError([...new Set(problems)]);
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
      sessions: e.EXO_SESSIONS,
    },
    dryRun: e.DRY_RUN,
    schedule: e.SWEEP_SCHEDULE,
    httpBudgetMs: e.HTTP_SWEEP_BUDGET_SECONDS * 1000,
    sweepMode: e.SWEEP_MODE,
    ...(e.AzureWebJobsStorage ? { storageConnection: e.AzureWebJobsStorage } : {}),
    ...(e.EXO_RUN_RECORDS_DIR ? { runRecordsDir: e.EXO_RUN_RECORDS_DIR } : {}),
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
