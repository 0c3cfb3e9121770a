/**
 * `exo-workflow-sync sandbox`: a new user's first look, no Azure needed. It starts the SaaS Manager
 * simulator and a stub Exchange tenant (our ExchangeOnlineManagement stand-in, loaded by name
 * through PSModulePath into real PowerShell), seeds a handful of leavers, and runs a real sweep
 * through the same composition root as production, then shows what changed on both sides.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sweep } from '../shared/composition';
import { loadConfig } from '../shared/config';
import { describePowerShell, ensurePowerShell } from '../shared/exchange/findPowerShell';
import { streamLogger } from '../shared/logging';
import { renderReport, wrap, type SweepReport } from '../shared/sweep/report';
import { createTestCertificate } from '../sandbox/certificates';
import { ExchangeStubTenant, STUB_APP_ID, STUB_ORGANIZATION } from '../sandbox/exchangeStubTenant';
import { SaasManagerSimulator, type SimPerson } from '../sandbox/saasManagerSimulator';
import type { CliIo } from './io';
import { progressPrinter } from './progress';

export interface SandboxOptions {
  json: boolean;
  dryRun: boolean;
}

interface SandboxLeaver {
  person: SimPerson;
  /** Why this run fails, on purpose: the sandbox shows what a failure looks like. */
  failsOnPurpose?: string;
}

const LEAVERS: SandboxLeaver[] = [
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
    failsOnPurpose:
      'a hostile address (PowerShell code in the email): refused by the planner, never reaches PowerShell',
  },
  {
    person: {
      name: 'Gone Already',
      email: 'gone.already@contoso.com',
      lineManager: { email: 'sam.boss@contoso.com' },
    },
    failsOnPurpose: 'no such mailbox in the tenant: Exchange cannot find it, so the run is not signalled',
  },
];

export async function runSandbox(options: SandboxOptions, io: CliIo): Promise<number> {
  const found = ensurePowerShell(io.env, (line) => io.stderr.write(`${line}\n`));
  const powerShell = await describePowerShell(found, { env: io.env });
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
        ...wrap(
          `  SaaS Manager (simulated): ${simulator.baseUrl}, workflow 'Terminate Users' with ${LEAVERS.length} runs waiting at 'Signal'`,
          '',
          '    ',
        ),
        ...wrap(`  Exchange Online (stub module, state ${tenant.statePath})`, '', '    '),
        ...wrap(
          `  PowerShell ${powerShell.version} at ${powerShell.executable} (${powerShell.source})`,
          '',
          '    ',
        ),
        '',
      ].join('\n'),
    );

    const config = loadConfig(env);
    const progress = progressPrinter(io.stderr);
    const report = await sweep(
      config,
      { logger: streamLogger(io.stderr), env },
      { dryRun: config.dryRun, onProgress: progress },
    );
    progress.finish();

    const verdict = judge(report);
    if (options.json) {
      // stdout stays one JSON document (the report); the explanation goes to stderr.
      io.stdout.write(`${JSON.stringify(report)}\n`);
      io.stderr.write(`${verdict.lines.join('\n')}\n`);
    } else {
      io.stdout.write(`${renderReport(report)}\n\n`);
      io.stdout.write(`${describeTenant(tenant, simulator)}\n\n`);
      io.stdout.write(`${verdict.lines.join('\n')}\n`);
    }
    return verdict.exitCode;
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
      ...wrap(
        `  ${address}: ${mailbox.recipientTypeDetails}; Full Access: ${tenant.fullAccessOn(address).join(', ') || 'none'}; ` +
          `Send As: ${tenant.sendAsOn(address).join(', ') || 'none'}; still in: ${groups.join(', ') || 'no groups'}`,
        '',
        '    ',
      ),
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

/**
 * The sandbox's own verdict. A sweep exits 1 when any run failed; here two runs fail on purpose,
 * so the sandbox exits 0 when exactly those failed and every other run succeeded, and 1 otherwise
 * (something is wrong with this installation). It says so, and what to do next.
 */
export function judge(report: SweepReport): { exitCode: 0 | 1; lines: string[] } {
  const lines: string[] = [];
  const add = (text: string, rest = '    ') => lines.push(...wrap(text, '', rest));
  const expected = new Map(
    LEAVERS.filter((leaver) => leaver.failsOnPurpose).map((leaver) => [
      leaver.person.email,
      leaver.failsOnPurpose,
    ]),
  );
  const unexpected = report.runs.filter(
    (run) => (run.outcome === 'failed') !== expected.has(run.email) || run.outcome === 'skipped',
  );
  const ok = unexpected.length === 0 && report.runs.length === LEAVERS.length;
  add(
    `${report.summary.failed} run(s) failed, ${expected.size} of them on purpose, to show what a failure looks like:`,
  );
  for (const [email, why] of expected) add(`  - ${email}: ${why}`);
  if (ok) {
    add(
      'Exit code 0: the sandbox succeeds when exactly these runs fail. (A real sweep exits 1 when any run fails.)',
      '  ',
    );
  } else {
    add('Exit code 1: the sandbox did not end as designed; these runs ended unexpectedly:', '  ');
    for (const run of unexpected)
      add(`  - ${run.email || run.runId}: ${run.outcome}${run.error ? ` (${run.error})` : ''}`);
  }
  lines.push('');
  lines.push('Next steps:');
  add('  1. Set your settings (README, "Configuration") and run: npx exo-workflow-sync check');
  add('  2. Deploy to Azure with docs/deploy.md (dry run first).');
  return { exitCode: ok ? 0 : 1, lines };
}
