import { inspect } from 'node:util';
import { ConfigError } from '../../shared/errors';
import { DEFAULTS, loadConfig, SETTINGS, type Config } from '../../shared/config';

/** The certificate settings, present only with EXO_AUTH=certificate. */
const certificateOf = (config: Config) =>
  config.exchange.auth === 'certificate' ? config.exchange.certificate : undefined;

const valid = {
  TRELICA_CLIENT_ID: 'client',
  TRELICA_CLIENT_SECRET: 's3cr3t-value',
  EXO_APP_ID: '6f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9',
  EXO_ORGANIZATION: 'Contoso.onmicrosoft.com',
  KEY_VAULT_URL: 'https://contoso-kv.vault.azure.net/',
};

function problemsOf(env: Record<string, string | undefined>): string[] {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return [...error.problems];
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('reads the identity policy: shared leavers refused and nobody protected by default, a list of addresses otherwise', () => {
    expect(loadConfig(valid).exchange).toMatchObject({ acceptSharedLeavers: false, protectedRecipients: [] });
    const config = loadConfig({
      ...valid,
      EXO_ACCEPT_SHARED_LEAVERS: 'true',
      EXO_PROTECTED_RECIPIENTS: ' CEO@contoso.com, breakglass@contoso.com ,,ceo@contoso.com',
    });
    expect(config.exchange).toMatchObject({
      acceptSharedLeavers: true,
      protectedRecipients: ['ceo@contoso.com', 'breakglass@contoso.com'],
    });
    expect(problemsOf({ ...valid, EXO_PROTECTED_RECIPIENTS: "ceo@contoso.com, x'; Set-Mailbox" })).toEqual([
      expect.stringMatching(/^EXO_PROTECTED_RECIPIENTS lists .* which must contain exactly one @/),
    ]);
  });

  it('reads EXO_SESSIONS (default 4, 1 to 8) and SWEEP_MODE (default queue), reporting bad values', () => {
    expect(loadConfig(valid).exchange.sessions).toBe(4);
    expect(loadConfig(valid).sweepMode).toBe('queue');
    expect(loadConfig({ ...valid, EXO_SESSIONS: '8', SWEEP_MODE: 'inline' })).toMatchObject({
      exchange: { sessions: 8 },
      sweepMode: 'inline',
    });
    const problems = problemsOf({ ...valid, EXO_SESSIONS: '9', SWEEP_MODE: 'fanout' });
    expect(problems.find((p) => p.startsWith('EXO_SESSIONS'))).toContain('(got "9")');
    expect(problems.find((p) => p.startsWith('SWEEP_MODE'))).toMatch(/inline, queue/);
    expect(problemsOf({ ...valid, EXO_SESSIONS: '0' }).some((p) => p.startsWith('EXO_SESSIONS'))).toBe(true);
  });

  it('applies the documented defaults', () => {
    const config = loadConfig(valid);
    expect(config.trelica.baseUrl).toBe(DEFAULTS.TRELICA_BASE_URL);
    expect(config.trelica.pageSize).toBe(100);
    expect(config.workflows).toEqual({
      names: ['Terminate Users'],
      stepName: 'Signal',
      actionName: 'Continue',
    });
    expect(config.exchange).toMatchObject({
      organization: 'contoso.onmicrosoft.com',
      auth: 'certificate',
      autoMapping: true,
      actions: [
        'convertToShared',
        'grantManagerFullAccess',
        'grantManagerSendAs',
        'removeFromDistributionGroups',
      ],
    });
    expect(config.dryRun).toBe(false);
    expect(config.schedule).toBe('0 0 * * * *');
    expect(certificateOf(config)).toEqual({
      kind: 'keyVault',
      vaultUrl: 'https://contoso-kv.vault.azure.net',
      name: 'exo-app-only',
      credential: 'azureCli',
    });
  });

  it('uses the managed identity for Key Vault when running in Azure', () => {
    const config = loadConfig({
      ...valid,
      IDENTITY_ENDPOINT: 'http://localhost:8081/msi/token',
      AZURE_CLIENT_ID: '0d6c1c1e-8a49-4a4b-9c2c-3f1d0e5b6a7c',
    });
    expect(certificateOf(config)).toMatchObject({
      credential: 'managedIdentity',
      managedIdentityClientId: '0d6c1c1e-8a49-4a4b-9c2c-3f1d0e5b6a7c',
    });
  });

  it('treats empty strings as missing and reports every problem at once, naming each setting', () => {
    const problems = problemsOf({
      TRELICA_CLIENT_ID: '',
      TRELICA_CLIENT_SECRET: '  ',
      EXO_APP_ID: 'not-a-guid',
      EXO_ORGANIZATION: 'contoso.com',
      TRELICA_BASE_URL: 'ftp://example.com',
      TRELICA_PAGE_SIZE: '5000',
      DRY_RUN: 'maybe',
      EXO_ACTIONS: 'convertToShared,deleteEverything',
      SWEEP_SCHEDULE: 'every hour',
      EXO_AUTH: 'password',
    });
    const joined = problems.join('\n');
    for (const setting of [
      'TRELICA_CLIENT_ID',
      'TRELICA_CLIENT_SECRET',
      'EXO_ORGANIZATION',
      'TRELICA_BASE_URL',
      'TRELICA_PAGE_SIZE',
      'DRY_RUN',
      'EXO_ACTIONS',
      'SWEEP_SCHEDULE',
      'EXO_AUTH',
    ]) {
      expect(joined).toContain(setting);
    }
  });

  it('still checks the certificate settings when EXO_AUTH itself is invalid', () => {
    const problems = problemsOf({
      ...valid,
      EXO_AUTH: 'pasword',
      EXO_APP_ID: 'app-42',
      KEY_VAULT_URL: 'http://vault.example.com',
    });
    expect(problems).toEqual(
      expect.arrayContaining([
        'EXO_AUTH must be one of certificate, managedIdentity (got "pasword")',
        'EXO_APP_ID must be the Entra application (client) id, a GUID (got "app-42")',
        'KEY_VAULT_URL must be an https:// URL such as https://my-vault.vault.azure.net (got "http://vault.example.com")',
      ]),
    );
  });

  it('echoes each bad value, naming the wrong entry of a list', () => {
    const problems = problemsOf({
      ...valid,
      EXO_ACTIONS: 'convertToShared, deleteEverything ,grantManagerSendAs',
      TRELICA_BASE_URL: 'ftp://example.com',
      TRELICA_PAGE_SIZE: '5000',
      DRY_RUN: 'maybe',
      EXO_ORGANIZATION: 'contoso.com',
      SWEEP_SCHEDULE: 'every hour',
      AZURE_CLIENT_ID: 'me',
    });
    const byName = (name: string) => problems.find((p) => p.startsWith(`${name} `)) ?? '';
    expect(byName('EXO_ACTIONS')).toMatch(
      /^EXO_ACTIONS entry 2 \(got "deleteEverything"\) is not valid: must be one of convertToShared, /,
    );
    expect(byName('TRELICA_BASE_URL')).toContain('(got "ftp://example.com")');
    expect(byName('TRELICA_PAGE_SIZE')).toContain('(got "5000")');
    expect(byName('DRY_RUN')).toContain('(got "maybe")');
    expect(byName('EXO_ORGANIZATION')).toContain('(got "contoso.com")');
    expect(byName('SWEEP_SCHEDULE')).toContain('(got "every hour")');
    expect(byName('AZURE_CLIENT_ID')).toContain('(got "me")');
  });

  it('never echoes the value of a secret setting, even in a message about another problem', () => {
    const secrets = {
      TRELICA_CLIENT_SECRET: 'hunter2-client-secret',
      EXO_CERTIFICATE_PASSWORD: 'hunter2-pfx-password',
      AzureWebJobsStorage: 'DefaultEndpointsProtocol=https;AccountKey=hunter2key',
    };
    let message = '';
    try {
      loadConfig({ ...secrets, EXO_AUTH: 'nope', TRELICA_PAGE_SIZE: 'x', EXO_ACTIONS: 'x' });
    } catch (error) {
      message = JSON.stringify(error) + String(error) + (error as Error).message;
    }
    expect(message).toMatch(/EXO_AUTH must be one of/);
    expect(message).not.toMatch(/hunter2/);
  });

  it('asks for a certificate source in certificate mode, and for only one of them', () => {
    expect(problemsOf({ ...valid, KEY_VAULT_URL: '' }).join()).toMatch(
      /KEY_VAULT_URL is required when EXO_AUTH=certificate/,
    );
    expect(problemsOf({ ...valid, EXO_CERTIFICATE_PATH: '/tmp/x.pfx' }).join()).toMatch(/not both/);
  });

  it('needs no certificate or app id with EXO_AUTH=managedIdentity', () => {
    const config = loadConfig({ ...valid, EXO_AUTH: 'managedIdentity', EXO_APP_ID: '', KEY_VAULT_URL: '' });
    expect(certificateOf(config)).toBeUndefined();
    expect(config.exchange.auth).toBe('managedIdentity');
  });

  it('selects file mode for local development', () => {
    const config = loadConfig({
      ...valid,
      KEY_VAULT_URL: undefined,
      EXO_CERTIFICATE_PATH: './dev.pfx',
      EXO_CERTIFICATE_PASSWORD: 'pw',
    });
    expect(certificateOf(config)).toMatchObject({ kind: 'file', path: './dev.pfx' });
  });

  it('never shows the client secret or certificate password when the config is logged', () => {
    const config = loadConfig({
      ...valid,
      KEY_VAULT_URL: undefined,
      EXO_CERTIFICATE_PATH: './dev.pfx',
      EXO_CERTIFICATE_PASSWORD: 'pfx-pass-123',
    });
    const shown = `${JSON.stringify(config)} ${inspect(config, { depth: 10 })} ${String(config.trelica.clientSecret)}`;
    expect(shown).not.toContain('s3cr3t-value');
    expect(shown).not.toContain('pfx-pass-123');
    expect(config.trelica.clientSecret.reveal()).toBe('s3cr3t-value');
  });

  it('has no verify timer unless VERIFY_SCHEDULE is set, and checks its schedule and VERIFY_SINCE_DAYS', () => {
    expect(loadConfig(valid).verify).toEqual({ sinceDays: 30 });
    expect(loadConfig({ ...valid, VERIFY_SCHEDULE: ' ', VERIFY_SINCE_DAYS: '' }).verify).toEqual({
      sinceDays: 30,
    });
    expect(loadConfig({ ...valid, VERIFY_SCHEDULE: '0 30 5 * * *', VERIFY_SINCE_DAYS: '7' }).verify).toEqual({
      schedule: '0 30 5 * * *',
      sinceDays: 7,
    });
    expect(problemsOf({ ...valid, VERIFY_SCHEDULE: 'daily', VERIFY_SINCE_DAYS: '0' })).toEqual([
      expect.stringMatching(/^VERIFY_SINCE_DAYS must be a whole number from 1 to 3650/),
      expect.stringMatching(/^VERIFY_SCHEDULE must be an NCRONTAB expression .*\(got "daily"\)$/),
    ]);
  });

  it('documents a default for every defaulted setting in the settings table', () => {
    for (const name of Object.keys(DEFAULTS)) expect(Object.keys(SETTINGS)).toContain(name);
  });

  it('reads storage as one of three kinds: a connection string, identity-based endpoints, or local folders', () => {
    expect(loadConfig(valid).storage).toEqual({ kind: 'local' });
    expect(loadConfig({ ...valid, EXO_RUN_RECORDS_DIR: '/var/runs' }).storage).toEqual({
      kind: 'local',
      runRecordsDir: '/var/runs',
    });
    const connection = loadConfig({ ...valid, AzureWebJobsStorage: 'UseDevelopmentStorage=true' }).storage;
    expect(connection.kind).toBe('connectionString');
    expect(JSON.stringify(connection)).not.toContain('UseDevelopmentStorage');
    expect(
      loadConfig({
        ...valid,
        AzureWebJobsStorage__blobServiceUri: 'https://stexo.blob.core.windows.net',
        AzureWebJobsStorage__credential: 'managedidentity',
        AzureWebJobsStorage__clientId: '0d6c1c1e-8a49-4a4b-9c2c-3f1d0e5b6a7c',
      }).storage,
    ).toEqual({
      kind: 'identity',
      blobServiceUri: 'https://stexo.blob.core.windows.net',
      tableServiceUri: 'https://stexo.table.core.windows.net',
      queueServiceUri: 'https://stexo.queue.core.windows.net',
      clientId: '0d6c1c1e-8a49-4a4b-9c2c-3f1d0e5b6a7c',
    });
  });

  it('reports every identity-based storage mistake at once', () => {
    expect(
      problemsOf({
        ...valid,
        AzureWebJobsStorage: 'UseDevelopmentStorage=true',
        AzureWebJobsStorage__blobServiceUri: 'http://stexo.blob.core.windows.net',
        AzureWebJobsStorage__credential: 'connectionstring',
        AzureWebJobsStorage__clientId: 'me',
      }),
    ).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^AzureWebJobsStorage__blobServiceUri must be an https:\/\/ URL/),
        expect.stringMatching(/^AzureWebJobsStorage__credential must be managedidentity/),
        expect.stringMatching(/^AzureWebJobsStorage__clientId must be a client id \(GUID\)/),
        expect.stringMatching(
          /^AzureWebJobsStorage__blobServiceUri set either AzureWebJobsStorage .* not both/,
        ),
      ]),
    );
    expect(
      problemsOf({ ...valid, AzureWebJobsStorage__tableServiceUri: 'https://x.table.core.windows.net' }),
    ).toEqual([
      'AzureWebJobsStorage__tableServiceUri needs AzureWebJobsStorage__blobServiceUri (identity-based storage)',
    ]);
  });
});
