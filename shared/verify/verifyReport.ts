/**
 * The verify report: one JSON shape for `verify --json` and the verify timer's log, the readable
 * table for people, and the exit code. Public contract: add fields, never rename or remove them.
 */
import type { ActionResult } from '../domain';
import type { Logger } from '../ports';
import { abbreviate, OUTPUT_COLUMNS, wrap } from '../sweep/report';

/**
 * clean: every action of the run is still as it left it. drift: some action would change again.
 * repaired: drift was found and `--repair` re-applied it. failed: the run could not be verified (or
 * repaired) in full. notVerified: the run is not completed (or its journal cannot say what it did).
 */
export type VerifyVerdict = 'clean' | 'drift' | 'repaired' | 'failed' | 'notVerified';

/** One action whose after-state has drifted: what the look would change again to restore it. */
export interface Drift {
  name: string;
  /** The look's own words (e.g. "Would remove Pat Leaver from 1 distribution group: 'All Staff'."). */
  detail: string;
  /** The exact change cmdlets a repair runs. */
  changes: string[];
}

export interface VerifyRunReport {
  runId: string;
  workflowId: string;
  workflowName: string;
  email: string;
  verdict: VerifyVerdict;
  /** The journalled attempt whose plan and outcome were checked. */
  attempt?: number;
  /** Every drifted action (empty for a clean run). */
  drift: Drift[];
  /** With --repair: the repair attempt's number in the journal and each drifted action's result. */
  repairAttempt?: number;
  repairs?: ActionResult[];
  /** Why the run was not verified. */
  detail?: string;
  /** Why verifying (or repairing) failed. */
  error?: string;
}

export interface VerifySummary {
  /** Runs looked at in Exchange (clean + drift + repaired + failed). */
  verified: number;
  clean: number;
  drift: number;
  repaired: number;
  failed: number;
  notVerified: number;
}

export interface VerifyReport {
  repair: boolean;
  /** Runs with journal activity since this moment were considered. */
  since: string;
  startedAt: string;
  finishedAt: string;
  runs: VerifyRunReport[];
  summary: VerifySummary;
  warnings: string[];
  stats: { powerShellProcesses: number; exchangeCmdletCalls: number };
}

export function summarizeVerify(runs: readonly VerifyRunReport[]): VerifySummary {
  const summary: VerifySummary = { verified: 0, clean: 0, drift: 0, repaired: 0, failed: 0, notVerified: 0 };
  for (const run of runs) {
    summary[run.verdict] += 1;
    if (run.verdict !== 'notVerified') summary.verified += 1;
  }
  return summary;
}

/**
 * Exit code: 0 no drift is left (every run clean, repaired, or not verifiable because not completed);
 * 1 drift found and not repaired, or a run could not be verified or repaired (2 is for setup errors).
 */
export function verifyExitCode(report: VerifyReport): 0 | 1 {
  return report.summary.drift > 0 || report.summary.failed > 0 ? 1 : 0;
}

const MARK: Record<VerifyVerdict, string> = {
  clean: '✔',
  drift: '✘',
  repaired: '↺',
  failed: '✘',
  notVerified: '-',
};

/** For people: one block per run, every line at most OUTPUT_COLUMNS wide. */
export function renderVerifyReport(report: VerifyReport): string {
  const lines: string[] = [];
  const title = report.repair ? 'Verify and repair' : 'Verify (nothing changed)';
  lines.push(
    ...wrap(
      `${title}: completed runs active since ${report.since}; ${report.startedAt} → ${report.finishedAt}`,
      '',
      '  ',
    ),
  );
  if (report.runs.length === 0) lines.push('No runs in the journal for this period.');
  for (const run of report.runs) {
    lines.push('');
    const attempt = run.attempt !== undefined ? `  (attempt ${run.attempt})` : '';
    lines.push(
      abbreviate(
        `${MARK[run.verdict]} ${run.verdict}  run ${run.runId}  ${run.workflowName}${attempt}`,
        OUTPUT_COLUMNS,
      ),
    );
    if (run.email) lines.push(abbreviate(`  ${run.email}`, OUTPUT_COLUMNS));
    const width = Math.max(0, ...run.drift.map((d) => d.name.length));
    for (const drift of run.drift) {
      const label = `  drift  ${drift.name.padEnd(width)}  `;
      lines.push(...wrap(`${label}${drift.detail}`.trimEnd(), '', ' '.repeat(label.length)));
      const repaired = run.repairs?.find((r) => r.name === drift.name);
      if (repaired) {
        const head = `    repair ${repaired.status}: `;
        lines.push(...wrap(`${head}${repaired.detail ?? ''}`.trimEnd(), '', ' '.repeat(8)));
      } else {
        for (const change of drift.changes)
          lines.push(...wrap(`    repair would run: ${change}`, '', ' '.repeat(8)));
      }
    }
    if (run.repairAttempt !== undefined) lines.push(`  journalled as repair attempt ${run.repairAttempt}`);
    if (run.error) lines.push(...wrap(`  error: ${run.error}`, '', '    '));
    if (run.detail) lines.push(...wrap(`  ${run.detail}`, '', '    '));
  }
  const s = report.summary;
  lines.push('');
  lines.push(
    ...wrap(
      `Summary: ${s.verified} verified: ${s.clean} clean, ${s.drift} with drift, ${s.repaired} repaired, ${s.failed} failed; ${s.notVerified} not verified`,
      '',
      '  ',
    ),
  );
  for (const warning of report.warnings) lines.push(...wrap(`Warning: ${warning}`, '', '  '));
  return lines.join('\n');
}

/**
 * The report as log lines (the verify timer): one warning per drifted action, one line per run that
 * failed or was repaired, then the summary and each warning. Clean runs are summed up, not listed.
 */
export function logVerifyReport(logger: Logger, report: VerifyReport): void {
  for (const run of report.runs) {
    const who = `run ${run.runId} (${run.workflowName})`;
    for (const drift of run.drift) {
      const repaired = run.repairs?.find((r) => r.name === drift.name);
      const line = `verify: ${who} drift: ${drift.name}: ${drift.detail}${repaired ? ` repair ${repaired.status}${repaired.detail ? `: ${repaired.detail}` : ''}` : ''}`;
      const properties = { runId: run.runId, action: drift.name, verdict: run.verdict };
      if (repaired && repaired.status !== 'failed') logger.info(line, properties);
      else logger.warn(line, properties);
    }
    if (run.verdict === 'failed')
      logger.warn(`verify: ${who} could not be verified: ${run.error ?? 'unknown error'}`, {
        runId: run.runId,
        verdict: run.verdict,
      });
  }
  const s = report.summary;
  logger.info(
    `verify summary: ${s.verified} verified, ${s.clean} clean, ${s.drift} with drift, ${s.repaired} repaired, ${s.failed} failed, ${s.notVerified} not verified${report.repair ? '' : ' (nothing changed)'}`,
    { ...s, repair: report.repair },
  );
  for (const warning of report.warnings) logger.warn(warning);
}
