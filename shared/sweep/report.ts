/**
 * The sweep report: one JSON shape for the CLI's --json, the HTTP response and the timer's log.
 * This is public contract; add fields, never rename or remove them.
 */
import type { ActionResult, RunSubjects } from '../ports';

export type RunOutcome = 'completed' | 'failed' | 'skipped' | 'planned';

export interface RunReport {
  runId: string;
  workflowId: string;
  workflowName: string;
  email: string;
  outcome: RunOutcome;
  actions: ActionResult[];
  signalled: boolean;
  error?: string;
  /** Why a run was skipped (claimed by another sweep, no longer waiting, ...). */
  detail?: string;
  /** The leaver and line manager as Exchange resolved them (Guid, primary address, type), when known. */
  subjects?: RunSubjects;
}

export interface SweepSummary {
  completed: number;
  failed: number;
  skipped: number;
  planned: number;
}

export interface SweepReport {
  dryRun: boolean;
  startedAt: string;
  finishedAt: string;
  runs: RunReport[];
  summary: SweepSummary;
  /** Things an admin should act on soon (certificate expiring, runs left for the next sweep). */
  warnings: string[];
  /** Runs seen but left for the next sweep because the time budget ran out. */
  deferred: number;
  stats: SweepStats;
}

export interface SweepStats {
  workflows: number;
  apiRequests?: number;
  powerShellProcesses: number;
  exchangeCmdletCalls: number;
}

export function summarize(runs: readonly RunReport[]): SweepSummary {
  const summary: SweepSummary = { completed: 0, failed: 0, skipped: 0, planned: 0 };
  for (const run of runs) summary[run.outcome] += 1;
  return summary;
}

/** Exit code of the public contract: 0 nothing failed, 1 some run failed (2 is for setup errors). */
export function exitCodeFor(report: SweepReport): 0 | 1 {
  return report.summary.failed > 0 ? 1 : 0;
}

/** A readable table and summary for people (CLI without --json). */
export function renderReport(report: SweepReport): string {
  const lines: string[] = [];
  const title = report.dryRun ? 'Dry run (nothing changed, nothing signalled)' : 'Sweep';
  lines.push(`${title}: ${report.startedAt} → ${report.finishedAt}`);
  if (report.runs.length === 0) {
    lines.push('No runs waiting.');
  } else {
    const rows = report.runs.map((run) => [
      run.runId,
      run.workflowName,
      run.email || '(none)',
      run.outcome,
      run.signalled ? 'yes' : 'no',
      describeRun(run),
    ]);
    lines.push(...table(['run', 'workflow', 'email', 'outcome', 'signalled', 'actions / reason'], rows));
  }
  const s = report.summary;
  lines.push('');
  lines.push(
    `Summary: ${s.completed} completed, ${s.failed} failed, ${s.skipped} skipped, ${s.planned} planned` +
      (report.deferred > 0 ? `, ${report.deferred} left for the next sweep` : ''),
  );
  for (const warning of report.warnings) lines.push(`Warning: ${warning}`);
  return lines.join('\n');
}

function describeRun(run: RunReport): string {
  // Details of failures are in `error`; the table keeps each action to name=status.
  const parts = run.actions.map((action) => `${action.name}=${action.status}`);
  if (run.error) parts.push(`error: ${run.error}`);
  if (run.detail) parts.push(run.detail);
  return parts.join('; ');
}

function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) =>
    Math.min(i === header.length - 1 ? 200 : 40, Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length))),
  );
  const format = (cells: string[]) =>
    cells
      .map((cell, i) => {
        const width = widths[i] ?? cell.length;
        const text = cell.length > width ? `${cell.slice(0, width - 1)}…` : cell;
        return i === cells.length - 1 ? text : text.padEnd(width);
      })
      .join('  ');
  return [format(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(format)];
}
