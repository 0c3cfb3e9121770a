import { createRequire } from 'node:module';

interface Reporter {
  onRunStart(): void;
  onTestFileStart(test: { path: string }): void;
  onTestCaseResult(test: { path: string }, result: { status: string }): void;
  onTestFileResult(test: { path: string }): void;
  onRunComplete(): void;
  tick(): void;
}
type ReporterClass = new (
  config: { rootDir: string },
  options: { intervalMs: number; write: (text: string) => void; now: () => number },
) => Reporter;

const ProgressReporter = createRequire(__filename)('../support/progressReporter.js') as ReporterClass;

describe('the jest progress reporter', () => {
  it('says how far a long test file is while it runs, and stops when it ends', () => {
    let now = 0;
    const lines: string[] = [];
    const reporter = new ProgressReporter(
      { rootDir: '/repo' },
      { intervalMs: 30_000, write: (text) => lines.push(text), now: () => now },
    );
    const slow = { path: '/repo/test/integration/slow.test.ts' };
    const quick = { path: '/repo/test/unit/quick.test.ts' };
    reporter.onTestFileStart(slow);
    reporter.onTestCaseResult(slow, { status: 'passed' });
    reporter.onTestCaseResult(slow, { status: 'failed' });
    now = 20_000;
    reporter.onTestFileStart(quick);
    reporter.tick(); // nothing has run 30 s yet
    expect(lines).toEqual([]);
    now = 95_000;
    reporter.onTestFileResult(quick);
    reporter.tick();
    expect(lines).toEqual([
      '[tests] still running test/integration/slow.test.ts: 2 test(s) done, 1 failed, 95 s\n',
    ]);
    reporter.onTestFileResult(slow);
    reporter.tick();
    expect(lines).toHaveLength(1);
  });
});
