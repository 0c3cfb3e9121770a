import { progressPrinter } from '../../cli/progress';
import type { RunReport } from '../../shared/sweep/report';

const run = (n: number, outcome: RunReport['outcome']): RunReport => ({
  runId: n.toString(16).padStart(24, '0'),
  workflowId: 'w',
  workflowName: 'Terminate Users',
  email: `leaver${n}@contoso.com`,
  outcome,
  actions: [],
  signalled: outcome === 'completed',
});

function sweepOf(
  printer: ReturnType<typeof progressPrinter>,
  clock: { t: number },
  outcomes: RunReport['outcome'][],
) {
  printer({ kind: 'workflow', workflowName: 'Terminate Users', waiting: outcomes.length });
  outcomes.forEach((outcome, i) => {
    const report = run(i + 1, outcome);
    printer({
      kind: 'run',
      workflowName: 'Terminate Users',
      runId: report.runId,
      index: i + 1,
      total: outcomes.length,
    });
    clock.t += 10_000;
    printer({ kind: 'runDone', run: report });
  });
  printer.finish();
}

describe('sweep progress on stderr', () => {
  it('prints one plain line per finished run with done/total, failures so far, elapsed and time left when not a terminal', () => {
    const clock = { t: 0 };
    let out = '';
    const printer = progressPrinter(
      { write: (text: string) => (out += text), isTTY: false },
      { now: () => clock.t },
    );
    sweepOf(printer, clock, ['completed', 'failed', 'completed', 'completed']);
    expect(out).not.toContain('\r');
    expect(out).not.toContain('\x1b');
    expect(out.split('\n')).toEqual([
      '[Terminate Users] 4 run(s) waiting',
      `1/4 done, 0 failed, 0:10 elapsed, ~0:30 left: completed ${run(1, 'completed').runId} leaver1@contoso.com`,
      `2/4 done, 1 failed, 0:20 elapsed, ~0:20 left: failed ${run(2, 'failed').runId} leaver2@contoso.com`,
      `3/4 done, 1 failed, 0:30 elapsed, ~0:10 left: completed ${run(3, 'completed').runId} leaver3@contoso.com`,
      `4/4 done, 1 failed, 0:40 elapsed: completed ${run(4, 'completed').runId} leaver4@contoso.com`,
      '',
    ]);
  });

  it('redraws one live status line on a terminal, keeps a line per failure, and clears it at the end', () => {
    const clock = { t: 0 };
    let out = '';
    const printer = progressPrinter(
      { write: (text: string) => (out += text), isTTY: true },
      { now: () => clock.t },
    );
    sweepOf(printer, clock, ['completed', 'failed', 'completed']);
    // What the terminal shows at the end: every \r\x1b[2K erases the live line drawn before it.
    const screen = out.split('\n').map((line) => line.split('\r\x1b[2K').pop());
    expect(screen).toEqual([
      '[Terminate Users] 3 run(s) waiting',
      `  ✘ failed: ${run(2, 'failed').runId} leaver2@contoso.com`,
      '',
    ]);
    expect(out).toContain('[Terminate Users] 1/3 done, 0 failed, 0:10 elapsed, ~0:20 left');
    expect(out).toContain('[Terminate Users] 3/3 done, 1 failed, 0:30 elapsed');
    expect(out.endsWith('\r\x1b[2K')).toBe(true);
  });
});
