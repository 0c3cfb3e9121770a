import { app, type InvocationContext } from '@azure/functions';
import { processQueuedRun, reportPoisonedRun } from '../shared/composition';
import { loadConfig } from '../shared/config';
import { AppError, ensureAppError } from '../shared/errors';
import { invocationLogger } from '../shared/logging';
import { POISON_QUEUE, RUN_QUEUE } from '../shared/queue/storageQueue';
import { logReport } from '../shared/sweep/report';

/**
 * One queued run (SWEEP_MODE=queue), on this worker's long-lived session pool. A failed attempt throws,
 * so the host makes the message visible again; after maxDequeueCount attempts (host.json) the host
 * moves it to the poison queue.
 */
export async function processRun(message: unknown, context: InvocationContext): Promise<void> {
  const logger = invocationLogger(context);
  const config = loadConfig(process.env);
  const result = await processQueuedRun(config, { logger, env: process.env }, message);
  if (result.report) logReport(logger, result.report);
  else if (result.detail) logger.info(`queued run not processed: ${result.detail}`);
  if (result.retry !== undefined) {
    throw new AppError(
      'QueuedRunFailed',
      `this attempt failed (the message is tried again): ${result.retry}`,
    );
  }
}

/** A message that failed maxDequeueCount times: its run is reported failed with the reason, never signalled. */
export async function runPoisoned(message: unknown, context: InvocationContext): Promise<void> {
  const logger = invocationLogger(context);
  try {
    const config = loadConfig(process.env);
    const attempts = Number(context.triggerMetadata?.dequeueCount ?? 0) || 0;
    const report = await reportPoisonedRun(config, message, attempts);
    logger.error(
      `run ${report.runId} (${report.workflowName}) failed, not signalled: ${report.error ?? ''}`,
      {
        runId: report.runId,
        outcome: report.outcome,
      },
    );
  } catch (thrown) {
    const error = ensureAppError(thrown);
    logger.error(`a poisoned run message could not be reported: ${error.describe()}`, { code: error.code });
    throw error;
  }
}

app.storageQueue('processRun', {
  queueName: RUN_QUEUE,
  connection: 'AzureWebJobsStorage',
  handler: processRun,
});
app.storageQueue('runPoisoned', {
  queueName: POISON_QUEUE,
  connection: 'AzureWebJobsStorage',
  handler: runPoisoned,
});
