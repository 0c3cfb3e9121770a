/**
 * Bad input gets a clear error, and nothing else happens.
 *
 * A leaver's email, their manager's email and the names Exchange holds are hostile. Every payload below
 * goes through the real PowerShell engine with the stub Exchange module twice over:
 *   - through the planner (shared/sweep/plan.ts), which must refuse it before PowerShell, and
 *   - straight into PowerShellExchangeShell.runPlan, bypassing the planner, to prove ExoActions.psm1 is
 *     safe on its own.
 * Proof is taken from the outside: the stub's call log (no cmdlet outside the plan, no target but the
 * legitimate leaver), the stub's state (no other mailbox changed) and a canary file that any code
 * execution would create.
 */
import { BASIC_ACTIONS } from '../../shared/config';
import { RUN_CMDLETS } from '../support/exchangeCmdlets';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { findPowerShell } from '../../shared/exchange/findPowerShell';
import { PowerShellExchangeShell } from '../../shared/exchange/powerShellExchangeShell';
import type { ExchangeConnection, ExchangeRunResult, RunPlan, WorkflowRun } from '../../shared/domain';
import { planRun } from '../../shared/sweep/plan';
import { createTestCertificate } from '../../sandbox/certificates';
import { ExchangeStubTenant, type StubCall, type StubState } from '../../sandbox/exchangeStubTenant';

// The run's cmdlets, and the licence check before convertToShared (read-only).
const PLANNED_CMDLETS = new Set(['Connect-ExchangeOnline', ...RUN_CMDLETS, 'Get-MailboxStatistics']);
const HOSTILE_GROUP = "Sales'); Set-Mailbox victim@contoso.com -Type Shared; ('$(whoami)\u001b[31m";

const cert = createTestCertificate({ keySize: 1024 });
let tenant: ExchangeStubTenant;
let shell: PowerShellExchangeShell;
let initial: StubState;
let canary: string;

/** Each payload tries to run code, reach another mailbox, or break the OPATH filter. */
function hostileAddresses(): Array<[label: string, value: string]> {
  const write = `[IO.File]::WriteAllText('${canary}','pwned')`;
  const victim = 'victim@contoso.com';
  const list: Array<[string, string]> = [
    ['ASCII quote breakout', `x'; Set-Mailbox ${victim} -Type Shared; '`],
    ['U+2018 quote breakout', `x\u2018; Set-Mailbox ${victim} -Type Shared; \u2018`],
    ['U+2019 quote breakout', `x\u2019; Set-Mailbox ${victim} -Type Shared; \u2019`],
    ['U+201A quote breakout', `x\u201a; Set-Mailbox ${victim} -Type Shared; \u201a`],
    ['U+201B quote breakout', `x\u201b; Set-Mailbox ${victim} -Type Shared; \u201b`],
    ['quote breakout inside a valid-looking address', `leaver@contoso.com'; ${write}; '`],
    ['subexpression', `$(${write})@contoso.com`],
    ['subexpression after the address', `leaver@contoso.com$(${write})`],
    ['double-quoted subexpression', `"$(${write})"@contoso.com`],
    ['backtick escape', `leaver@contoso.com\`; Set-Mailbox ${victim} -Type Shared`],
    ['statement separator', `leaver@contoso.com; Set-Mailbox ${victim} -Type Shared`],
    ['newline', `leaver@contoso.com\nSet-Mailbox ${victim} -Type Shared`],
    [
      'CR LF and a second command',
      `leaver@contoso.com\r\nRemove-DistributionGroupMember -Identity 'All Staff' -Member ${victim} -Confirm:$false`,
    ],
    ['CR only', `leaver@contoso.com\r${victim}`],
    ['hashtable literal', `@{Identity='${victim}'}`],
    ['pipe', `leaver@contoso.com | Set-Mailbox -Type Shared`],
    ['wildcard local part', '*@contoso.com'],
    ['wildcard only', '*'],
    ['wildcard suffix', 'victim*'],
    ['OPATH fragment', "leaver@contoso.com' -or Name -like '*"],
    ['OPATH Members fragment', "x' -or Members -ne 'y"],
    ['environment variable', '$env:EXO_STUB_STATE'],
    ['braced environment variable', '${env:EXO_STUB_STATE}@contoso.com'],
    ['100k characters', `${'a'.repeat(100_000)}@contoso.com`],
    ['100k quotes', "'".repeat(100_000)],
    ['ANSI colour escape', '\u001b[31mleaver@contoso.com'],
    ['ANSI title escape with BEL', 'leaver@contoso.com\u001b]0;pwned\u0007'],
    ['NUL byte', '\u0000leaver@contoso.com'],
    ['right-to-left override', 'leaver@contoso.com\u202e'],
    ['display-name form', 'Leaver <leaver@contoso.com>'],
    ['comma list', `${victim},leaver@contoso.com`],
    ['parameter injection', `-Identity ${victim}`],
    ['$null literal', '$null'],
    ['array subexpression', '@(Get-Mailbox)'],
    ['block comment', '<#x#>leaver@contoso.com'],
    ['full-width at sign', 'leaver\uff20contoso.com'],
    ['space inside non-ASCII address', 'zoë ångström@contoso.com'],
    ['tab between two addresses', `leaver@contoso.com\t${victim}`],
    ['two at signs', 'leaver@victim@contoso.com'],
    ['double dot', 'leaver..x@contoso.com'],
  ];
  return list;
}

/**
 * Addresses that pass the address rule although they hold characters PowerShell treats specially. They
 * must travel as data: looked up literally, found by nobody, and failed as such.
 */
const ODD_BUT_VALID: Array<[label: string, value: string]> = [
  ['stop-parsing token', '--%leaver@contoso.com'],
  ['quotes only', "'''@contoso.com"],
  ['quote, hyphen, quote', "x'-'y@contoso.com"],
  ['percent-encoded quote', 'leaver+%27@contoso.com'],
  ['trailing quote', "victim'@contoso.com"],
];

function connection(): Promise<ExchangeConnection> {
  return Promise.resolve(tenant.certificateConnection(cert));
}

function directPlan(mailbox: string, manager: string | undefined): RunPlan {
  return {
    runId: 'hostile',
    mailbox,
    ...(manager === undefined ? {} : { manager }),
    actions: BASIC_ACTIONS.map((name) => ({ name })),
    options: { autoMapping: true },
  };
}

function workflowRun(email: string | undefined, managerEmail: string | undefined): WorkflowRun {
  return {
    runId: 'run-1',
    workflowId: 'wf',
    workflowName: 'Terminate Users',
    status: 'Waiting',
    waitingAtStep: true,
    availableActions: ['Continue'],
    person: {
      name: "O'Brien'; Set-Mailbox victim@contoso.com -Type Shared; '",
      ...(email === undefined ? {} : { email }),
      ...(managerEmail === undefined ? {} : { lineManager: { email: managerEmail } }),
    },
  };
}

function newCalls(before: number): StubCall[] {
  return tenant.calls().slice(before);
}

function expectAllFailed(result: ExchangeRunResult, pattern: RegExp): void {
  expect(result.actions).toHaveLength(BASIC_ACTIONS.length);
  for (const action of result.actions) {
    expect(action.status).toBe('failed');
    expect(action.detail).toMatch(pattern);
    // The message shows a bounded, cleaned excerpt: no control characters, no 100k echo.
    expect(action.detail?.length ?? 0).toBeLessThan(400);
    // eslint-disable-next-line no-control-regex
    expect(action.detail).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u202e]/);
  }
  expect(result.cmdletCalls).toBe(0);
}

beforeAll(() => {
  tenant = ExchangeStubTenant.create({
    certificate: cert,
    mailboxes: [
      { address: 'leaver@contoso.com', displayName: "Leaver'); Remove-Mailbox victim; ('" },
      { address: 'victim@contoso.com', displayName: 'Victim' },
      { address: 'boss@contoso.com' },
      { address: "o'brien@contoso.com", name: "o'brien", displayName: "Siobhán O'Brien" },
      { address: 'zoë.ångström@contoso.com', displayName: 'Zoë Ångström' },
      { address: 'bystander@contoso.com' },
      // Exchange resolves -Identity by name too: this mailbox's name is an address that belongs to nobody.
      { address: 'decoy@contoso.com', name: 'target@contoso.com' },
    ],
    groups: [
      {
        name: 'All Staff',
        members: [
          'leaver@contoso.com',
          'victim@contoso.com',
          "o'brien@contoso.com",
          'zoë.ångström@contoso.com',
          'bystander@contoso.com',
        ],
      },
      {
        name: HOSTILE_GROUP,
        address: 'sales-hostile@contoso.com',
        members: ['leaver@contoso.com', 'victim@contoso.com', "o'brien@contoso.com"],
      },
      {
        name: 'Security',
        type: 'MailUniversalSecurityGroup',
        members: ['leaver@contoso.com', 'victim@contoso.com'],
      },
    ],
    sendAs: [{ mailbox: 'victim@contoso.com', trustee: 'bystander@contoso.com' }],
  });
  canary = path.join(tenant.dir, 'pwned');
  initial = tenant.state();
  shell = new PowerShellExchangeShell({
    powerShell: findPowerShell(),
    callTimeoutMs: 30_000,
    env: { ...process.env, ...tenant.env },
  });
});

afterAll(async () => {
  await shell.close();
  tenant.dispose();
});

describe('hostile leaver addresses', () => {
  it('has at least 30 payloads', () => {
    expect(hostileAddresses().length).toBeGreaterThanOrEqual(30);
  });

  it.each(hostileAddresses())(
    'the planner refuses %s before anything reaches PowerShell',
    (_label, value) => {
      const planned = planRun(workflowRun(value, 'boss@contoso.com'), {
        actions: BASIC_ACTIONS,
        autoMapping: true,
      });
      expect(planned.ok).toBe(false);
    },
  );

  it.each(hostileAddresses())(
    'ExoActions refuses %s on its own: every action fails with a message and no cmdlet runs',
    async (_label, value) => {
      const before = tenant.calls().length;

      const result = await shell.runPlan(directPlan(value, 'boss@contoso.com'), connection, false);

      expectAllFailed(
        result,
        /^The leaver's email address '.*' is not a valid email address; nothing was changed\.$/s,
      );
      expect(newCalls(before).filter((call) => call.cmdlet !== 'Connect-ExchangeOnline')).toEqual([]);
    },
  );

  it('fails a run with a missing or empty email with a clear message, in the planner and in ExoActions', async () => {
    expect(
      planRun(workflowRun(undefined, 'boss@contoso.com'), { actions: BASIC_ACTIONS, autoMapping: true }),
    ).toEqual({
      ok: false,
      error: 'the run has no person email (context.person.email is missing)',
    });
    const before = tenant.calls().length;
    for (const missing of ['', null]) {
      const result = await shell.runPlan(
        directPlan(missing as string, 'boss@contoso.com'),
        connection,
        false,
      );
      expectAllFailed(result, /^The leaver has no email address; nothing was changed\.$/);
    }
    expect(newCalls(before)).toEqual([]);
  });
});

describe('odd but valid addresses', () => {
  it.each(ODD_BUT_VALID)(
    'looks %s up literally as data and fails the run as not found',
    async (_label, value) => {
      expect(
        planRun(workflowRun(value, 'boss@contoso.com'), { actions: BASIC_ACTIONS, autoMapping: true }).ok,
      ).toBe(true);
      const before = tenant.calls().length;

      const result = await shell.runPlan(directPlan(value, 'boss@contoso.com'), connection, false);

      for (const action of result.actions) {
        expect(action).toMatchObject({
          status: 'failed',
          detail: `No mailbox was found in Exchange Online for the leaver's address ${value}; nothing was changed.`,
        });
      }
      expect(newCalls(before).map((call) => [call.cmdlet, call.parameters.Identity])).toEqual([
        ['Get-Mailbox', value],
      ]);
    },
  );

  it.each(ODD_BUT_VALID)(
    'looks %s up literally as a manager and fails the run before any change',
    async (_label, value) => {
      const before = tenant.calls().length;

      const result = await shell.runPlan(directPlan('leaver@contoso.com', value), connection, false);

      for (const action of result.actions) {
        expect(action).toMatchObject({
          status: 'failed',
          detail: `No recipient was found in Exchange Online for the line manager's address ${value}; nothing was changed.`,
        });
      }
      expect(newCalls(before).filter((call) => /^(Set|Add|Remove)-/.test(call.cmdlet))).toEqual([]);
      const lookups = newCalls(before).filter((call) => call.parameters.Identity === value);
      expect(lookups.map((call) => call.cmdlet)).toEqual(['Get-Recipient']);
    },
  );
});

describe('an address that only matches another mailbox by name', () => {
  it('changes nothing: Exchange finds the decoy, but the decoy does not carry the address', async () => {
    const before = tenant.calls().length;

    const result = await shell.runPlan(
      directPlan('target@contoso.com', 'target@contoso.com'),
      connection,
      false,
    );

    for (const action of result.actions) {
      expect(action.status).toBe('failed');
      expect(action.detail).toMatch(
        /^The recipient Exchange found for the leaver's address target@contoso\.com, .+, does not have that address; nothing was changed\.$/,
      );
    }
    expect(newCalls(before).map((call) => call.cmdlet)).toEqual(['Get-Mailbox']);
  });

  it('refuses it as a line manager too', async () => {
    const result = await shell.runPlan(
      directPlan('leaver@contoso.com', 'target@contoso.com'),
      connection,
      false,
    );

    for (const action of result.actions) {
      expect(action.status).toBe('failed');
      expect(action.detail).toMatch(
        /^The recipient Exchange found for the line manager's address target@contoso\.com, .+, does not have that address; nothing was changed\.$/,
      );
    }
    expect(tenant.mailbox('leaver@contoso.com').recipientTypeDetails).toBe('UserMailbox');
  });
});

describe('hostile line manager addresses', () => {
  it.each(hostileAddresses())(
    'fails the run for %s before any change, and looks nobody up by it',
    async (_label, value) => {
      const before = tenant.calls().length;

      const result = await shell.runPlan(directPlan('leaver@contoso.com', value), connection, false);

      for (const action of result.actions) {
        expect(action.status).toBe('failed');
        expect(action.detail).toMatch(
          /^The line manager's email address '.*' is not a valid email address; nothing was changed\.$/s,
        );
      }
      expect(newCalls(before).map((call) => call.cmdlet)).toEqual(['Get-Mailbox']);
      const leaver = tenant.mailbox('leaver@contoso.com');
      for (const call of newCalls(before)) {
        expect(call.cmdlet).not.toMatch(/Permission/);
        for (const [name, argument] of Object.entries(call.parameters)) {
          if (['Identity', 'User', 'Trustee', 'Member'].includes(name)) {
            expect([leaver.primarySmtpAddress, leaver.guid, ...initial.groups.map((g) => g.guid)]).toContain(
              argument,
            );
          }
        }
      }
    },
  );
});

describe('legitimate addresses that look unusual', () => {
  it.each([["o'brien@contoso.com"], ['zoë.ångström@contoso.com']])(
    'completes normally for %s, planned by the planner',
    async (address) => {
      const planned = planRun(workflowRun(address, 'boss@contoso.com'), {
        actions: BASIC_ACTIONS,
        autoMapping: true,
      });
      if (!planned.ok) throw new Error(planned.error);

      const result = await shell.runPlan(planned.plan, connection, false);

      expect(result.actions.map((action) => action.status)).toEqual(['done', 'done', 'done', 'done']);
      expect(tenant.mailbox(address).recipientTypeDetails).toBe('SharedMailbox');
      expect(tenant.fullAccessOn(address)).toEqual(['boss@contoso.com']);
      expect(tenant.sendAsOn(address)).toEqual(['boss@contoso.com']);
      expect(tenant.groupsOf(address)).toEqual([]);
      if (address.startsWith("o'brien")) {
        // Exchange-held names are hostile too: they come back as text, cleaned of control characters.
        const groups = result.actions.find((action) => action.name === 'removeFromDistributionGroups');
        expect(groups?.detail).toContain(
          "Sales'); Set-Mailbox victim@contoso.com -Type Shared; ('$(whoami) [31m <sales-hostile@contoso.com>",
        );
        // eslint-disable-next-line no-control-regex
        expect(groups?.detail).not.toMatch(/[\u0000-\u001f]/);
      }
    },
  );

  it("quotes o'brien's DistinguishedName in the membership filter by doubling the quote", () => {
    const dn = tenant.mailbox("o'brien@contoso.com").dn;
    expect(dn).toContain("o'brien");
    const query = tenant
      .calls()
      .find(
        (call) =>
          call.cmdlet === 'Get-Recipient' &&
          typeof call.parameters.Filter === 'string' &&
          call.parameters.Filter.includes('brien'),
      );
    expect(query?.parameters.Filter).toBe(`Members -eq '${dn.replace(/'/g, "''")}'`);
  });
});

describe('after every payload', () => {
  it('never executed injected code', () => {
    expect(existsSync(canary)).toBe(false);
  });

  it('ran no cmdlet outside the plan, in one PowerShell process', () => {
    const outside = tenant.calls().filter((call) => !PLANNED_CMDLETS.has(call.cmdlet));
    expect(outside).toEqual([]);
    expect(shell.processesStarted).toBe(1);
    expect(new Set(tenant.calls().map((call) => call.pid)).size).toBe(1);
  });

  it('changed no mailbox, group membership or permission but those of the legitimate leavers', () => {
    const state = tenant.state();
    const leavers = new Set(
      ['leaver@contoso.com', "o'brien@contoso.com", 'zoë.ångström@contoso.com'].map(
        (address) => tenant.mailbox(address).guid,
      ),
    );
    const boss = tenant.mailbox('boss@contoso.com').guid;

    expect(state.mailboxes.filter((m) => !leavers.has(m.guid))).toEqual(
      initial.mailboxes.filter((m) => !leavers.has(m.guid)),
    );
    for (const group of state.groups) {
      // Nobody added; only legitimate leavers removed, and only from distribution groups.
      const before = initial.groups.find((g) => g.guid === group.guid)?.members ?? [];
      expect(group.members.filter((member) => !before.includes(member))).toEqual([]);
      const removed = before.filter((member) => !group.members.includes(member));
      expect(
        removed.filter(
          (member) => !leavers.has(member) || group.recipientTypeDetails !== 'MailUniversalDistributionGroup',
        ),
      ).toEqual([]);
    }
    const granted = state.mailboxPermissions.filter(
      (p) => !initial.mailboxPermissions.some((q) => q.mailbox === p.mailbox && q.user === p.user),
    );
    expect(granted.every((p) => leavers.has(p.mailbox) && p.user === boss)).toBe(true);
    const sendAs = state.recipientPermissions.filter(
      (p) =>
        !initial.recipientPermissions.some((q) => q.recipient === p.recipient && q.trustee === p.trustee),
    );
    expect(sendAs.every((p) => leavers.has(p.recipient) && p.trustee === boss)).toBe(true);
    expect(tenant.mailbox('victim@contoso.com')).toEqual(
      initial.mailboxes.find((m) => m.primarySmtpAddress === 'victim@contoso.com'),
    );
    expect(tenant.sendAsOn('victim@contoso.com')).toEqual(['bystander@contoso.com']);
  });
});
