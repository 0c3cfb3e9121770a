/**
 * End to end through the compiled CLI, the SaaS Manager simulator, the stub Exchange module and real
 * PowerShell (the engine host in CI): what an admin running `exo-workflow-sync sweep` would see.
 */
import { startAzuriteStorage, type AzuriteStorage } from '../support/azurite';
import { EndToEndWorld, parseReport, runCli } from '../support/cliHarness';

const people = (n: number) =>
  Array.from({ length: n }, (_, i) => ({
    address: `leaver${i + 1}@contoso.com`,
    person: {
      name: `Leaver ${i + 1}`,
      email: `leaver${i + 1}@contoso.com`,
      lineManager: { email: 'boss@contoso.com' },
    },
  }));

function tenantFor(n: number) {
  return {
    mailboxes: [
      ...people(n).map((p) => ({ address: p.address })),
      { address: 'boss@contoso.com' },
      { address: 'bystander@contoso.com' },
    ],
    groups: [
      { name: 'All Staff', members: [...people(n).map((p) => p.address), 'bystander@contoso.com'] },
      {
        name: 'Security Admins',
        type: 'MailUniversalSecurityGroup' as const,
        members: people(n).map((p) => p.address),
      },
    ],
  };
}

const changeCmdlets = (world: EndToEndWorld) =>
  world.tenant
    .calls()
    .filter(
      (call) =>
        /^(Set|Add|Remove)-/.test(call.cmdlet) && call.cmdlet !== 'Set-ExoStub' && !call.parameters.WhatIf,
    );

describe('exo-workflow-sync sweep (CLI, end to end)', () => {
  let world: EndToEndWorld;
  afterEach(async () => world?.dispose());

  it('processes every run over several pages, converts, grants, removes from lists and signals each once', async () => {
    world = await EndToEndWorld.create(tenantFor(5));
    const runIds = people(5).map((p) => world.addWaitingRun(p.person));
    const result = await runCli(['sweep', '--json'], world.env({ TRELICA_PAGE_SIZE: '2' }));
    expect(result.stderr).toContain('[Terminate Users] 5 run(s) waiting');
    // Progress on stderr (not a terminal here): one plain line per finished run, each run once.
    expect(result.stderr).toMatch(/^1\/5 done, 0 failed, \d+:\d\d elapsed, ~\d+:\d\d left: completed /m);
    expect(result.stderr).toMatch(/^5\/5 done, 0 failed, \d+:\d\d elapsed: completed /m);
    expect(result.code).toBe(0);
    const report = parseReport(result.stdout);
    expect(report.summary).toEqual({ completed: 5, failed: 0, skipped: 0, planned: 0 });
    expect(report.runs.every((run) => run.signalled)).toBe(true);
    expect(world.simulator.requestsTo('listRuns').filter((r) => r.status === 200)).toHaveLength(3);
    expect(world.simulator.signals.map((s) => s.runId).sort()).toEqual([...runIds].sort());
    for (const runId of runIds) expect(result.stderr.split(runId).length - 1).toBe(1);
    expect(report.stats.powerShellProcesses).toBe(1);
    expect(report.stats.apiRequests).toBe(world.simulator.requests.length);
    for (const { address } of people(5)) {
      expect(world.tenant.mailbox(address).recipientTypeDetails).toBe('SharedMailbox');
      expect(world.tenant.fullAccessOn(address)).toEqual(['boss@contoso.com']);
      expect(world.tenant.sendAsOn(address)).toEqual(['boss@contoso.com']);
      expect(world.tenant.groupsOf(address)).toEqual(['Security Admins']);
    }
    expect(world.tenant.groupsOf('bystander@contoso.com')).toEqual(['All Staff']);
    expect(world.tenant.mailbox('bystander@contoso.com').recipientTypeDetails).toBe('UserMailbox');
  });

  it('honours Retry-After on a 429 and still completes', async () => {
    world = await EndToEndWorld.create(tenantFor(1));
    world.addWaitingRun(people(1)[0]!.person);
    world.simulator.inject({ route: 'listRuns', status: 429, retryAfter: 1 });
    const started = Date.now();
    const result = await runCli(['sweep', '--json'], world.env());
    expect(result.code).toBe(0);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    expect(world.simulator.requestsTo('listRuns').map((r) => r.status)).toEqual([429, 200]);
    expect(parseReport(result.stdout).summary.completed).toBe(1);
  });

  it('gets exactly one new token when the token expires mid-sweep', async () => {
    world = await EndToEndWorld.create(tenantFor(2));
    const [, second] = people(2).map((p) => world.addWaitingRun(p.person));
    world.simulator.inject({ route: 'getRun', runId: second, delayMs: 1500 });
    const sweep = runCli(['sweep', '--json'], world.env());
    // While the second run's read is held, the token expires: its answer is then a 401.
    const deadline = Date.now() + 30_000;
    while (
      !world.simulator.requests.some((r) => r.route === 'getRun' && r.path.includes(second as string)) &&
      Date.now() < deadline
    ) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    world.simulator.expireTokens();
    const result = await sweep;
    expect(result.code).toBe(0);
    expect(world.simulator.requestsTo('token').filter((r) => r.status === 200)).toHaveLength(2);
    expect(world.simulator.requests.some((r) => r.status === 401)).toBe(true);
    expect(parseReport(result.stdout).summary.completed).toBe(2);
    expect(world.simulator.signals).toHaveLength(2);
  });

  it('reports a 409 (someone else moved the run on) without failing and without a second POST', async () => {
    world = await EndToEndWorld.create(tenantFor(1));
    const runId = world.addWaitingRun(people(1)[0]!.person);
    world.simulator.signalByOtherBeforeNextPost(runId);
    const result = await runCli(['sweep', '--json'], world.env());
    expect(result.code).toBe(0);
    const run = parseReport(result.stdout).runs[0];
    expect(run).toMatchObject({
      outcome: 'completed',
      signalled: false,
      detail: expect.stringContaining('409'),
    });
    expect(world.simulator.requestsTo('signal')).toHaveLength(1);
  });

  it('does not signal a run whose Exchange action fails (exit 1), then completes it on the next sweep', async () => {
    world = await EndToEndWorld.create(tenantFor(2));
    const [failing, fine] = people(2).map((p) => world.addWaitingRun(p.person));
    const guid = world.tenant.mailbox('leaver1@contoso.com').guid;
    world.tenant.setFault({
      cmdlet: 'Set-Mailbox',
      identity: guid,
      mode: 'error',
      times: -1,
      message: 'Active Directory operation failed on AM6PR04A010DC02. Try again later.',
    });

    const first = await runCli(['sweep', '--json'], world.env());
    expect(first.code).toBe(1);
    const report = parseReport(first.stdout);
    const failed = report.runs.find((r) => r.runId === failing);
    expect(failed).toMatchObject({
      outcome: 'failed',
      signalled: false,
      error: expect.stringContaining('Active Directory operation failed'),
    });
    expect(report.runs.find((r) => r.runId === fine)).toMatchObject({
      outcome: 'completed',
      signalled: true,
    });
    expect(world.simulator.apiSignalsFor(failing as string)).toHaveLength(0);

    world.tenant.clearFaults();
    const second = await runCli(['sweep', '--json'], world.env());
    expect(second.code).toBe(0);
    const retried = parseReport(second.stdout);
    expect(retried.runs.map((r) => r.runId)).toEqual([failing]);
    expect(retried.runs[0]).toMatchObject({ outcome: 'completed', signalled: true });
    expect(world.simulator.apiSignalsFor(failing as string)).toHaveLength(1);
    expect(world.tenant.mailbox('leaver1@contoso.com').recipientTypeDetails).toBe('SharedMailbox');
  });

  it('makes no change and signals nothing in a dry run, but says exactly what it would run', async () => {
    world = await EndToEndWorld.create(tenantFor(1));
    world.addWaitingRun(people(1)[0]!.person);
    const before = JSON.stringify(world.tenant.state());
    const result = await runCli(['sweep', '--dry-run', '--json'], world.env());
    expect(result.code).toBe(0);
    const report = parseReport(result.stdout);
    expect(report.dryRun).toBe(true);
    expect(report.runs[0]?.outcome).toBe('planned');
    const convert = report.runs[0]?.actions.find((a) => a.name === 'convertToShared');
    expect(convert).toMatchObject({
      status: 'planned',
      cmdlets: expect.arrayContaining([expect.stringMatching(/^Set-Mailbox -Identity .* -Type Shared/)]),
    });
    const groups = report.runs[0]?.actions.find((a) => a.name === 'removeFromDistributionGroups');
    expect(groups?.cmdlets?.join('\n')).toMatch(/Remove-DistributionGroupMember/);
    expect(JSON.stringify(world.tenant.state())).toBe(before);
    expect(changeCmdlets(world)).toEqual([]);
    expect(world.simulator.signals).toEqual([]);
  });

  it('reports a dry run that would fail as failed, with exit 1, and still changes nothing', async () => {
    world = await EndToEndWorld.create(tenantFor(1));
    const fine = world.addWaitingRun(people(1)[0]!.person);
    const ghost = world.addWaitingRun({ name: 'Ghost', email: 'ghost@contoso.com' });
    const result = await runCli(['sweep', '--dry-run', '--json'], world.env());
    expect(result.code).toBe(1);
    const report = parseReport(result.stdout);
    expect(report.summary).toEqual({ completed: 0, failed: 1, skipped: 0, planned: 1 });
    expect(report.runs.find((r) => r.runId === ghost)).toMatchObject({
      outcome: 'failed',
      signalled: false,
      error: expect.stringMatching(/No mailbox was found .*ghost@contoso\.com/),
    });
    expect(report.runs.find((r) => r.runId === fine)?.outcome).toBe('planned');
    expect(changeCmdlets(world)).toEqual([]);
    expect(world.simulator.signals).toEqual([]);
  });

  it('prints a readable report within 100 columns without --json; a dry run lists its cmdlets', async () => {
    world = await EndToEndWorld.create(tenantFor(1));
    const runId = world.addWaitingRun(people(1)[0]!.person);
    const dry = await runCli(['sweep', '--dry-run'], world.env());
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(/^Dry run \(nothing changed, nothing signalled\)/);
    expect(dry.stdout).toMatch(new RegExp(`^○ planned {2}run ${runId} {2}Terminate Users$`, 'm'));
    expect(dry.stdout).toMatch(/^ {4}would run: Set-Mailbox -Identity '[0-9a-f-]{36}' -Type Shared/m);
    expect(dry.stdout).toMatch(/^ {4}would run: Remove-DistributionGroupMember /m);
    expect(dry.stdout).not.toMatch(/would run: Get-/);

    const result = await runCli(['sweep'], world.env());
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(
      new RegExp(`^✔ completed, signalled {2}run ${runId} {2}Terminate Users$`, 'm'),
    );
    expect(result.stdout).toMatch(/^ {2}convertToShared +done +Converted leaver1 <leaver1@contoso\.com>/m);
    expect(result.stdout).not.toMatch(/would run/);
    expect(result.stdout).toMatch(/Summary: 1 completed, 0 failed, 0 skipped, 0 planned/);
    for (const output of [dry.stdout, dry.stderr, result.stdout, result.stderr]) {
      const long = output.split('\n').filter((line) => [...line].length > 100);
      expect(long).toEqual([]);
    }
    // Each result is printed once on stderr (the progress line), not again by the logger.
    expect(result.stderr.split(runId).length - 1).toBe(1);
  });

  it('exits 2 with every bad setting named when the configuration is wrong, and processes nothing', async () => {
    world = await EndToEndWorld.create(tenantFor(1));
    world.addWaitingRun(people(1)[0]!.person);
    const result = await runCli(
      ['sweep'],
      world.env({ TRELICA_CLIENT_ID: '', EXO_ORGANIZATION: 'contoso.com', TRELICA_PAGE_SIZE: 'lots' }),
    );
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/TRELICA_CLIENT_ID is required/);
    expect(result.stderr).toMatch(/EXO_ORGANIZATION must be/);
    expect(result.stderr).toMatch(/TRELICA_PAGE_SIZE/);
    expect(world.simulator.requests).toEqual([]);
  });

  it('exits 2 when SaaS Manager refuses the client, and never prints the secret', async () => {
    world = await EndToEndWorld.create(tenantFor(1));
    const result = await runCli(
      ['sweep', '--json'],
      world.env({ TRELICA_CLIENT_SECRET: 'wrong-secret-value' }),
    );
    expect(result.code).toBe(2);
    const document = JSON.parse(result.stdout) as { error: { code: string; message: string; hint: string } };
    expect(result.stdout.trim().split('\n')).toHaveLength(1);
    expect(document.error.message).toMatch(/refused|invalid_client/i);
    expect(document.error.code).toEqual(expect.any(String));
    expect(document.error.hint).toEqual(expect.any(String));
    expect(result.stdout + result.stderr).not.toContain('wrong-secret-value');
  });

  it('prints exactly one JSON error document for every setup or usage error under --json (exit 2)', async () => {
    world = await EndToEndWorld.create(tenantFor(1));
    const badConfig = world.env({ TRELICA_CLIENT_ID: '', EXO_AUTH: 'nope' });
    for (const args of [
      ['sweep', '--json'],
      ['sweep', '--dry-run', '--json'],
      ['rerun', 'ffffffffffffffffffffffff', '--json'],
      ['check', '--json'],
    ]) {
      const result = await runCli(args, badConfig);
      expect({ args, code: result.code }).toEqual({ args, code: 2 });
      const lines = result.stdout.split('\n').filter((line) => line.trim() !== '');
      expect(lines).toHaveLength(1);
      const document = JSON.parse(lines[0] as string) as {
        error: { code: string; message: string; hint: string; problems: string[] };
      };
      expect(document.error.code).toBe('ConfigInvalid');
      expect(document.error.problems).toEqual(
        expect.arrayContaining([
          'TRELICA_CLIENT_ID is required',
          expect.stringMatching(/^EXO_AUTH must be one of/),
        ]),
      );
      expect(document.error.hint).toMatch(/README/);
    }
    for (const args of [
      ['rerun', 'not-an-id', '--json'],
      ['frobnicate', '--json'],
      ['sweep', '--json', '--bogus'],
    ]) {
      const result = await runCli(args, world.env());
      expect({ args, code: result.code }).toEqual({ args, code: 2 });
      expect(JSON.parse(result.stdout)).toMatchObject({
        error: { code: 'UsageError', message: expect.any(String), hint: expect.any(String) },
      });
    }
    expect(world.simulator.requests).toEqual([]);
  });

  it('starts no PowerShell and reads no certificate when nothing is waiting', async () => {
    world = await EndToEndWorld.create(tenantFor(1));
    const result = await runCli(
      ['sweep', '--json'],
      world.env({ EXO_CERTIFICATE_PATH: '/nonexistent/never-read.pfx' }),
    );
    expect(result.code).toBe(0);
    const report = parseReport(result.stdout);
    expect(report.stats.powerShellProcesses).toBe(0);
    expect(world.tenant.calls()).toEqual([]);
    expect(world.simulator.requests.filter((r) => r.route !== 'token')).toHaveLength(2);
  });

  it('reruns one run by id, and says 404 / 409 for an unknown or finished run', async () => {
    world = await EndToEndWorld.create(tenantFor(2));
    const [first, second] = people(2).map((p) => world.addWaitingRun(p.person));
    const rerun = await runCli(['rerun', second as string, '--json'], world.env());
    expect(rerun.code).toBe(0);
    expect(parseReport(rerun.stdout).runs.map((r) => r.runId)).toEqual([second]);
    expect(world.simulator.apiSignalsFor(first as string)).toHaveLength(0);

    const again = await runCli(['rerun', second as string], world.env());
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/not waiting/);
    const unknown = await runCli(['rerun', 'ffffffffffffffffffffffff'], world.env());
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/was not found/);
    const malformed = await runCli(['rerun', '1; Remove-Mailbox'], world.env());
    expect(malformed.code).toBe(2);
  });

  it('connects with the managed identity, and no certificate at all, when EXO_AUTH=managedIdentity', async () => {
    const accountId = '3f6b2a9e-1c4d-4e8f-9a7b-2d5c8e1f0a6b';
    world = await EndToEndWorld.create({ ...tenantFor(1), managedIdentity: { accountId } });
    world.addWaitingRun(people(1)[0]!.person);
    const env = world.env({
      EXO_AUTH: 'managedIdentity',
      EXO_MANAGED_IDENTITY_ID: accountId,
      EXO_APP_ID: '',
      // What App Service sets; the child gets them only because EXO_AUTH=managedIdentity.
      IDENTITY_ENDPOINT: 'http://127.0.0.1:9/msi/token',
      IDENTITY_HEADER: 'e2e-identity-header',
    });
    delete env.EXO_CERTIFICATE_PATH;
    delete env.EXO_CERTIFICATE_PASSWORD;
    const result = await runCli(['sweep', '--json'], env);
    expect(result.code).toBe(0);
    expect(parseReport(result.stdout).runs[0]).toMatchObject({ outcome: 'completed', signalled: true });
    const connect = world.tenant.calls().find((call) => call.cmdlet === 'Connect-ExchangeOnline');
    expect(connect?.parameters).toMatchObject({ ManagedIdentity: true, ManagedIdentityAccountId: accountId });
    expect(connect?.parameters.Certificate).toBeUndefined();
  });

  it('check marks each check and says how to fix what fails, changing nothing', async () => {
    world = await EndToEndWorld.create(tenantFor(1));
    world.addWaitingRun(people(1)[0]!.person);
    const good = await runCli(['check'], world.env());
    expect(good.code).toBe(0);
    expect(good.stdout).toMatch(/✔ configuration/);
    expect(good.stdout).toMatch(/✔ workflow 'Terminate Users'/);
    expect(good.stdout).toMatch(/✔ action 'Continue' on 'Terminate Users': offered by waiting run/);
    expect(good.stdout).toMatch(/✔ certificate: file .*thumbprint\s+[0-9A-F]{40}/);
    expect(good.stdout).toMatch(
      /✔ PowerShell and Exchange module: PowerShell 7\.\d+\.\d+\s+\([\s\S]+?\);\s+ExchangeOnlineManagement 3\.10\.1/,
    );

    const bad = await runCli(['check'], world.env({ WORKFLOW_STEP_NAME: 'Wait for PowerShell' }));
    expect(bad.code).toBe(2);
    expect(bad.stdout).toMatch(/✘ workflow 'Terminate Users': [\s\S]*Wait[\s]+for[\s]+PowerShell/);
    expect(bad.stdout).toMatch(/fix: /);
    for (const output of [good.stdout, bad.stdout]) {
      expect(output.split('\n').filter((line) => [...line].length > 100)).toEqual([]);
    }
    expect(world.simulator.signals).toEqual([]);
    expect(world.tenant.calls().filter((c) => /^(Set|Add|Remove)-/.test(c.cmdlet))).toEqual([]);
  });

  describe('two sweeps at once', () => {
    // Blob leases for the claims and the table for the run records, as in Azure.
    let azurite: AzuriteStorage;
    beforeAll(async () => {
      azurite = await startAzuriteStorage();
    }, 30_000);
    afterAll(async () => azurite?.stop());

    it('never process or signal the same run twice (run claims as blob leases in Azurite)', async () => {
      world = await EndToEndWorld.create(tenantFor(6));
      const runIds = people(6).map((p) => world.addWaitingRun(p.person));
      const env = world.env({ AzureWebJobsStorage: azurite.connectionString });
      const [a, b] = await Promise.all([runCli(['sweep', '--json'], env), runCli(['sweep', '--json'], env)]);
      expect([a.code, b.code]).toEqual([0, 0]);
      const reports = [parseReport(a.stdout), parseReport(b.stdout)];
      const completed = reports.flatMap((r) =>
        r.runs.filter((run) => run.outcome === 'completed').map((run) => run.runId),
      );
      expect(completed.sort()).toEqual([...runIds].sort());
      expect(world.simulator.requestsTo('signal')).toHaveLength(6);
      for (const runId of runIds) expect(world.simulator.apiSignalsFor(runId)).toHaveLength(1);
      const conversions = changeCmdlets(world).filter((call) => call.cmdlet === 'Set-Mailbox');
      expect(conversions).toHaveLength(6);
    });
  });
});
