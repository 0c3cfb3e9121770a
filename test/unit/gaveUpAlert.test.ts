/**
 * The alert for runs the app gave up on (docs/deploy.md, section 9): the KQL matches exactly the
 * line the triggers log for such a run, which is logged as an error; an ordinary failed run is a
 * warning and does not match.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type RunReport, type SweepReport, logReport } from '../../shared/sweep/report';
import type { Logger } from '../../shared/ports';

const guide = readFileSync(join(__dirname, '..', '..', 'docs', 'deploy.md'), 'utf8');

describe('the gave-up alert in docs/deploy.md', () => {
  it('matches the error line of a run given up, and not an ordinary failure', () => {
    const query = /\/\/ Runs the app gave up on[\s\S]*?```/.exec(guide)?.[0] ?? '';
    const pattern = /matches regex @"([^"]+)"/.exec(query)?.[1];
    const phrase = /message has "([^"]+)"/.exec(query)?.[1];
    expect(query).toMatch(/severityLevel == 3/);
    expect(pattern).toBeDefined();
    expect(phrase).toBe('gave up after');
    const base = {
      workflowId: 'w',
      workflowName: 'Leavers (EU)',
      email: 'a@contoso.com',
      actions: [],
      signalled: false,
    };
    const runs: RunReport[] = [
      {
        ...base,
        runId: '660000000000000000000001',
        outcome: 'failed',
        attempt: 5,
        gaveUp: true,
        error: 'gave up after 5 attempts: grantManagerSendAs: Denied.',
      },
      {
        ...base,
        runId: '660000000000000000000002',
        outcome: 'failed',
        attempt: 2,
        error: 'grantManagerSendAs: Denied.',
      },
    ];
    const report: SweepReport = {
      dryRun: false,
      startedAt: '',
      finishedAt: '',
      runs,
      summary: { completed: 0, failed: 2, skipped: 0, planned: 0 },
      warnings: [],
      deferred: 0,
      stats: { workflows: 1, powerShellProcesses: 1, exchangeCmdletCalls: 4 },
    };
    const lines: Array<{ level: string; message: string }> = [];
    const at = (level: string) => (message: string) => void lines.push({ level, message });
    const logger: Logger = { debug: at('debug'), info: at('info'), warn: at('warning'), error: at('error') };
    logReport(logger, report);
    // severityLevel 3 is what Application Insights records for context.error.
    const alerted = lines.filter(
      (line) =>
        line.level === 'error' &&
        new RegExp(pattern as string).test(line.message) &&
        line.message.includes(phrase as string),
    );
    expect(alerted.map((line) => line.message.slice(4, 28))).toEqual(['660000000000000000000001']);
    expect(lines.find((line) => line.message.includes('660000000000000000000002'))?.level).toBe('warning');
  });
});
