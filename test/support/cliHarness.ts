/**
 * End-to-end harness: the compiled CLI (dist/cli/main.js) as a child process, against the SaaS
 * Manager simulator, the stub Exchange tenant loaded into real PowerShell (the engine host or pwsh),
 * and a throwaway certificate file. Nothing here is a production code path.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestCertificate, type TestCertificate } from '../../sandbox/certificates';
import {
  ExchangeStubTenant,
  STUB_APP_ID,
  STUB_ORGANIZATION,
  type ExchangeStubTenantOptions,
} from '../../sandbox/exchangeStubTenant';
import {
  SaasManagerSimulator,
  type SimPerson,
  type SimulatorOptions,
} from '../../sandbox/saasManagerSimulator';

export const ROOT = join(__dirname, '..', '..');
export const CLI = join(ROOT, 'dist', 'cli', 'main.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The compiled CLI (or another copy of it, `cli`) as a child process. */
export function runCli(
  args: string[],
  env: NodeJS.ProcessEnv,
  timeoutMs = 60_000,
  cli = CLI,
): Promise<CliResult> {
  if (!existsSync(cli))
    throw new Error(`${cli} is missing: run \`npm run build\` (npm test does it in pretest)`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`CLI ${args.join(' ')} did not finish within ${timeoutMs} ms\n${stderr}`));
    }, timeoutMs);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

export interface Leaver {
  person: SimPerson;
}

/** A simulated SaaS Manager + Exchange pair with a workflow "Terminate Users" waiting at "Signal". */
export class EndToEndWorld {
  readonly simulator: SaasManagerSimulator;
  readonly tenant: ExchangeStubTenant;
  readonly certificate: TestCertificate;
  readonly workflowId: string;
  readonly workDir: string;
  readonly clientSecret = randomBytes(18).toString('base64url');
  private readonly pfxPath: string;
  private readonly pfxPassword = randomBytes(9).toString('base64url');

  private constructor(
    simulator: SaasManagerSimulator,
    tenantOptions: ExchangeStubTenantOptions,
    certificate: TestCertificate,
  ) {
    this.simulator = simulator;
    this.certificate = certificate;
    this.tenant = ExchangeStubTenant.create({ certificate, ...tenantOptions });
    this.workDir = mkdtempSync(join(tmpdir(), 'exo-e2e-'));
    this.pfxPath = join(this.workDir, 'app.pfx');
    writeFileSync(this.pfxPath, certificate.pfxWithPassword(this.pfxPassword), { mode: 0o600 });
    simulator.addClient({ clientId: 'e2e-client', clientSecret: this.clientSecret });
    this.workflowId = simulator.addWorkflow({
      name: 'Terminate Users',
      steps: [{ name: 'Offboard person from apps', type: 'OffboardPersonApps' }, { name: 'Signal' }],
    }).id;
  }

  static async create(
    tenantOptions: ExchangeStubTenantOptions,
    simulatorOptions: SimulatorOptions = {},
    certificate: TestCertificate = createTestCertificate({ keySize: 1024 }),
  ): Promise<EndToEndWorld> {
    const simulator = new SaasManagerSimulator(simulatorOptions);
    await simulator.start();
    return new EndToEndWorld(simulator, tenantOptions, certificate);
  }

  addWaitingRun(person: SimPerson, actions?: string[]): string {
    return this.simulator.addRun(this.workflowId, {
      person,
      waitingAtStepName: 'Signal',
      ...(actions ? { actions } : {}),
    });
  }

  /** The CLI's environment: only what a user would set, plus PSModulePath for the stub module. */
  env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    return {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      TMPDIR: this.workDir,
      NODE_POWERSHELL: process.env.NODE_POWERSHELL,
      ...this.tenant.env,
      TRELICA_BASE_URL: this.simulator.baseUrl,
      TRELICA_CLIENT_ID: 'e2e-client',
      TRELICA_CLIENT_SECRET: this.clientSecret,
      EXO_APP_ID: STUB_APP_ID,
      EXO_ORGANIZATION: STUB_ORGANIZATION,
      EXO_CERTIFICATE_PATH: this.pfxPath,
      EXO_CERTIFICATE_PASSWORD: this.pfxPassword,
      EXO_CALL_TIMEOUT_SECONDS: '30',
      // One session unless a test asks for more: the pool has its own tests, and the test machine is small.
      EXO_SESSIONS: '1',
      // Run records of this world only (without AzureWebJobsStorage they are files).
      EXO_RUN_RECORDS_DIR: join(this.workDir, 'runs'),
      ...extra,
    };
  }

  async dispose(): Promise<void> {
    await this.simulator.stop();
    this.tenant.dispose();
    rmSync(this.workDir, { recursive: true, force: true });
  }
}

/** Exactly one JSON document on stdout (the --json contract), parsed. */
export function parseJsonDocument<T>(stdout: string): T {
  const lines = stdout.split('\n').filter((line) => line.trim() !== '');
  if (lines.length !== 1)
    throw new Error(`expected exactly one JSON line on stdout, got ${lines.length}:\n${stdout}`);
  return JSON.parse(lines[0] as string) as T;
}

/** A sweep's --json report. */
export function parseReport(stdout: string): import('../../shared/sweep/report').SweepReport {
  return parseJsonDocument(stdout);
}
