/**
 * Configuration: every setting the product reads, parsed once by one schema. Empty strings count
 * as missing (Azure portal and local.settings.json both produce them), and every problem is
 * reported at once in a ConfigError that names the setting.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ConfigError } from './errors';
import type { ActionName } from './domain';
import { CATALOGUE_ACTIONS, defaultProfile, parseProfiles, type Profile } from './profiles';
import { Secret } from './secret';
import { addressProblem } from './addresses';

/** The four basic actions: EXO_ACTIONS' default. */
export const BASIC_ACTIONS: readonly ActionName[] = [
  'convertToShared',
  'grantManagerFullAccess',
  'grantManagerSendAs',
  'removeFromDistributionGroups',
];

/** Every action, in the order EXO_ACTIONS runs them (a profile file orders its own). */
export const ALL_ACTIONS: readonly ActionName[] = [...BASIC_ACTIONS, ...CATALOGUE_ACTIONS];

interface SettingSpec {
  /** One line for the README's settings table (a test keeps them in step). */
  description: string;
  /** Used when the setting is missing or empty. */
  default?: string;
  /** Never echoed in a problem, however wrong the value is. */
  secret?: true;
}

/**
 * The one list of settings: description, default and secrecy per name. The schema below must
 * have exactly these keys (checked by the compiler), and README, Bicep and local.settings.json
 * are checked against it by tests.
 */
export const SETTINGS = {
  TRELICA_BASE_URL: {
    description: 'SaaS Manager host (https://eu.trelica.com in the EU)',
    default: 'https://app.trelica.com',
  },
  TRELICA_CLIENT_ID: { description: 'SaaS Manager API client id' },
  TRELICA_CLIENT_SECRET: {
    description: 'SaaS Manager API client secret (a Key Vault reference in Azure)',
    secret: true,
  },
  TRELICA_PAGE_SIZE: { description: 'runs per page when listing waiting runs (1-1000)', default: '100' },
  WORKFLOW_NAMES: { description: 'comma-separated workflow names', default: 'Terminate Users' },
  WORKFLOW_STEP_NAME: { description: 'the Signal step that waits for us', default: 'Signal' },
  WORKFLOW_ACTION_NAME: { description: 'the action to POST when done', default: 'Continue' },
  EXO_AUTH: {
    description: 'certificate (app-only with a certificate) or managedIdentity',
    default: 'certificate',
  },
  EXO_APP_ID: { description: 'Entra app (client) id used with the certificate' },
  EXO_ORGANIZATION: { description: "the tenant's .onmicrosoft.com domain" },
  EXO_MANAGED_IDENTITY_ID: {
    description: 'client id of a user-assigned identity for EXO_AUTH=managedIdentity',
  },
  EXO_ACTIONS: {
    description: 'comma-separated Exchange actions to run for each leaver (the default profile)',
    default: BASIC_ACTIONS.join(','),
  },
  EXO_AUTOMAPPING: {
    description: 'add the shared mailbox to the manager’s Outlook (FullAccess -AutoMapping)',
    default: 'true',
  },
  EXO_CALL_TIMEOUT_SECONDS: {
    description: 'timeout for one PowerShell call (one run’s plan, or connecting)',
    default: '120',
  },
  EXO_ACCEPT_SHARED_LEAVERS: {
    description:
      'accept a leaver whose mailbox is already shared when a run first sees it (converted by hand)',
    default: 'false',
  },
  EXO_PROTECTED_RECIPIENTS: {
    description:
      'comma-separated addresses no run may change or grant to; a group protects its direct members',
  },
  EXO_RUN_RECORDS_DIR: {
    description: 'local folder for run records when AzureWebJobsStorage is not set (CLI)',
  },
  EXO_PROFILES_PATH: {
    description: 'JSON file mapping each workflow to its actions, options and run variables',
  },
  KEY_VAULT_URL: { description: 'Key Vault holding the certificate (selects Key Vault mode)' },
  EXO_CERTIFICATE_NAME: { description: 'certificate name in Key Vault', default: 'exo-app-only' },
  KEY_VAULT_CREDENTIAL: { description: 'managedIdentity or azureCli: how to authenticate to Key Vault' },
  AZURE_CLIENT_ID: { description: 'user-assigned managed identity client id (Key Vault)' },
  EXO_CERTIFICATE_PATH: { description: 'local PFX or PEM file (file mode, development)' },
  EXO_CERTIFICATE_PASSWORD: { description: 'password of the local PFX', secret: true },
  DRY_RUN: { description: 'plan only: no Exchange change, no signal', default: 'false' },
  SWEEP_SCHEDULE: { description: 'NCRONTAB (six fields) for the timer', default: '0 0 * * * *' },
  HTTP_SWEEP_BUDGET_SECONDS: {
    description: 'time an HTTP-triggered sweep may spend before it answers',
    default: '200',
  },
  EXO_SESSIONS: {
    description: 'Exchange sessions (PowerShell processes) per worker, each running one run at a time (1-8)',
    default: '4',
  },
  SWEEP_MODE: {
    description:
      'inline (the timer sweeps itself) or queue (one exo-runs message per waiting run, every instance works through them)',
    default: 'queue',
  },
  AzureWebJobsStorage: {
    description: 'Functions storage; also holds the run claims (blob leases) and run records (table)',
    secret: true,
  },
  AzureWebJobsStorage__blobServiceUri: {
    description: 'identity-based AzureWebJobsStorage (Azure): the account’s blob endpoint',
  },
  AzureWebJobsStorage__tableServiceUri: {
    description: 'identity-based AzureWebJobsStorage: the table endpoint (default: from the blob endpoint)',
  },
  AzureWebJobsStorage__queueServiceUri: {
    description: 'identity-based AzureWebJobsStorage: the queue endpoint (default: from the blob endpoint)',
  },
  AzureWebJobsStorage__credential: {
    description: 'identity-based AzureWebJobsStorage: managedidentity',
  },
  AzureWebJobsStorage__clientId: {
    description: 'identity-based AzureWebJobsStorage: client id of the user-assigned identity',
  },
  EXO_MAX_ATTEMPTS: {
    description: 'failed attempts after which a run is given up (not retried silently any more)',
    default: '5',
  },
  WORKFLOW_FAILURE_ACTION_NAME: {
    description: 'the action to POST when a run is given up (e.g. Failed); unset: the run stays waiting',
  },
  EXO_JOURNAL_DAYS: {
    description: 'days the run journal keeps a run after its last activity (pruned by the timer)',
    default: '400',
  },
  VERIFY_SCHEDULE: {
    description:
      'NCRONTAB (six fields) for the verify timer, e.g. "0 30 5 * * *" (daily); unset: no verify timer',
  },
  VERIFY_SINCE_DAYS: {
    description: 'the verify timer re-checks completed runs with journal activity in this many days',
    default: '30',
  },
} as const satisfies Record<string, SettingSpec>;

export type SettingName = keyof typeof SETTINGS;

type Defaulted = {
  [K in SettingName]: (typeof SETTINGS)[K] extends { default: string } ? K : never;
}[SettingName];

/** Every setting's default, from SETTINGS. */
export const DEFAULTS = Object.fromEntries(
  Object.entries(SETTINGS).flatMap(([name, spec]: [string, SettingSpec]) =>
    spec.default === undefined ? [] : [[name, spec.default]],
  ),
) as { [K in Defaulted]: string };

export type CertificateConfig =
  | {
      kind: 'keyVault';
      vaultUrl: string;
      name: string;
      credential: 'managedIdentity' | 'azureCli';
      managedIdentityClientId?: string;
    }
  | { kind: 'file'; path: string; password: Secret<string> };

/** How Exchange Online is reached: an app with a certificate, or the Function App's managed identity. */
export type ExchangeAuthConfig =
  | { auth: 'certificate'; appId: string; certificate: CertificateConfig }
  | { auth: 'managedIdentity'; managedIdentityAccountId?: string };

export type ExchangeConfig = ExchangeAuthConfig & {
  organization: string;
  /** EXO_SESSIONS: sessions in the pool (1-8). */
  sessions: number;
  actions: ActionName[];
  autoMapping: boolean;
  callTimeoutMs: number;
  acceptSharedLeavers: boolean;
  /** Lower-cased addresses. */
  protectedRecipients: string[];
};

/** Where run claims (blob leases) and run records (a table) live. */
export type StorageConfig =
  /** AzureWebJobsStorage as a connection string (Azurite locally, or an account key). */
  | { kind: 'connectionString'; connectionString: Secret<string> }
  /** Identity-based AzureWebJobsStorage (what infra/ deploys): endpoints and the user-assigned identity. */
  | {
      kind: 'identity';
      blobServiceUri: string;
      tableServiceUri: string;
      queueServiceUri: string;
      clientId?: string;
    }
  /** No storage (the CLI on a laptop): lock files and a local folder. */
  | { kind: 'local'; runRecordsDir?: string };

export interface JournalConfig {
  /** EXO_MAX_ATTEMPTS: failed attempts after which a run is given up. */
  maxAttempts: number;
  /** WORKFLOW_FAILURE_ACTION_NAME: the action POSTed when a run is given up, if any. */
  failureActionName?: string;
  /** EXO_JOURNAL_DAYS: retention after a run's last activity. */
  retentionDays: number;
}

export interface Config {
  trelica: { baseUrl: string; clientId: string; clientSecret: Secret<string>; pageSize: number };
  workflows: { names: string[]; stepName: string; actionName: string };
  exchange: ExchangeConfig;
  storage: StorageConfig;
  /** Each workflow's actions and options: from EXO_PROFILES_PATH, or EXO_ACTIONS for every workflow. */
  profiles: Record<string, Profile>;
  /** EXO_PROFILES_PATH, when a profile file is used. */
  profilesPath?: string;
  /** Bounded attempts and the run journal. */
  journal: JournalConfig;
  dryRun: boolean;
  schedule: string;
  httpBudgetMs: number;
  /** SWEEP_MODE: whether the timer sweeps itself or fans the runs out on the exo-runs queue. */
  sweepMode: 'inline' | 'queue';
  /** The verify timer: its schedule (absent: no verify timer) and how far back it looks. */
  verify: { schedule?: string; sinceDays: number };
}

/** Only what `history` and retention need (storage and EXO_JOURNAL_DAYS): no sweep settings required. */
export interface HistoryConfig {
  storage: StorageConfig;
  retentionDays: number;
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const ONMICROSOFT = /^[a-z0-9][a-z0-9-]{0,62}\.onmicrosoft\.(com|us|de|cn)$/i;
const NCRONTAB_FIELD = /^[0-9*/,\-A-Za-z]+$/;

const optional = z.preprocess(
  (value) => (typeof value === 'string' && value.trim() === '' ? undefined : value),
  z.string().trim().optional(),
);

function withDefault(name: Defaulted) {
  return z.preprocess(
    (value) => (typeof value === 'string' && value.trim() !== '' ? value : DEFAULTS[name]),
    z.string().trim(),
  );
}

const booleanSetting = (name: Defaulted) =>
  withDefault(name).pipe(
    z
      .string()
      .toLowerCase()
      .refine((v) => ['true', 'false', '1', '0', 'yes', 'no'].includes(v), 'must be true or false')
      .transform((v) => v === 'true' || v === '1' || v === 'yes'),
  );

const integerSetting = (name: Defaulted, min: number, max: number) =>
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

const commaList = (name: Defaulted) =>
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

const settingsSchema = {
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
  AzureWebJobsStorage__blobServiceUri: optional.pipe(httpsUrl.optional()),
  AzureWebJobsStorage__tableServiceUri: optional.pipe(httpsUrl.optional()),
  AzureWebJobsStorage__queueServiceUri: optional.pipe(httpsUrl.optional()),
  AzureWebJobsStorage__credential: optional.pipe(
    z
      .string()
      .toLowerCase()
      .refine((v) => v === 'managedidentity', 'must be managedidentity')
      .optional(),
  ),
  AzureWebJobsStorage__clientId: optional.pipe(
    z
      .string()
      .regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i, 'must be a client id (GUID)')
      .optional(),
  ),
  EXO_SESSIONS: integerSetting('EXO_SESSIONS', 1, 8),
  SWEEP_MODE: withDefault('SWEEP_MODE').pipe(z.enum(['inline', 'queue'])),
  EXO_MAX_ATTEMPTS: integerSetting('EXO_MAX_ATTEMPTS', 1, 100),
  WORKFLOW_FAILURE_ACTION_NAME: optional,
  EXO_JOURNAL_DAYS: integerSetting('EXO_JOURNAL_DAYS', 1, 3650),
  VERIFY_SCHEDULE: optional,
  VERIFY_SINCE_DAYS: integerSetting('VERIFY_SINCE_DAYS', 1, 3650),
} satisfies Record<SettingName, z.ZodType>;

const schema = z.object({
  ...settingsSchema,
  // Not settings of ours: tell where we run, to pick the Key Vault credential.
  IDENTITY_ENDPOINT: optional,
  WEBSITE_SITE_NAME: optional,
});

/** Settings whose values are never echoed in a problem, however wrong they are. */
const SECRET_VALUES: ReadonlySet<string> = new Set(
  Object.entries(SETTINGS).flatMap(([name, spec]: [string, SettingSpec]) => (spec.secret ? [name] : [])),
);

/** ` (got "value")` for a bad value, so the admin sees which one is wrong; nothing for secrets. */
function got(setting: string, value: unknown): string {
  if (SECRET_VALUES.has(setting) || value === undefined || value === null) return '';
  const text = typeof value === 'string' ? value : (JSON.stringify(value) ?? '');
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
  if (env.AzureWebJobsStorage && env.AzureWebJobsStorage__blobServiceUri)
    problem(
      'AzureWebJobsStorage__blobServiceUri',
      'set either AzureWebJobsStorage (a connection string) or AzureWebJobsStorage__blobServiceUri (identity-based), not both',
    );
  if (!env.AzureWebJobsStorage__blobServiceUri) {
    for (const part of ['tableServiceUri', 'queueServiceUri', 'credential', 'clientId'] as const) {
      if (env[`AzureWebJobsStorage__${part}`])
        problem(
          `AzureWebJobsStorage__${part}`,
          'needs AzureWebJobsStorage__blobServiceUri (identity-based storage)',
        );
    }
  }
  if (
    env.WORKFLOW_FAILURE_ACTION_NAME &&
    env.WORKFLOW_FAILURE_ACTION_NAME === (env.WORKFLOW_ACTION_NAME ?? DEFAULTS.WORKFLOW_ACTION_NAME)
  )
    invalid('WORKFLOW_FAILURE_ACTION_NAME', 'must differ from WORKFLOW_ACTION_NAME');
  const fields = (env.SWEEP_SCHEDULE ?? DEFAULTS.SWEEP_SCHEDULE).split(/\s+/);
  if (!(fields.length === 6 || fields.length === 5) || !fields.every((f) => NCRONTAB_FIELD.test(f)))
    invalid('SWEEP_SCHEDULE', 'must be an NCRONTAB expression with six fields, e.g. "0 0 * * * *" (hourly)');
  const verifyFields = env.VERIFY_SCHEDULE?.split(/\s+/);
  if (
    verifyFields &&
    (!(verifyFields.length === 6 || verifyFields.length === 5) ||
      !verifyFields.every((f) => NCRONTAB_FIELD.test(f)))
  )
    invalid(
      'VERIFY_SCHEDULE',
      'must be an NCRONTAB expression with six fields, e.g. "0 30 5 * * *" (daily at 05:30)',
    );
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
  // The cross-setting checks above guarantee what the casts below assume (required when reached).
  const exchangeAuth: ExchangeAuthConfig =
    e.EXO_AUTH === 'certificate'
      ? { auth: 'certificate', appId: e.EXO_APP_ID as string, certificate: certificateConfig(e) }
      : {
          auth: 'managedIdentity',
          ...(e.EXO_MANAGED_IDENTITY_ID ? { managedIdentityAccountId: e.EXO_MANAGED_IDENTITY_ID } : {}),
        };
  return {
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
      ...exchangeAuth,
      organization: (e.EXO_ORGANIZATION as string).toLowerCase(),
      actions: ALL_ACTIONS.filter((action) => e.EXO_ACTIONS.includes(action)),
      autoMapping: e.EXO_AUTOMAPPING,
      callTimeoutMs: e.EXO_CALL_TIMEOUT_SECONDS * 1000,
      acceptSharedLeavers: e.EXO_ACCEPT_SHARED_LEAVERS,
      protectedRecipients: [...new Set(e.EXO_PROTECTED_RECIPIENTS)],
      sessions: e.EXO_SESSIONS,
    },
    storage: storageConfig(e),
    profiles,
    ...(e.EXO_PROFILES_PATH ? { profilesPath: e.EXO_PROFILES_PATH } : {}),
    journal: {
      maxAttempts: e.EXO_MAX_ATTEMPTS,
      ...(e.WORKFLOW_FAILURE_ACTION_NAME ? { failureActionName: e.WORKFLOW_FAILURE_ACTION_NAME } : {}),
      retentionDays: e.EXO_JOURNAL_DAYS,
    },
    dryRun: e.DRY_RUN,
    schedule: e.SWEEP_SCHEDULE,
    httpBudgetMs: e.HTTP_SWEEP_BUDGET_SECONDS * 1000,
    sweepMode: e.SWEEP_MODE,
    verify: {
      ...(e.VERIFY_SCHEDULE ? { schedule: e.VERIFY_SCHEDULE } : {}),
      sinceDays: e.VERIFY_SINCE_DAYS,
    },
  };
}

type Parsed = z.infer<typeof schema>;

function certificateConfig(e: Parsed): CertificateConfig {
  if (!e.KEY_VAULT_URL) {
    return {
      kind: 'file',
      path: e.EXO_CERTIFICATE_PATH as string,
      password: new Secret(e.EXO_CERTIFICATE_PASSWORD ?? ''),
    };
  }
  return {
    kind: 'keyVault',
    vaultUrl: e.KEY_VAULT_URL.replace(/\/+$/, ''),
    name: e.EXO_CERTIFICATE_NAME,
    // In Azure (the platform sets these) always the managed identity; elsewhere the admin's Azure CLI login.
    credential:
      (e.KEY_VAULT_CREDENTIAL as 'managedIdentity' | 'azureCli' | undefined) ??
      (e.IDENTITY_ENDPOINT || e.WEBSITE_SITE_NAME ? 'managedIdentity' : 'azureCli'),
    ...(e.AZURE_CLIENT_ID ? { managedIdentityClientId: e.AZURE_CLIENT_ID } : {}),
  };
}

const STORAGE_SETTINGS = [
  'AzureWebJobsStorage',
  'AzureWebJobsStorage__blobServiceUri',
  'AzureWebJobsStorage__tableServiceUri',
  'AzureWebJobsStorage__queueServiceUri',
  'AzureWebJobsStorage__credential',
  'AzureWebJobsStorage__clientId',
  'EXO_RUN_RECORDS_DIR',
] as const;

const historySchema = z.object({
  ...Object.fromEntries(STORAGE_SETTINGS.map((name) => [name, settingsSchema[name]])),
  EXO_JOURNAL_DAYS: settingsSchema.EXO_JOURNAL_DAYS,
}) as z.ZodType<Pick<Parsed, (typeof STORAGE_SETTINGS)[number] | 'EXO_JOURNAL_DAYS'>>;

/** Parse only the storage settings and EXO_JOURNAL_DAYS (`history`, GET /api/runs/{runId}). */
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
  return { storage: storageConfig(parsed.data), retentionDays: parsed.data.EXO_JOURNAL_DAYS };
}

function storageConfig(e: Pick<Parsed, (typeof STORAGE_SETTINGS)[number]>): StorageConfig {
  if (e.AzureWebJobsStorage)
    return { kind: 'connectionString', connectionString: new Secret(e.AzureWebJobsStorage) };
  const blobServiceUri = e.AzureWebJobsStorage__blobServiceUri;
  if (blobServiceUri) {
    return {
      kind: 'identity',
      blobServiceUri,
      // An older deployment with only the blob endpoint: the same account's table endpoint.
      tableServiceUri: e.AzureWebJobsStorage__tableServiceUri ?? blobServiceUri.replace('.blob.', '.table.'),
      queueServiceUri: e.AzureWebJobsStorage__queueServiceUri ?? blobServiceUri.replace('.blob.', '.queue.'),
      ...(e.AzureWebJobsStorage__clientId ? { clientId: e.AzureWebJobsStorage__clientId } : {}),
    };
  }
  return { kind: 'local', ...(e.EXO_RUN_RECORDS_DIR ? { runRecordsDir: e.EXO_RUN_RECORDS_DIR } : {}) };
}

/**
 * Every workflow's profile: from the file EXO_PROFILES_PATH names (read and checked here, once), or
 * EXO_ACTIONS for each workflow. The file's problems are added to `problems`, each with its JSON path,
 * even when other settings are wrong (so one message lists everything).
 */
function loadProfiles(
  env: Record<string, string | undefined>,
  parsed: Parsed | undefined,
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
