import { defaultProfile, type Profile } from '../../shared/profiles';
import type { WorkflowRun } from '../../shared/domain';
import { planRun } from '../../shared/sweep/plan';
import { htmlEncode } from '../../shared/sweep/runOptions';
import { toWorkflowRun } from '../../shared/saasManager/runMapping';

const PROFILE: Profile = {
  ...defaultProfile(['setAutoReply', 'forwardToManager', 'grantManagerSendOnBehalf', 'litigationHold'], true),
  variables: {
    forwardTo: 'fwd',
    delegateTo: 'delegate',
    autoReplyMessage: 'oof',
    holdDays: 'hold',
    leavingDate: 'left',
  },
};

function run(variables: WorkflowRun['variables'], manager = true): WorkflowRun {
  return {
    runId: 'r1',
    workflowId: 'w1',
    workflowName: 'Leavers',
    status: 'Waiting',
    waitingAtStep: true,
    availableActions: ['Continue'],
    person: {
      name: 'Zoë <b>Ångström</b>',
      firstName: 'Zoë',
      email: 'zoe@contoso.com',
      ...(manager ? { lineManager: { name: "Bob O'Brien", email: 'bob@contoso.com' } } : {}),
    },
    ...(variables ? { variables } : {}),
  };
}

const plan = (variables: WorkflowRun['variables'], profile: Profile = PROFILE, manager = true) =>
  planRun(run(variables, manager), {
    actions: [],
    autoMapping: true,
    profile,
    today: new Date('2026-12-01T12:00:00Z'),
    policy: { acceptSharedLeavers: false, protectedRecipients: ['ceo@contoso.com'] },
  });

const error = (variables: WorkflowRun['variables']) => {
  const result = plan(variables);
  if (result.ok) throw new Error('expected the run to fail');
  return result.error;
};

describe('run variables (hostile input)', () => {
  it('overrides the targets, the message and the hold for this run only', () => {
    const result = plan({
      fwd: 'deputy@contoso.com',
      delegate: 'deputy@contoso.com',
      oof: 'Gone <now> & "then"\nbye',
      hold: 730,
    });
    if (!result.ok) throw new Error(result.error);
    expect(result.plan.forwardTo).toBe('deputy@contoso.com');
    expect(result.plan.delegate).toBe('deputy@contoso.com');
    expect(result.plan.options.holdDurationDays).toBe(730);
    expect(result.plan.options.autoReply).toEqual({
      internalMessage: 'Gone &lt;now&gt; &amp; &quot;then&quot;<br>bye',
      externalMessage: 'Gone &lt;now&gt; &amp; &quot;then&quot;<br>bye',
      externalAudience: 'All',
    });
  });

  it('leaves the profile options alone when a variable is empty or absent', () => {
    const result = plan({ fwd: '  ', hold: null });
    if (!result.ok) throw new Error(result.error);
    expect(result.plan.forwardTo).toBeUndefined();
    expect(result.plan.options.holdDurationDays).toBeUndefined();
  });

  it.each([
    [
      { fwd: "boss@contoso.com'; Remove-Mailbox x" },
      /^the run variable "fwd" \(forwardTo\) is not a usable email address: it has an invalid domain/,
    ],
    [
      { fwd: 'someone@gmail.com\r\nBcc: x@y.com' },
      /"fwd" \(forwardTo\) is not a usable email address: it contains control characters/,
    ],
    [{ delegate: 'zoe@contoso.com' }, /"delegate" \(delegateTo\) is the leaver themself/],
    [{ delegate: 'CEO@contoso.com' }, /"delegate" \(delegateTo\) is a protected recipient/],
    [{ fwd: { unsupported: 'object' } }, /"fwd" \(forwardTo\) is an object, not a text value/],
    [
      { hold: 'forever' },
      /"hold" \(holdDays\) must be a whole number of days from 1 to 36500 \(got "forever"\)/,
    ],
    [{ hold: 0 }, /"hold" \(holdDays\) must be a whole number of days from 1 to 36500 \(got "0"\)/],
    [{ hold: 12.5 }, /holdDays\) must be a whole number/],
    [{ hold: '99999' }, /holdDays\) must be a whole number/],
    [{ oof: 'x'.repeat(1001) }, /"oof" \(autoReplyMessage\) is longer than 1000 characters \(1001\)/],
    [
      { oof: 'see \u202eevil' },
      /"oof" \(autoReplyMessage\) contains control or bidirectional-override characters/,
    ],
    [{ oof: { unsupported: 'list' } }, /"oof" \(autoReplyMessage\) must be text/],
    [{ left: '2026-02-30' }, /"left" \(leavingDate\) must be a date written YYYY-MM-DD \(got "2026-02-30"\)/],
  ])('fails the run, naming the variable, for %j', (variables, message) => {
    expect(error(variables as WorkflowRun['variables'])).toMatch(message);
    expect(error(variables as WorkflowRun['variables'])).toMatch(/; nothing was changed$/);
  });
});

describe('auto-reply templates', () => {
  const templated: Profile = {
    ...PROFILE,
    variables: { leavingDate: 'left' },
    options: {
      ...PROFILE.options,
      autoReply: {
        internalMessage: '{leaver.firstName} left on {leavingDate}; ask {manager.name} ({manager.email}).',
        externalAudience: 'Known',
      },
    },
  };

  it('fills the placeholders with HTML-encoded values (external falls back to the internal template)', () => {
    const result = plan({ left: '2026-11-30' }, templated);
    if (!result.ok) throw new Error(result.error);
    expect(result.plan.options.autoReply).toEqual({
      internalMessage: 'Zoë left on 2026-11-30; ask Bob O&#39;Brien (bob@contoso.com).',
      externalMessage: 'Zoë left on 2026-11-30; ask Bob O&#39;Brien (bob@contoso.com).',
      externalAudience: 'Known',
    });
  });

  it("uses today's date without a leaving date, and the no-manager default without a manager", () => {
    const dated = plan({}, templated);
    if (!dated.ok) throw new Error(dated.error);
    expect(dated.plan.options.autoReply?.internalMessage).toContain('left on 2026-12-01');
    const plain = plan({}, PROFILE, false);
    if (!plain.ok) throw new Error(plain.error);
    expect(plain.plan.options.autoReply?.internalMessage).toBe(
      'Zoë &lt;b&gt;Ångström&lt;/b&gt; has left the organisation and this mailbox is no longer monitored.',
    );
  });

  it('skips the auto-reply when its template needs a manager the person does not have', () => {
    const result = plan({}, templated, false);
    if (!result.ok) throw new Error(result.error);
    expect(result.plan.actions.find((a) => a.name === 'setAutoReply')?.skipReason).toBe(
      'the auto-reply template uses {manager.name}, and the person has no line manager in SaaS Manager',
    );
    expect(result.plan.actions.find((a) => a.name === 'forwardToManager')?.skipReason).toMatch(
      /no line manager/,
    );
  });

  it('encodes every HTML-special character', () => {
    expect(htmlEncode(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
  });
});

describe('context.variables from SaaS Manager', () => {
  it('keeps only the variables asked for, as plain values; objects and lists are marked, long text cut', () => {
    const step = {
      workflowId: 'w1',
      workflowName: 'Leavers',
      stepId: 's1',
      stepName: 'Signal',
      actionName: 'Continue',
    };
    const mapped = toWorkflowRun(
      {
        id: 'r1',
        status: 'Waiting',
        context: {
          variables: {
            fwd: 'a@b.com',
            hold: 30,
            flag: true,
            obj: { x: 1 },
            list: [1],
            long: 'y'.repeat(5000),
            secret: 'p',
          },
        },
      },
      step,
      ['fwd', 'hold', 'flag', 'obj', 'list', 'long', 'absent'],
    );
    expect(mapped.variables).toEqual({
      fwd: 'a@b.com',
      hold: 30,
      flag: true,
      obj: { unsupported: 'object' },
      list: { unsupported: 'list' },
      long: 'y'.repeat(4096),
    });
    expect(toWorkflowRun({ id: 'r1', context: { variables: { fwd: 'x' } } }, step).variables).toBeUndefined();
  });
});
