import { app, type InvocationContext, type Timer } from '@azure/functions';
import { fanOut, sweep } from '../shared/composition';
import { loadConfig } from '../shared/config';
import { ensureAppError } from '../shared/errors';
import { invocationLogger } from '../shared/logging';
import { logReport, TIMER_BUDGET_MS } from './invocation';

/** Scheduled sweep. The invocation fails only on setup errors; a failed run is in the log and is retried next time. */
export async function sweepTimer(timer: Timer, context: InvocationContext): Promise<void> {
  const logger = invocationLogger(context);
  try {
    const config = loadConfig(process.env);
    if (config.sweepMode === 'queue') {
      // Fan-out: one exo-runs message per waiting run; the processRun queue trigger does the work.
      await fanOut(config, { logger });
      if (timer.isPastDue) logger.warn('this scheduled sweep started late (the timer was past due)');
      return;
    }
    const started = Date.now();
    const report = await sweep(
      config,
      { logger },
      {
        dryRun: config.dryRun,
        deadline: new Date(started + TIMER_BUDGET_MS),
        reserveMs: 2 * config.exchange.callTimeoutMs,
      },
    );
    if (timer.isPastDue) logger.warn('this scheduled sweep started late (the timer was past due)');
    logReport(logger, report);
  } catch (thrown) {
    const error = ensureAppError(thrown);
    logger.error(`sweep failed before processing runs: ${error.describe()}`, { code: error.code });
    throw error;
  }
}

app.timer('sweepTimer', {
  // Resolved by the host from the SWEEP_SCHEDULE app setting (local.settings.json locally).
  schedule: '%SWEEP_SCHEDULE%',
  runOnStartup: false,
  handler: sweepTimer,
});
