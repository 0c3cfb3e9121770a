/**
 * Fan-out (issue 14): the timer's sweep in queue mode. It lists the runs waiting at the Signal step
 * and puts one message per run on the exo-runs queue, never a second one while the run's first is
 * pending (a mark per run); each message is then processed by the `processRun` queue trigger, on
 * whichever instance takes it, with that worker's session pool.
 */
import { AppError, ensureAppError } from '../errors';
import type { Logger, PendingRuns, RunQueue, WorkflowApi } from '../ports';
import type { RunReport } from './report';

export interface FanOutDependencies {
  workflowApi: WorkflowApi;
  queue: RunQueue;
  pending: PendingRuns;
  logger: Logger;
}

export interface FanOutSettings {
  workflowNames: readonly string[];
  stepName: string;
  actionName: string;
}

export interface FanOutReport {
  /** Messages put on the queue by this sweep. */
  queued: number;
  /** Runs whose message from an earlier sweep is still pending. */
  alreadyPending: number;
  /** Runs that could not be queued (tried again by the next sweep), with why. */
  failed: Array<{ runId: string; error: string }>;
}

const RUN_ID = /^[0-9a-f]{24}$/i;

export async function fanOutSweep(deps: FanOutDependencies, settings: FanOutSettings): Promise<FanOutReport> {
  const report: FanOutReport = { queued: 0, alreadyPending: 0, failed: [] };
  for (const workflowName of settings.workflowNames) {
    const step = await deps.workflowApi.resolveStep(workflowName, settings.stepName, settings.actionName);
    for await (const run of deps.workflowApi.listWaitingRuns(step)) {
      try {
        if (!RUN_ID.test(run.runId))
          throw new AppError('RunIdInvalid', 'refusing to queue an unusual run id');
        if (!(await deps.pending.tryMark(run.runId))) {
          report.alreadyPending += 1;
          continue;
        }
        try {
          await deps.queue.send({ runId: run.runId, workflowName: step.workflowName });
        } catch (error) {
          // Not queued after all: the next sweep may try again.
          await deps.pending.clear(run.runId).catch(() => undefined);
          throw error;
        }
        report.queued += 1;
      } catch (thrown) {
        report.failed.push({ runId: run.runId, error: ensureAppError(thrown).describe() });
      }
    }
  }
  deps.logger.info(
    `fan-out: ${report.queued} run(s) queued, ${report.alreadyPending} already pending, ${report.failed.length} could not be queued`,
    { queued: report.queued, alreadyPending: report.alreadyPending, failed: report.failed.length },
  );
  for (const failure of report.failed)
    deps.logger.warn(`run ${failure.runId} could not be queued: ${failure.error}`, { runId: failure.runId });
  return report;
}

/** A queue message body, checked: it is ours, but whatever reads a queue treats it as input. */
export function parseQueuedRun(body: unknown): { runId: string; workflowName: string } {
  const value = typeof body === 'string' ? safeJson(body) : body;
  if (typeof value === 'object' && value !== null) {
    const { runId, workflowName } = value as Record<string, unknown>;
    if (typeof runId === 'string' && RUN_ID.test(runId) && typeof workflowName === 'string') {
      return { runId: runId.toLowerCase(), workflowName: workflowName.slice(0, 200) };
    }
  }
  throw new AppError('QueueMessageInvalid', 'the queue message is not { runId, workflowName } of a run');
}

/** The report of a run whose message was poisoned: failed, never signalled, with the last reason. */
export function poisonedRunReport(
  run: { runId: string; workflowName: string },
  attempts: number,
  lastFailure: string | undefined,
): RunReport {
  return {
    runId: run.runId,
    workflowId: '',
    workflowName: run.workflowName,
    email: '',
    outcome: 'failed',
    actions: [],
    signalled: false,
    error: `gave up after ${attempts} attempt(s) (the message went to the poison queue): ${lastFailure ?? 'no reason was recorded'}`,
  };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
