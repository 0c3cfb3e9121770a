import { renderReport, wrap, type SweepReport } from '../../shared/sweep/report';

const longDetail =
  'Removed from 12 distribution groups: ' +
  Array.from({ length: 12 }, (_, i) => `Group number ${i + 1} <group${i + 1}@contoso.com>`).join(', ');

const report: SweepReport = {
  dryRun: true,
  startedAt: '2026-11-29T17:20:08.401Z',
  finishedAt: '2026-11-29T17:20:10.068Z',
  runs: [
    {
      runId: '662a8c11f07ba0af9a25c860',
      workflowId: 'b7288c2c64f779e28024ea0e',
      workflowName: 'Terminate Users and a very long workflow name that goes on and on and on and on and on',
      email: `${'x'.repeat(120)}@contoso.com`,
      outcome: 'planned',
      signalled: false,
      actions: [
        {
          name: 'removeFromDistributionGroups',
          status: 'planned',
          detail: longDetail,
          cmdlets: [
            'Get-Recipient -Filter "Members -eq \'CN=x\'"',
            `Remove-DistributionGroupMember -Identity '${'a'.repeat(36)}' -Member '${'b'.repeat(36)}' -BypassSecurityGroupManagerCheck -Confirm:$false`,
          ],
        },
      ],
    },
  ],
  summary: { completed: 0, failed: 0, skipped: 0, planned: 1 },
  warnings: [
    `the Exchange certificate ${'F'.repeat(40)} expires in 3 day(s) (2026-12-02T00:00:00.000Z); rotate it`,
  ],
  deferred: 0,
  stats: { workflows: 1, powerShellProcesses: 1, exchangeCmdletCalls: 2 },
};

describe('the readable report', () => {
  it('fits every line into 100 columns, keeping every word of the detail', () => {
    const text = renderReport(report);
    expect(text.split('\n').filter((line) => [...line].length > 100)).toEqual([]);
    const words = (s: string) => s.split(/\s+/).filter(Boolean);
    expect(words(text).join(' ')).toContain(words(longDetail).join(' '));
  });

  it('lists the change cmdlets of a dry run, not the lookups', () => {
    const text = renderReport(report);
    expect(text).toMatch(/^ {4}would run: Remove-DistributionGroupMember -Identity 'a+'/m);
    expect(text).not.toContain('Get-Recipient');
    expect(renderReport({ ...report, dryRun: false })).not.toContain('would run');
  });

  it('wraps at spaces and hard-cuts a word longer than the line', () => {
    expect(wrap('aaa bbb ccc', '', '  ', 7)).toEqual(['aaa bbb', '  ccc']);
    expect(wrap('x'.repeat(25), '', '', 10)).toEqual(['x'.repeat(10), 'x'.repeat(10), 'x'.repeat(5)]);
  });
});
