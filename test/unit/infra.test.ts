/**
 * Deployment files against each other and against the code: the settings schema (shared/config.ts)
 * versus the Bicep app settings and the README's configuration table; the Dockerfile's pinned
 * versions versus docs/deploy.md, the README and the pinned pwsh the tests run on; host.json
 * and local.settings.json for `func start`; and the Bicep itself, compiled and linted with the
 * Bicep CLI (scripts/bicep.js installs it from NuGet on first use; without the .NET SDK that test
 * fails with one message saying so).
 *
 * The image cannot be built on these machines (no container registry is reachable), so its
 * structure is what is checked here.
 */
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { DEFAULTS, SETTINGS, type SettingName } from '../../shared/config';
import { EXCHANGE_MODULE_INSTALL, EXCHANGE_MODULE_VERSION } from '../../shared/exchangeModule';
import { TIMER_BUDGET_MS } from '../../functions/invocation';
import { type SweepReport, logReport } from '../../shared/sweep/report';
import { pinnedPowerShellVersion } from '../../shared/exchange/findPowerShell';

const ROOT = join(__dirname, '..', '..');
const read = (path: string): string => readFileSync(join(ROOT, path), 'utf8');

const SETTING_NAMES = Object.keys(SETTINGS) as SettingName[];
const DEFAULT_VALUES: Partial<Record<string, string>> = DEFAULTS;

/**
 * Settings for local development only. They must NOT be set in Azure, where the certificate comes
 * from Key Vault through the managed identity; a certificate file and its password have no place
 * in app settings.
 */
const LOCAL_ONLY_SETTINGS: readonly SettingName[] = [
  'EXO_CERTIFICATE_PATH',
  'EXO_CERTIFICATE_PASSWORD',
  // In Azure the run records live in AzureWebJobsStorage's table.
  'EXO_RUN_RECORDS_DIR',
];

/** In Azure, AzureWebJobsStorage is identity-based: these replace the connection string (no key). */
const IDENTITY_BASED_STORAGE = [
  'AzureWebJobsStorage__blobServiceUri',
  'AzureWebJobsStorage__tableServiceUri',
  // The exo-runs queue (issue 14): the queue triggers and the timer's fan-out.
  'AzureWebJobsStorage__queueServiceUri',
  'AzureWebJobsStorage__credential',
  'AzureWebJobsStorage__clientId',
] as const;

/** App settings of the Functions platform, not of our schema. */
const PLATFORM_SETTINGS: readonly string[] = [
  'FUNCTIONS_EXTENSION_VERSION',
  'FUNCTIONS_WORKER_RUNTIME',
  'WEBSITES_ENABLE_APP_SERVICE_STORAGE',
  'APPLICATIONINSIGHTS_CONNECTION_STRING',
  'APPLICATIONINSIGHTS_AUTHENTICATION_STRING',
  // host.json's extensions.queues.batchSize and newBatchThreshold, kept equal to EXO_SESSIONS (issue 14).
  'AzureFunctionsJobHost__extensions__queues__batchSize',
  'AzureFunctionsJobHost__extensions__queues__newBatchThreshold',
  ...IDENTITY_BASED_STORAGE,
];

/** Settings whose values are secrets: never a value in a committed file or an app setting. */
const SECRET_SETTINGS: readonly SettingName[] = ['TRELICA_CLIENT_SECRET', 'EXO_CERTIFICATE_PASSWORD'];

// ---------------------------------------------------------------------------------------------
// Readers for the files under test. Each fails with a message naming the file and the shape it
// expects, so a change of layout shows up as a clear failure rather than a silent pass.

/** `var appSettings = { NAME: <expression> ... }` in infra/main.bicep: setting name -> Bicep expression. */
function bicepAppSettings(): Map<string, string> {
  const lines = read('infra/main.bicep').split('\n');
  const start = lines.findIndex((line) => line.trim() === 'var appSettings = {');
  if (start < 0) throw new Error('infra/main.bicep has no `var appSettings = {` block');
  const settings = new Map<string, string>();
  for (const line of lines.slice(start + 1)) {
    if (line === '}') return settings;
    const entry = /^ {2}([A-Za-z_][A-Za-z0-9_]*): (.+)$/.exec(line);
    if (entry?.[1] && entry[2]) settings.set(entry[1], entry[2].trim());
  }
  throw new Error('infra/main.bicep: the appSettings block does not end with a `}` line');
}

/** `param NAME string [= 'default']` lines of infra/main.bicep. */
function bicepStringParams(): Map<string, string | undefined> {
  const params = new Map<string, string | undefined>();
  for (const match of read('infra/main.bicep').matchAll(/^param (\w+) string(?: = '([^']*)')?$/gm)) {
    if (match[1]) params.set(match[1], match[2]);
  }
  return params;
}

function allBicepParams(): string[] {
  return [...read('infra/main.bicep').matchAll(/^param (\w+) /gm)].map((m) => m[1] ?? '');
}

function parameterFile(): Record<string, { value?: unknown }> {
  const parsed = JSON.parse(read('infra/main.parameters.json')) as {
    parameters?: Record<string, { value?: unknown }>;
  };
  if (!parsed.parameters) throw new Error('infra/main.parameters.json has no "parameters"');
  return parsed.parameters;
}

/**
 * The setting names in README.md: the first markdown table whose header starts with `| name |` or
 * `| setting |`, in the section under the first heading that contains "Configuration". One setting
 * per row in the first column; `A / B` in one cell names two settings; backticks are allowed.
 */
function readmeSettingNames(): string[] {
  const path = join(ROOT, 'README.md');
  if (!existsSync(path)) {
    throw new Error(
      'README.md does not exist yet: it must have a "## Configuration" section with a table whose header row starts with "| name |"',
    );
  }
  const lines = readFileSync(path, 'utf8').split(/\r?\n/);
  let inFence = false;
  let sectionLevel = 0;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? '';
    if (/^\s*(```|~~~)/.test(line)) inFence = !inFence;
    if (inFence) continue;
    const heading = /^(#{1,6})\s+(.*)$/.exec(line);
    if (heading?.[1]) {
      if (sectionLevel > 0 && heading[1].length <= sectionLevel) break;
      if (sectionLevel === 0 && /configuration/i.test(heading[2] ?? '')) sectionLevel = heading[1].length;
      continue;
    }
    if (sectionLevel === 0) continue;
    const header = cells(line);
    const first = header[0]?.replace(/`/g, '').toLowerCase();
    if ((first === 'name' || first === 'setting') && /^\s*\|?\s*:?-{3,}/.test(lines[i + 1] ?? '')) {
      const names: string[] = [];
      for (const row of lines.slice(i + 2)) {
        if (!row.trim().startsWith('|')) break;
        const cell = (cells(row)[0] ?? '').replace(/[`*]/g, '');
        for (const name of cell.split(/\s*[/,]\s*/)) {
          if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
            throw new Error(`README.md configuration table: "${cell}" is not a setting name (or "A / B")`);
          }
          names.push(name);
        }
      }
      return names;
    }
  }
  throw new Error(
    sectionLevel === 0
      ? 'README.md has no heading containing "Configuration"'
      : 'README.md: no table with a header row starting "| name |" under the Configuration heading',
  );
}

function cells(row: string): string[] {
  const trimmed = row.trim();
  if (!trimmed.startsWith('|')) return [];
  return trimmed
    .replace(/^\|/, '')
    .replace(/\|$/, '')
    .split('|')
    .map((cell) => cell.trim());
}

interface Instruction {
  keyword: string;
  args: string;
  stage: number;
}

/** Dockerfile instructions, continuation lines joined and comments dropped; stage counts FROMs from 0. */
function dockerfile(): Instruction[] {
  const instructions: Instruction[] = [];
  let pending = '';
  let stage = -1;
  for (const raw of read('Dockerfile').split('\n')) {
    if (/^\s*#/.test(raw)) continue;
    const line = raw.replace(/\s+$/, '');
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      continue;
    }
    const full = (pending + line).trim();
    pending = '';
    if (full === '') continue;
    const match = /^(\w+)\s+([\s\S]*)$/.exec(full);
    if (!match?.[1]) throw new Error(`Dockerfile: cannot read instruction "${full.slice(0, 40)}"`);
    const keyword = match[1].toUpperCase();
    if (keyword === 'FROM') stage++;
    instructions.push({ keyword, args: (match[2] ?? '').trim(), stage });
  }
  return instructions;
}

function dockerArg(name: string): string {
  const arg = dockerfile().find((i) => i.keyword === 'ARG' && i.args.startsWith(`${name}=`));
  if (!arg) throw new Error(`Dockerfile has no "ARG ${name}=<version>"`);
  return arg.args.slice(name.length + 1).replace(/^"|"$/g, '');
}

/** `ENV a=b c=d` (one or several pairs) of the last stage. */
function dockerEnv(): Map<string, string> {
  const instructions = dockerfile();
  const last = Math.max(...instructions.map((i) => i.stage));
  const env = new Map<string, string>();
  for (const instruction of instructions.filter((i) => i.keyword === 'ENV' && i.stage === last)) {
    for (const pair of instruction.args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|\S+)/g)) {
      if (pair[1] && pair[2]) env.set(pair[1], pair[2].replace(/^"|"$/g, ''));
    }
  }
  return env;
}

function semver(version: string): [number, number, number] {
  const match = /^(\d+)\.(\d+)\.(\d+)$/.exec(version);
  if (!match) throw new Error(`"${version}" is not an exact version (x.y.z)`);
  return [Number(match[1]), Number(match[2]), Number(match[3])];
}

function atLeast(version: string, floor: string): boolean {
  const [a, b] = [semver(version), semver(floor)];
  for (let i = 0; i < 3; i++) {
    if (a[i] !== b[i]) return (a[i] ?? 0) > (b[i] ?? 0);
  }
  return true;
}

function filesUnder(dir: string, suffix: string): string[] {
  const full = join(ROOT, dir);
  if (!existsSync(full)) return [];
  const found: string[] = [];
  for (const entry of readdirSync(full)) {
    if (['bin', 'obj', 'node_modules'].includes(entry)) continue;
    const path = join(full, entry);
    if (statSync(path).isDirectory()) found.push(...filesUnder(relative(ROOT, path), suffix));
    else if (entry.endsWith(suffix)) found.push(relative(ROOT, path));
  }
  return found;
}

// ---------------------------------------------------------------------------------------------

describe('settings: the schema, the Bicep app settings and the README table agree', () => {
  const expectedInAzure = [
    ...SETTING_NAMES.filter((name) => name !== 'AzureWebJobsStorage' && !LOCAL_ONLY_SETTINGS.includes(name)),
    ...IDENTITY_BASED_STORAGE,
  ];

  it('sets every setting of the schema as an app setting in Azure, AzureWebJobsStorage in its identity-based form', () => {
    const inBicep = bicepAppSettings();
    expect(expectedInAzure.filter((name) => !inBicep.has(name))).toEqual([]);
  });

  it('sets no app setting that neither the schema nor the Functions platform knows', () => {
    const known = new Set<string>([...SETTING_NAMES, ...PLATFORM_SETTINGS]);
    expect([...bicepAppSettings().keys()].filter((name) => !known.has(name))).toEqual([]);
  });

  it('leaves the local-development-only settings and a storage connection string out of Azure', () => {
    const inBicep = bicepAppSettings();
    expect([...LOCAL_ONLY_SETTINGS, 'AzureWebJobsStorage'].filter((name) => inBicep.has(name))).toEqual([]);
  });

  it('gives the SaaS Manager client secret to the app only as a Key Vault reference', () => {
    const secret = bicepAppSettings().get('TRELICA_CLIENT_SECRET') ?? '';
    expect(secret).toMatch(/^'@Microsoft\.KeyVault\(SecretUri=\$\{[^}]+\}secrets\/\$\{[^}]+\}\/\)'$/);
    expect(read('infra/app/function.bicep')).toMatch(/keyVaultReferenceIdentity: identityId/);
  });

  it('signs in to storage and Application Insights with the managed identity, not with keys', () => {
    const settings = bicepAppSettings();
    expect(settings.get('AzureWebJobsStorage__credential')).toBe("'managedidentity'");
    expect(settings.get('AzureWebJobsStorage__clientId')).toBe('identity.outputs.clientId');
    expect(settings.get('APPLICATIONINSIGHTS_AUTHENTICATION_STRING')).toBe(
      "'ClientId=${identity.outputs.clientId};Authorization=AAD'",
    );
    expect(settings.get('KEY_VAULT_CREDENTIAL')).toBe("'managedIdentity'");
    expect(settings.get('AZURE_CLIENT_ID')).toBe('identity.outputs.clientId');
  });

  it('feeds each admin-set setting from the Bicep parameter of the same name, defaulting to the app default', () => {
    const params = bicepStringParams();
    const settings = bicepAppSettings();
    const settingParams = [...params.keys()].filter((name): name is SettingName => name in SETTINGS);
    expect(settingParams.length).toBeGreaterThan(0);
    for (const name of settingParams) {
      expect({ name, expression: settings.get(name) }).toEqual({ name, expression: name });
      // No app default: the parameter defaults to '' (empty counts as missing) or is required.
      expect({ name, default: params.get(name) ?? '' }).toEqual({
        name,
        default: DEFAULT_VALUES[name] ?? '',
      });
    }
    // A setting with an app default that infra does not derive must be settable by the admin.
    const derived = [...settings]
      .filter(([name, expression]) => name in SETTINGS && expression !== name)
      .map(([n]) => n);
    const missing = Object.keys(DEFAULTS).filter((name) => !params.has(name) && !derived.includes(name));
    expect(missing).toEqual([]);
  });

  it('maps every setting parameter to the azd environment variable of the same name', () => {
    const file = parameterFile();
    const params = bicepStringParams();
    for (const name of [...params.keys()].filter((n) => n in SETTINGS)) {
      expect({ name, value: file[name]?.value }).toEqual({ name, value: `\${${name}}` });
    }
    const declared = new Set(allBicepParams());
    expect(Object.keys(file).filter((name) => !declared.has(name))).toEqual([]);
    const required = [...params].filter(([, fallback]) => fallback === undefined).map(([name]) => name);
    expect(required.filter((name) => !(name in file))).toEqual([]);
  });

  it("documents exactly the schema's settings in the README configuration table", () => {
    const documented = readmeSettingNames();
    expect({ missingFromReadme: SETTING_NAMES.filter((n) => !documented.includes(n)) }).toEqual({
      missingFromReadme: [],
    });
    expect({ unknownInReadme: documented.filter((n) => !(n in SETTINGS)) }).toEqual({ unknownInReadme: [] });
    expect({ duplicates: documented.filter((n, i) => documented.indexOf(n) !== i) }).toEqual({
      duplicates: [],
    });
  });
});

describe('container image (Dockerfile): built by azd in Azure, checked here for structure', () => {
  const pwshVersion = (): string => dockerArg('PWSH_VERSION');
  const exoVersion = (): string => dockerArg('EXCHANGE_ONLINE_MANAGEMENT_VERSION');

  it('builds on the Azure Functions Node 22 image with an explicit tag in every stage', () => {
    const froms = dockerfile().filter((i) => i.keyword === 'FROM');
    expect(froms.length).toBeGreaterThanOrEqual(1);
    for (const from of froms) {
      expect(from.args).toMatch(
        /^mcr\.microsoft\.com\/azure-functions\/node:4-node22(-appservice)?( AS \w+)?$/,
      );
    }
  });

  it('uses the same base image as the placeholder the Function App starts with before the first deploy', () => {
    const runtimeImage = dockerfile()
      .filter((i) => i.keyword === 'FROM')
      .pop()?.args;
    expect(read('infra/main.bicep')).toContain(`var placeholderImage = '${runtimeImage}'`);
  });

  it('pins PowerShell to an exact 7.6 release and ExchangeOnlineManagement to an exact version for it', () => {
    expect(pwshVersion()).toMatch(/^7\.6\.\d+$/);
    semver(exoVersion());
    // ExchangeOnlineManagement 3.10.0 and later are the releases built for PowerShell 7.6 (.NET 10).
    expect(atLeast(exoVersion(), '3.10.0')).toBe(true);
  });

  it('installs exactly that PowerShell and checks the version it got', () => {
    const runs = dockerfile().filter((i) => i.keyword === 'RUN');
    const install = runs.find((r) => r.args.includes('apt-get install'));
    expect(install?.args).toContain('"powershell=${PWSH_VERSION}-1.deb"');
    expect(install?.args).toContain('= "${PWSH_VERSION}"');
  });

  it('gives one install instruction for the Exchange module: check, README and docs/deploy.md agree with the image', () => {
    expect(EXCHANGE_MODULE_INSTALL).toContain('Install-PSResource -Name ExchangeOnlineManagement');
    expect(read('README.md')).toContain(EXCHANGE_MODULE_INSTALL);
    expect(read('docs/deploy.md')).toContain(EXCHANGE_MODULE_INSTALL);
    expect(dockerArg('EXCHANGE_ONLINE_MANAGEMENT_VERSION')).toBe(EXCHANGE_MODULE_VERSION);
    // The image uses the same PSResourceGet, gallery and trust flags (Save- rather than Install-).
    const save = dockerfile().find((i) => i.keyword === 'RUN' && i.args.includes('Save-PSResource'));
    expect(save?.args).toContain('-Repository PSGallery -TrustRepository');
    for (const file of [
      'README.md',
      'docs/deploy.md',
      'shared/check/runChecks.ts',
      'shared/exchange/powerShellExchangeShell.ts',
    ])
      expect({ file, text: read(file) }).toEqual({
        file,
        text: expect.not.stringMatching(/Install-Module|Save-Module/),
      });
  });

  it('saves the Exchange module at build time into the folder PSModulePath names, so nothing downloads at run time', () => {
    const modulePath = dockerEnv().get('PSModulePath');
    expect(modulePath).toMatch(/^\/opt\//);
    const save = dockerfile().find((i) => i.keyword === 'RUN' && i.args.includes('Save-PSResource'));
    expect(save?.args).toMatch(
      /Save-PSResource -Name ExchangeOnlineManagement -Version \$env:EXCHANGE_ONLINE_MANAGEMENT_VERSION/,
    );
    expect(save?.args).toContain(`-Path ${modulePath}`);
    // The build imports the saved module and fails unless that exact version loads.
    expect(save?.args).toMatch(/Import-Module ExchangeOnlineManagement -PassThru/);
    expect(save?.args).toContain('-ne $env:EXCHANGE_ONLINE_MANAGEMENT_VERSION');
  });

  it('puts the compiled app where the Functions host looks and keeps the base image start command', () => {
    const env = dockerEnv();
    expect(env.get('AzureWebJobsScriptRoot')).toBe('/home/site/wwwroot');
    const instructions = dockerfile();
    const last = Math.max(...instructions.map((i) => i.stage));
    const final = instructions.filter((i) => i.stage === last);
    expect(final.filter((i) => i.keyword === 'WORKDIR').pop()?.args).toBe('/home/site/wwwroot');
    const copied = final.filter((i) => i.keyword === 'COPY').map((i) => i.args);
    expect(copied).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/\/src\/dist \.\/dist$/),
        expect.stringMatching(/^host\.json \.\/$/),
      ]),
    );
    expect(copied.some((c) => /package\.json/.test(c))).toBe(true);
    expect(final.filter((i) => ['CMD', 'ENTRYPOINT', 'USER'].includes(i.keyword))).toEqual([]);
  });

  it('copies only paths that exist in the repo and that .dockerignore lets into the build context', () => {
    const ignored = read('.dockerignore')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'));
    const excluded = (path: string): boolean => {
      const clean = path.replace(/^\.\//, '').replace(/\/$/, '');
      if (ignored.includes(`!${clean}`)) return false;
      return ignored.some((pattern) => {
        if (pattern.startsWith('!')) return false;
        const prefix = pattern.replace(/\/\*$/, '');
        return clean === pattern || clean.startsWith(`${prefix}/`);
      });
    };
    const sources: string[] = [];
    for (const copy of dockerfile().filter((i) => i.keyword === 'COPY' && !/--from=/.test(i.args))) {
      const parts = copy.args.split(/\s+/).filter((p) => !p.startsWith('--'));
      sources.push(...parts.slice(0, -1));
    }
    expect(sources.length).toBeGreaterThan(0);
    expect(sources.filter((source) => !existsSync(join(ROOT, source)))).toEqual([]);
    expect(sources.filter((source) => source !== '.' && excluded(source))).toEqual([]);
    // `COPY . .` feeds `npm run build`: what tsconfig.build.json compiles and the build script reads must get in.
    const buildInputs = [
      ...(JSON.parse(read('tsconfig.build.json')) as { include: string[] }).include,
      'tsconfig.json',
      'tsconfig.build.json',
      'scripts/copy-assets.mjs',
      'shared/exchange/ExoActions.psm1',
    ];
    expect(buildInputs.filter(excluded)).toEqual([]);
  });

  it('names the same PowerShell and Exchange module versions in docs/deploy.md and the README', () => {
    const docs = read('docs/deploy.md');
    expect(docs).toContain(`PowerShell ${pwshVersion()}`);
    expect(docs).toContain(`ExchangeOnlineManagement ${exoVersion()}`);
    const readme = existsSync(join(ROOT, 'README.md')) ? read('README.md') : '';
    for (const [file, text] of [
      ['docs/deploy.md', docs],
      ['README.md', readme],
    ] as const) {
      const pwshNamed = [...text.matchAll(/\b(?:PowerShell|pwsh)[`*\s]*v?(7\.\d+\.\d+)\b/g)].map((m) => m[1]);
      const exoNamed = [...text.matchAll(/ExchangeOnlineManagement[`*\s(]*v?(\d+\.\d+\.\d+)\b/g)].map(
        (m) => m[1],
      );
      expect({ file, pwsh: [...new Set(pwshNamed)] }).toEqual({
        file,
        pwsh: pwshNamed.length ? [pwshVersion()] : [],
      });
      expect({ file, exo: [...new Set(exoNamed)] }).toEqual({
        file,
        exo: exoNamed.length ? [exoVersion()] : [],
      });
    }
  });

  it('runs the same PowerShell release in Azure as the pinned pwsh the tests run on', () => {
    // .config/dotnet-tools.json pins the real pwsh (NuGet's PowerShell .NET tool) for tests, CI and the sandbox.
    expect(pinnedPowerShellVersion(ROOT)).toBe(pwshVersion());
    expect(existsSync(join(ROOT, 'tools', 'pwsh-engine'))).toBe(false);
  });
});

describe('Functions host files for Azure and `func start`', () => {
  it('sets a function timeout that outlasts a scheduled sweep, and the v4 extension bundle', () => {
    const host = JSON.parse(read('host.json')) as {
      version?: string;
      functionTimeout?: string;
      extensionBundle?: { id?: string; version?: string };
    };
    expect(host.version).toBe('2.0');
    const timeout = /^(\d{2}):(\d{2}):(\d{2})$/.exec(host.functionTimeout ?? '');
    expect(timeout).not.toBeNull();
    const seconds = Number(timeout?.[1]) * 3600 + Number(timeout?.[2]) * 60 + Number(timeout?.[3]);
    // A timer sweep stops starting runs after TIMER_BUDGET_MS, and the run in flight may then take
    // a connect plus its plan, each bounded by EXO_CALL_TIMEOUT_SECONDS.
    const worstCase = TIMER_BUDGET_MS / 1000 + 2 * Number(DEFAULTS.EXO_CALL_TIMEOUT_SECONDS);
    expect(seconds).toBeGreaterThan(worstCase);
    expect(host.extensionBundle).toEqual({
      id: 'Microsoft.Azure.Functions.ExtensionBundle',
      version: '[4.*, 5.0.0)',
    });
  });

  it('lets an instance take as many queue messages again as it has sessions, in host.json and in Azure', () => {
    const host = JSON.parse(read('host.json')) as {
      extensions?: { queues?: { batchSize?: number; newBatchThreshold?: number } };
    };
    // batchSize + newBatchThreshold messages at once: the sessions and the pool's runs ahead of them.
    const sessions = Number(DEFAULTS.EXO_SESSIONS);
    expect(host.extensions?.queues).toMatchObject({ batchSize: sessions, newBatchThreshold: sessions });
    const settings = bicepAppSettings();
    expect(settings.get('AzureFunctionsJobHost__extensions__queues__batchSize')).toBe(
      'string(sessionsPerInstance)',
    );
    expect(settings.get('AzureFunctionsJobHost__extensions__queues__newBatchThreshold')).toBe(
      'string(sessionsPerInstance)',
    );
  });

  it('ships local.settings.json for Azurite with every setting and no secret value', () => {
    const local = JSON.parse(read('local.settings.json')) as {
      IsEncrypted?: boolean;
      Values?: Record<string, string>;
    };
    expect(local.IsEncrypted).toBe(false);
    const values = local.Values ?? {};
    expect(values.AzureWebJobsStorage).toBe('UseDevelopmentStorage=true');
    expect(values.FUNCTIONS_WORKER_RUNTIME).toBe('node');
    expect(values.SWEEP_SCHEDULE).toBe(DEFAULTS.SWEEP_SCHEDULE);
    // Identity-based storage is for Azure only: locally AzureWebJobsStorage is Azurite's connection string.
    const azureOnly: readonly string[] = IDENTITY_BASED_STORAGE;
    expect(SETTING_NAMES.filter((name) => !(name in values) && !azureOnly.includes(name))).toEqual([]);
    expect(
      Object.keys(values).filter((name) => !(name in SETTINGS) && name !== 'FUNCTIONS_WORKER_RUNTIME'),
    ).toEqual([]);
    for (const name of SECRET_SETTINGS) expect({ name, value: values[name] }).toEqual({ name, value: '' });
    const secretLooking = Object.entries(values).filter(
      ([, value]) =>
        /AccountKey=|SharedAccessSignature=|[?&]sig=|-----BEGIN|Password=/i.test(value) ||
        /^[A-Za-z0-9+/=_~.-]{32,}$/.test(value),
    );
    expect(secretLooking).toEqual([]);
  });

  it('points azd at the Dockerfile and at the site the Bicep tags for the service', () => {
    const azure = read('azure.yaml');
    const service = /^services:\n {2}(?:#.*\n {2})*([a-z][a-z0-9-]*):\n([\s\S]*)$/m.exec(azure);
    expect(service?.[1]).toBeDefined();
    expect(read('infra/main.bicep')).toContain(`var serviceName = '${service?.[1]}'`);
    expect(service?.[2]).toMatch(/^ {4}host: function$/m);
    const dockerPath = /^ {6}path: (\S+)$/m.exec(service?.[2] ?? '')?.[1] ?? '';
    expect(existsSync(join(ROOT, dockerPath))).toBe(true);
  });
});

describe('the admin guide (docs/deploy.md) matches what the app does', () => {
  const docs = (): string => read('docs/deploy.md');

  it('finds the run lines and the summary line the triggers log with its KQL', () => {
    const lines: string[] = [];
    const capture = (message: string) => void lines.push(message);
    const run = (runId: string, outcome: 'completed' | 'failed') => ({
      runId,
      workflowId: 'b7288c2c64f779e28024ea0e',
      workflowName: 'Leavers (EU)',
      email: 'leaver@contoso.com',
      outcome,
      actions: [
        {
          name: 'convertToShared' as const,
          status: outcome === 'failed' ? ('failed' as const) : ('done' as const),
        },
      ],
      signalled: outcome === 'completed',
      ...(outcome === 'failed' ? { error: 'Exchange said no' } : {}),
    });
    const report: SweepReport = {
      dryRun: false,
      startedAt: '2026-11-29T17:00:00.000Z',
      finishedAt: '2026-11-29T17:00:04.000Z',
      runs: [run('662a8c11f07ba0af9a25c860', 'completed'), run('662a8c11f07ba0af9a25c861', 'failed')],
      summary: { completed: 1, failed: 1, skipped: 0, planned: 0 },
      warnings: [],
      deferred: 0,
      stats: { workflows: 1, powerShellProcesses: 1, exchangeCmdletCalls: 2 },
    };
    logReport({ debug: capture, info: capture, warn: capture, error: capture }, report);

    // The patterns as the guide's queries spell them (KQL verbatim strings), and as JavaScript.
    const runId = String.raw`^run ([0-9a-fA-F]{24})`;
    const outcome = String.raw`\) (completed|failed|skipped|planned)\b`;
    const failedCount = String.raw`(\d+) failed`;
    for (const pattern of [runId, outcome, failedCount])
      expect(docs()).toContain(`extract(@"${pattern}", 1, message)`);
    const runLinePattern = String.raw`^run [0-9a-fA-F]{24} \(.*\) (completed|failed|skipped|planned)`;
    expect(docs()).toContain(`where message matches regex @"${runLinePattern}"`);
    expect(docs()).toContain('where message startswith "sweep summary"');

    const runLines = lines.filter((line) => new RegExp(runLinePattern).test(line));
    expect(
      runLines.map((line) => [new RegExp(runId).exec(line)?.[1], new RegExp(outcome).exec(line)?.[1]]),
    ).toEqual([
      ['662a8c11f07ba0af9a25c860', 'completed'],
      ['662a8c11f07ba0af9a25c861', 'failed'],
    ]);
    const summary = lines.filter((line) => line.startsWith('sweep summary'));
    expect(summary.map((line) => new RegExp(failedCount).exec(line)?.[1])).toEqual(['1']);
  });

  it('calls the HTTP routes and names the functions the code registers', () => {
    const sources = filesUnder('functions', '.ts').map(read).join('\n');
    const functions = [...sources.matchAll(/app\.(?:http|timer)\('(\w+)'/g)].map((m) => m[1] ?? '');
    const routes = [...sources.matchAll(/route: '([^']+)'/g)].map((m) => m[1] ?? '');
    expect(functions).toEqual(expect.arrayContaining(['sweepTimer', 'sweepHttp', 'rerunHttp']));
    expect(routes.length).toBeGreaterThan(0);
    for (const route of routes) expect(docs()).toContain(`/api/${route.replace('{runId}', '$RUN_ID')}`);
    for (const name of functions.filter((f) => f !== 'sweepTimer'))
      expect(docs()).toContain(`--function-name ${name}`);
    // The "problems" query looks at the traces of every function.
    const problemsQuery = /operation_Name in \(([^)]*)\)/.exec(docs())?.[1] ?? '';
    for (const name of functions) expect(problemsQuery).toContain(`"${name}"`);
  });
});

describe('the Bicep CLI, installed on first use (scripts/bicep.js)', () => {
  const bicep = createRequire(__filename)('../../scripts/bicep.js') as {
    BICEP_VERSION: string;
    bicepPackageFor(platform: string, arch: string): string | undefined;
  };

  it('picks the NuGet package for the platform it runs on', () => {
    expect(bicep.BICEP_VERSION).toBe('0.49.2');
    expect(bicep.bicepPackageFor('linux', 'x64')).toBe('Azure.Bicep.CommandLine.linux-x64');
    expect(bicep.bicepPackageFor('linux', 'arm64')).toBe('Azure.Bicep.CommandLine.linux-arm64');
    expect(bicep.bicepPackageFor('darwin', 'x64')).toBe('Azure.Bicep.CommandLine.osx-x64');
    expect(bicep.bicepPackageFor('darwin', 'arm64')).toBe('Azure.Bicep.CommandLine.osx-arm64');
    expect(bicep.bicepPackageFor('win32', 'ia32')).toBeUndefined();
  });

  it('says in one clear message, exit 2, that the .NET SDK is missing', () => {
    const toolsDir = mkdtempSync(join(tmpdir(), 'bicep-tools-'));
    try {
      const result = spawnSync(
        process.execPath,
        [join(ROOT, 'scripts', 'bicep.js'), '--tools-dir', toolsDir],
        {
          env: { PATH: toolsDir, HOME: process.env.HOME },
          encoding: 'utf8',
        },
      );
      expect(result.status).toBe(2);
      expect(result.stdout).toBe('');
      expect(result.stderr.trim().split('\n')).toEqual([
        expect.stringMatching(
          /^bicep: Bicep 0\.49\.2 is installed on first use from NuGet with the \.NET SDK, .*Install the \.NET SDK/,
        ),
      ]);
    } finally {
      rmSync(toolsDir, { recursive: true, force: true });
    }
  });
});

describe('Bicep (infra/)', () => {
  let outDir = '';
  let validation: { status: number | null; output: string } = { status: null, output: '' };

  beforeAll(() => {
    outDir = mkdtempSync(join(tmpdir(), 'infra-'));
    const result = spawnSync('bash', [join(ROOT, 'scripts', 'validate-infra.sh'), outDir], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 120_000,
    });
    validation = { status: result.status, output: `${result.stdout}${result.stderr}` };
    // The one line saying that Bicep was installed (first use only) reaches the person running the tests.
    const installed = /^Installing the Bicep CLI .*$/m.exec(result.stderr ?? '');
    if (installed) process.stderr.write(`[tests] ${installed[0]}\n`);
  }, 180_000);

  afterAll(() => {
    if (outDir) rmSync(outDir, { recursive: true, force: true });
  });

  it('compiles and lints without a warning (the Bicep CLI installs itself on first use)', () => {
    if (validation.status === 2) throw new Error(validation.output.trim());
    expect({ status: validation.status, output: validation.output }).toEqual({
      status: 0,
      output: expect.stringContaining('builds and lints clean'),
    });
  });

  it('deploys the hardened resources: RBAC vault, keyless storage, Entra-only telemetry, a container Function App', () => {
    const templatePath = join(outDir, 'main.json');
    if (!existsSync(templatePath))
      throw new Error(`no compiled template (the Bicep build failed):\n${validation.output}`);
    const resources = flattenResources(JSON.parse(readFileSync(templatePath, 'utf8')) as Template);
    const of = (type: string) => resources.filter((r) => r.type === type);
    expect(of('Microsoft.KeyVault/vaults').map((r) => r.properties?.enableRbacAuthorization)).toEqual([true]);
    expect(of('Microsoft.Storage/storageAccounts').map((r) => r.properties?.allowSharedKeyAccess)).toEqual([
      false,
    ]);
    expect(of('Microsoft.Insights/components').map((r) => r.properties?.DisableLocalAuth)).toEqual([true]);
    expect(of('Microsoft.Web/sites').map((r) => r.kind)).toEqual(['functionapp,linux,container']);
    expect(of('Microsoft.ManagedIdentity/userAssignedIdentities')).toHaveLength(1);
    const assignments = of('Microsoft.Authorization/roleAssignments');
    expect(assignments.length).toBeGreaterThan(0);
    for (const assignment of assignments) expect(String(assignment.name)).toMatch(/^\[guid\(/);
  });

  it('names role definition ids only in infra/roles.bicep, and gives the app only vault-scoped Key Vault roles', () => {
    const guid = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/i;
    const offenders = filesUnder('infra', '.bicep').filter(
      (file) => !file.endsWith('roles.bicep') && guid.test(read(file)),
    );
    expect(offenders).toEqual([]);
    const rbac = read('infra/core/rbac.bicep');
    for (const role of ['keyVaultSecretsUser', 'keyVaultCertificateUser']) {
      expect(rbac).toMatch(
        new RegExp(`name: guid\\(vault\\.id, appIdentity\\.id, roleIds\\.${role}\\)\\n {2}scope: vault\\n`),
      );
    }
  });
});

interface TemplateResource {
  type: string;
  name?: unknown;
  kind?: string;
  existing?: boolean;
  properties?: Record<string, unknown> & { template?: Template };
}
interface Template {
  resources?: TemplateResource[] | Record<string, TemplateResource>;
}

/** Every resource a compiled template deploys, nested module deployments included (lookups of existing ones not). */
function flattenResources(template: Template): TemplateResource[] {
  const own = Array.isArray(template.resources)
    ? template.resources
    : Object.values(template.resources ?? {});
  return own
    .filter((resource) => !resource.existing)
    .flatMap((resource) =>
      resource.type === 'Microsoft.Resources/deployments' && resource.properties?.template
        ? flattenResources(resource.properties.template)
        : [resource],
    );
}
