/**
 * `exo-workflow-sync sandbox`: a new user's first look, no Azure needed. It starts the SaaS Manager
 * simulator and a stub Exchange tenant (our ExchangeOnlineManagement stand-in, loaded by name
 * through PSModulePath into real PowerShell), seeds a handful of leavers, and runs a real sweep
 * through the same composition root as production, then shows what changed on both sides.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sweep } from '../shared/composition';
import { loadConfig } from '../shared/config';
import { describePowerShell, findPackageRoot, findPowerShell } from '../shared/exchange/findPowerShell';
import { streamLogger } from '../shared/logging';
import { renderReport } from '../shared/sweep/report';
import { createTestCertificate } from '../test/support/certificates';
import { ExchangeStubTenant, STUB_APP_ID, STUB_ORGANIZATION } from '../test/support/exchangeStubTenant';
import { SaasManagerSimulator } from '../test/support/saasManagerSimulator';
import { progressPrinter, type CliIo } from './main';

export interface SandboxOptions {
  json: boolean;
  dryRun: boolean;
}

const LEAVERS = [
  {
    person: {
      name: 'Stephanie Mason',
      firstName: 'Stephanie',
      lastName: 'Mason',
      email: 'stephanie.mason@contoso.com',
      lineManager: { name: 'Sam Boss', email: 'sam.boss@contoso.com' },
    },
  },
  {
    person: {
      name: "Aoife O'Brien",
      email: "aoife.o'brien@contoso.com",
      lineManager: { email: 'sam.boss@contoso.com' },
    },
  },
  { person: { name: 'Zoë Ångström', email: 'zoë.ångström@contoso.com' } },
  {
    person: {
      name: 'Robert Tables',
      email: "bobby'; Remove-Mailbox sam.boss -Confirm:$false; '@contoso.com",
    },
  },
  {
    person: {
      name: 'Gone Already',
      email: 'gone.already@contoso.com',
      lineManager: { email: 'sam.boss@contoso.com' },
    },
  },
];

/** PowerShell for the sandbox: whatever the product would use, else build the engine host once. */
function ensurePowerShell(io: CliIo): string {
  try {
    return findPowerShell(io.env).executable;
  } catch (error) {
    const root = findPackageRoot(__dirname);
    const script = root === undefined ? undefined : join(root, 'tools', 'pwsh-engine', 'build.sh');
    if (script === undefined || !existsSync(script)) throw error;
    io.stderr.write(
      'No pwsh found: building the PowerShell 7.6.9 engine host (first run only, needs the .NET 10 SDK)...\n',
    );
    const build = spawnSync('bash', [script], { stdio: ['ignore', 'inherit', 'inherit'] });
    if (build.status !== 0) throw error;
    return findPowerShell(io.env).executable;
  }
}

export async function runSandbox(options: SandboxOptions, io: CliIo): Promise<number> {
  const executable = ensurePowerShell(io);
  const powerShell = await describePowerShell(executable);
  const certificate = createTestCertificate({ commonName: 'exo-workflow-sync sandbox', keySize: 2048 });
  const workDir = mkdtempSync(join(tmpdir(), 'exo-sandbox-'));
  const simulator = new SaasManagerSimulator();
  const tenant = ExchangeStubTenant.create({
    certificate,
    mailboxes: [
      { address: 'stephanie.mason@contoso.com', displayName: 'Stephanie Mason' },
      { address: "aoife.o'brien@contoso.com", displayName: "Aoife O'Brien" },
      { address: 'zoë.ångström@contoso.com', displayName: 'Zoë Ångström' },
      { address: 'sam.boss@contoso.com', displayName: 'Sam Boss' },
      { address: 'other.colleague@contoso.com', displayName: 'Other Colleague' },
    ],
    groups: [
      { name: 'Sales', members: ['stephanie.mason@contoso.com', 'other.colleague@contoso.com'] },
      {
        name: 'All Staff',
        members: ['stephanie.mason@contoso.com', "aoife.o'brien@contoso.com", 'zoë.ångström@contoso.com'],
      },
      {
        name: 'Finance Approvers',
        type: 'MailUniversalSecurityGroup',
        members: ['stephanie.mason@contoso.com'],
      },
      { name: 'Project Phoenix', type: 'GroupMailbox', members: ['stephanie.mason@contoso.com'] },
    ],
    fullAccess: [{ mailbox: "aoife.o'brien@contoso.com", user: 'sam.boss@contoso.com' }],
  });
  try {
    await simulator.start();
    const clientSecret = randomBytes(24).toString('base64url');
    simulator.addClient({ clientId: 'sandbox-client', clientSecret });
    const workflow = simulator.addWorkflow({
      name: 'Terminate Users',
      steps: [{ name: 'Offboard person from apps', type: 'OffboardPersonApps' }, { name: 'Signal' }],
    });
    for (const leaver of LEAVERS)
      simulator.addRun(workflow.id, { person: leaver.person, waitingAtStepName: 'Signal' });

    // A throwaway self-signed certificate made just now for the stub tenant; file mode, as in local development.
    const pfxPath = join(workDir, 'sandbox.pfx');
    const pfxPassword = randomBytes(12).toString('base64url');
    writeFileSync(pfxPath, certificate.pfxWithPassword(pfxPassword), { mode: 0o600 });

    const env: NodeJS.ProcessEnv = {
      ...io.env,
      ...tenant.env,
      NODE_POWERSHELL: executable,
      TRELICA_BASE_URL: simulator.baseUrl,
      TRELICA_CLIENT_ID: 'sandbox-client',
      TRELICA_CLIENT_SECRET: clientSecret,
      WORKFLOW_NAMES: 'Terminate Users',
      WORKFLOW_STEP_NAME: 'Signal',
      WORKFLOW_ACTION_NAME: 'Continue',
      EXO_AUTH: 'certificate',
      // The sandbox's run records live and go with its work folder, never in the user's home.
      EXO_RUN_RECORDS_DIR: join(workDir, 'runs'),
      EXO_APP_ID: STUB_APP_ID,
      EXO_ORGANIZATION: STUB_ORGANIZATION,
      EXO_CERTIFICATE_PATH: pfxPath,
      EXO_CERTIFICATE_PASSWORD: pfxPassword,
      KEY_VAULT_URL: '',
      AzureWebJobsStorage: '',
      DRY_RUN: options.dryRun ? 'true' : 'false',
    };

    io.stderr.write(
      [
        'exo-workflow-sync sandbox',
        `  SaaS Manager (simulated): ${simulator.baseUrl}, workflow 'Terminate Users' with ${LEAVERS.length} runs waiting at 'Signal'`,
        `  Exchange Online (stub module, state ${tenant.env.EXO_STUB_STATE})`,
        `  PowerShell: ${powerShell.executable} (${powerShell.version})`,
        '',
      ].join('\n'),
    );

    const config = loadConfig(env);
    const report = await sweep(
      config,
      { logger: streamLogger(io.stderr), env },
      { dryRun: config.dryRun, onProgress: progressPrinter(io.stderr) },
    );

    if (options.json) {
      io.stdout.write(`${JSON.stringify(report)}\n`);
    } else {
      io.stdout.write(`${renderReport(report)}\n\n`);
      io.stdout.write(`${describeTenant(tenant, simulator)}\n`);
    }
    // Two leavers fail on purpose (a hostile address, a mailbox that does not exist): the sandbox
    // demonstrates that, so it succeeds when the sweep itself ran.
    return 0;
  } finally {
    await simulator.stop();
    tenant.dispose();
    rmSync(workDir, { recursive: true, force: true });
  }
}

function describeTenant(tenant: ExchangeStubTenant, simulator: SaasManagerSimulator): string {
  const lines = ['What the sweep did:'];
  for (const address of [
    'stephanie.mason@contoso.com',
    "aoife.o'brien@contoso.com",
    'zoë.ångström@contoso.com',
  ]) {
    const mailbox = tenant.mailbox(address);
    const groups = tenant.groupsOf(address);
    lines.push(
      `  ${address}: ${mailbox.recipientTypeDetails}; Full Access: ${tenant.fullAccessOn(address).join(', ') || 'none'}; ` +
        `Send As: ${tenant.sendAsOn(address).join(', ') || 'none'}; still in: ${groups.join(', ') || 'no groups'}`,
    );
  }
  const changes = tenant
    .calls()
    .filter((call) => /^(Set|Add|Remove)-/.test(call.cmdlet) && !call.parameters.WhatIf);
  lines.push(`  Exchange changes made: ${changes.length} (${tenant.calls().length} cmdlet calls in all)`);
  lines.push(`  Runs signalled 'Continue' in SaaS Manager: ${simulator.signals.length}`);
  lines.push(
    '  Failed runs stay waiting in SaaS Manager; fix the data there and the next sweep retries them.',
  );
  return lines.join('\n');
}
