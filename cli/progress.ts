/**
 * Progress of a sweep on stderr (stdout is for the report). On a terminal one status line is
 * redrawn in place (done/total, failures so far, elapsed, estimated time left) and each failed
 * run gets a line of its own; otherwise, as in CI and logs, one plain line per finished run.
 * Each fact is printed once: why a run failed is in the report, not here.
 */
import type { SweepProgress } from '../shared/sweep/runSweep';
import { abbreviate, OUTPUT_COLUMNS } from '../shared/sweep/report';

export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
}

export interface ProgressPrinter {
  (event: SweepProgress): void;
  /** Clear the live line (terminal only); call before printing anything else. */
  finish(): void;
}

/** "1:05" or "1:02:05". */
export function formatDuration(ms: number): string {
  const total = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`;
}

export function progressPrinter(
  stream: ProgressStream,
  options: { tty?: boolean; now?: () => number } = {},
): ProgressPrinter {
  const tty = options.tty ?? stream.isTTY === true;
  const now = options.now ?? Date.now;
  const started = now();
  let total = 0;
  let done = 0;
  let failed = 0;
  let live = false;
  let workflowName = '';

  const status = (): string => {
    const elapsed = now() - started;
    const left =
      done > 0 && total > done ? `, ~${formatDuration((elapsed / done) * (total - done))} left` : '';
    return `${done}/${total} done, ${failed} failed, ${formatDuration(elapsed)} elapsed${left}`;
  };
  const clear = () => {
    if (live) stream.write('\r\x1b[2K');
    live = false;
  };
  const line = (text: string) => {
    clear();
    stream.write(`${abbreviate(text, OUTPUT_COLUMNS)}\n`);
  };
  const redraw = (current: string) => {
    clear();
    stream.write(abbreviate(`[${workflowName}] ${status()}${current}`, OUTPUT_COLUMNS - 1));
    live = true;
  };

  const printer = ((event: SweepProgress) => {
    if (event.kind === 'workflow') {
      workflowName = event.workflowName;
      total += event.waiting;
      line(`[${event.workflowName}] ${event.waiting} run(s) waiting`);
      if (tty && event.waiting > 0) redraw('');
    } else if (event.kind === 'run') {
      workflowName = event.workflowName;
      // A rerun announces its single run without a workflow event.
      if (total < done + 1) total = done + 1;
      if (tty) redraw(`, now run ${event.runId}`);
    } else {
      done += 1;
      if (event.run.outcome === 'failed') failed += 1;
      const who = `${event.run.runId} ${event.run.email || '(no email)'}`;
      if (tty) {
        if (event.run.outcome === 'failed') line(`  ✘ failed: ${who}`);
        redraw('');
      } else {
        line(`${status()}: ${event.run.outcome} ${who}`);
      }
    }
  }) as ProgressPrinter;
  printer.finish = clear;
  return printer;
}
