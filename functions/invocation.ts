/** What the triggers share: time budgets and how a report is logged. Not a function itself. */
import type { Logger } from '../shared/ports';
import type { SweepReport } from '../shared/sweep/report';

/** A scheduled sweep stops starting runs after this, well inside host.json's functionTimeout (1 hour). */
export const TIMER_BUDGET_MS = 25 * 60 * 1000;
/** One PowerShell call in an HTTP-triggered sweep may take at most this (HTTP answers within 230 s). */
export const HTTP_CALL_TIMEOUT_MS = 45_000;

/** One line per run, then the summary: the same lines for the timer and the HTTP triggers. */
export function logReport(logger: Logger, report: SweepReport): void {
  for (const run of report.runs) {
    const actions = run.actions.map((a) => `${a.name}=${a.status}`).join(' ');
    const line = `run ${run.runId} (${run.workflowName}) ${run.outcome}${run.signalled ? ', signalled' : ''}${actions ? `: ${actions}` : ''}${run.error ? ` error: ${run.error}` : ''}${run.detail ? ` (${run.detail})` : ''}`;
    // A run given up is an error an alert rule can catch (docs/deploy.md has the query).
    if (run.gaveUp === true) logger.error(line, { runId: run.runId, outcome: run.outcome, gaveUp: true });
    else if (run.outcome === 'failed') logger.warn(line, { runId: run.runId, outcome: run.outcome });
    else logger.info(line, { runId: run.runId, outcome: run.outcome });
  }
  const s = report.summary;
  logger.info(
    `sweep summary: ${s.completed} completed, ${s.failed} failed, ${s.skipped} skipped, ${s.planned} planned, ${report.deferred} deferred${report.dryRun ? ' (dry run)' : ''}`,
    { ...s, deferred: report.deferred, dryRun: report.dryRun },
  );
  for (const warning of report.warnings) logger.warn(warning);
}
