/** The undo report as a readable table (the CLI without --json). Pure. */
import { wrap } from '../sweep/report';
import type { UndoReport } from './runUndo';

export function renderUndo(report: UndoReport): string {
  const lines: string[] = [];
  const mode = report.dryRun ? ' (dry run: nothing changed, nothing journalled)' : '';
  lines.push(`Undo of run ${report.runId}${mode}${report.force ? ' --force' : ''}`);
  if (report.steps.length === 0)
    lines.push('  nothing to undo: the journal holds no change this app made for the run');
  const indent = ' '.repeat(13);
  for (const step of report.steps) {
    lines.push(`  ${step.status.padEnd(8)}   ${step.action}`);
    if (step.detail) lines.push(...wrap(step.detail, indent, indent));
    for (const cmdlet of step.cmdlets ?? []) lines.push(...wrap(`$ ${cmdlet}`, indent, `${indent}    `));
    for (const warning of step.warnings ?? []) lines.push(...wrap(`warning: ${warning}`, indent, indent));
  }
  const counts = Object.entries(report.summary)
    .filter(([, count]) => count > 0)
    .map(([status, count]) => `${count} ${status}`)
    .join(', ');
  lines.push(
    ...wrap(
      `Outcome: ${report.outcome}${counts ? ` (${counts})` : ''}; ${report.cmdletCalls} Exchange cmdlet call${report.cmdletCalls === 1 ? '' : 's'}; the workflow is not signalled.`,
      '',
      '  ',
    ),
  );
  if (!report.dryRun && report.attempt !== undefined)
    lines.push(`Journalled as ${report.undoId}, attempt ${report.attempt} (history ${report.undoId}).`);
  return lines.join('\n');
}

/** 0 nothing failed, 1 some step failed (drift is reported, not a failure). */
export function undoExitCode(report: UndoReport): number {
  return report.outcome === 'failed' ? 1 : 0;
}
