import { addressProblem } from '../../shared/addresses';
import { planRun } from '../../shared/sweep/plan';
import type { WorkflowRun } from '../../shared/domain';
import { BASIC_ACTIONS } from '../../shared/config';

function run(person: WorkflowRun['person']): WorkflowRun {
  return {
    runId: '662a8c11f07ba0af9a25c860',
    workflowId: 'b7288c2c64f779e28024ea0e',
    workflowName: 'Terminate Users',
    status: 'Waiting',
    waitingAtStep: true,
    availableActions: ['Continue'],
    signalHref: '/x',
    ...(person ? { person } : {}),
  };
}

const options = { actions: BASIC_ACTIONS, autoMapping: true };

describe('planRun', () => {
  it('plans every configured action in order for a leaver with a manager', () => {
    const result = planRun(
      run({ email: ' jo.leaver@contoso.com ', lineManager: { email: 'boss@contoso.com' } }),
      options,
    );
    expect(result).toEqual({
      ok: true,
      plan: {
        runId: '662a8c11f07ba0af9a25c860',
        mailbox: 'jo.leaver@contoso.com',
        manager: 'boss@contoso.com',
        actions: BASIC_ACTIONS.map((name) => ({ name })),
        options: { autoMapping: true },
        policy: { acceptSharedLeavers: false, protectedRecipients: [] },
      },
    });
  });

  it('refuses a leaver or a line manager listed in EXO_PROTECTED_RECIPIENTS, whatever the letter case', () => {
    const policy = { acceptSharedLeavers: false, protectedRecipients: ['ceo@contoso.com'] };
    const leaver = planRun(run({ email: 'CEO@contoso.com' }), { ...options, policy });
    // Final: retrying cannot unprotect a recipient (the run is given up at once).
    expect(leaver).toEqual({ ok: false, error: expect.stringContaining('protected recipient'), final: true });
    const manager = planRun(run({ email: 'jo@contoso.com', lineManager: { email: 'Ceo@Contoso.com' } }), {
      ...options,
      policy,
    });
    expect(manager).toEqual({
      ok: false,
      error: expect.stringMatching(/line manager .* protected recipient/),
      final: true,
    });
  });

  it('skips the manager actions by policy when there is no line manager', () => {
    const result = planRun(run({ email: 'jo@contoso.com' }), { actions: BASIC_ACTIONS, autoMapping: false });
    if (!result.ok) throw new Error(result.error);
    expect(result.plan.manager).toBeUndefined();
    expect(result.plan.actions.filter((a) => a.skipReason).map((a) => a.name)).toEqual([
      'grantManagerFullAccess',
      'grantManagerSendAs',
    ]);
    expect(result.plan.options.autoMapping).toBe(false);
  });

  it('only plans the configured actions', () => {
    const result = planRun(run({ email: 'jo@contoso.com' }), {
      actions: ['convertToShared'],
      autoMapping: true,
    });
    expect(result.ok && result.plan.actions).toEqual([{ name: 'convertToShared' }]);
  });

  it('fails a run without an email with a message that names the field', () => {
    expect(planRun(run(undefined), options)).toEqual({
      ok: false,
      error: expect.stringContaining('context.person.email'),
    });
    expect(planRun(run({ email: '   ' }), options).ok).toBe(false);
  });

  it('fails a run whose manager is the leaver', () => {
    const result = planRun(run({ email: 'a@contoso.com', lineManager: { email: 'A@contoso.com' } }), options);
    expect(result.ok).toBe(false);
  });

  it('fails on a hostile manager address and never echoes control characters', () => {
    const result = planRun(
      run({ email: 'a@contoso.com', lineManager: { email: "x@y.com'; Remove-Mailbox boss\n" } }),
      options,
    );
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.error).toMatch(/line manager/);
      expect(result.error).not.toMatch(/\n/);
    }
  });
});

describe('addressProblem', () => {
  it.each([
    "o'brien@contoso.com",
    'zoë.ångström@contoso.com',
    'first+tag@sub.contoso.co.uk',
    'x_y-z%1@xn--bcher-kva.example',
    'ä@例え.テスト',
  ])('accepts the legitimate address %s', (address) => expect(addressProblem(address)).toBeUndefined());

  it.each([
    ['breakout', "a'@b.com'; Set-Mailbox victim"],
    ['typographic quotes', '‘x’@contoso.com'],
    ['subexpression', '$(Remove-Item /)@contoso.com'],
    ['backtick', 'a`b@contoso.com'],
    ['semicolon', 'a;b@contoso.com'],
    ['newline', 'a\nb@contoso.com'],
    ['wildcard', '*@contoso.com'],
    ['pipe', 'a|b@contoso.com'],
    ['hashtable', '@{a=1}@contoso.com'],
    ['OPATH', "a@b.com' -or Name -like '*"],
    ['env', '$env:PATH@contoso.com'],
    ['double dot', 'a..b@contoso.com'],
    ['leading dot', '.a@contoso.com'],
    ['no TLD', 'a@contoso'],
    ['two @', 'a@@contoso.com'],
    ['no @', 'plainaddress'],
    ['100k characters', `${'a'.repeat(100_000)}@contoso.com`],
    ['ANSI', '\u001b[31mred@contoso.com'],
    ['space', 'a b@contoso.com'],
    ['double quotes', '"quoted"@contoso.com'],
  ])('rejects the %s payload', (_label, address) =>
    expect(addressProblem(address)).toEqual(expect.any(String)),
  );
});
