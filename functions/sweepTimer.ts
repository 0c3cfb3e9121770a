import { app, type InvocationContext, type Timer } from '@azure/functions';
import { expireDelegations, fanOut, pruneJournal, sweep } from '../shared/composition';
import { loadConfig } from '../shared/config';
import { ensureAppError } from '../shared/errors';
import { invocationLogger } from '../shared/logging';
import { TIMER_BUDGET_MS } from './invocation';
import { logExpired, logReport } from '../shared/sweep/report';

/** Scheduled sweep. The invocation fails only on setup errors; a failed run is in the log and is retried next time. */
export async function sweepTimer(timer: Timer, context: InvocationContext): Promise<void> {
  const logger = invocationLogger(context);
  try {
    const config = loadConfig(process.env);
    if (timer.isPastDue) logger.warn('this scheduled sweep started late (the timer was past due)');
    if (config.sweepMode === 'queue') {
      // Fan-out: one exo-runs message per waiting run; the processRun queue trigger does the work.
      await fanOut(config, { logger, env: process.env });
      // Expiring delegation: the due grants are removed here (the sweep does it in inline mode).
      try {
        logExpired(logger, await expireDelegations(config, { logger, env: process.env }));
      } catch (thrown) {
        logger.warn(`expiring delegation failed: ${ensureAppError(thrown).describe()}`);
      }
    } else {
      const started = Date.now();
      const report = await sweep(
        config,
        { logger, env: process.env },
        {
          dryRun: config.dryRun,
          deadline: new Date(started + TIMER_BUDGET_MS),
          reserveMs: 2 * config.exchange.callTimeoutMs,
        },
      );
      logReport(logger, report);
    }
    // Retention (EXO_JOURNAL_DAYS): a failure here is logged, never the sweep's failure.
    try {
      const pruned = await pruneJournal({
        storage: config.storage,
        retentionDays: config.journal.retentionDays,
      });
      if (pruned > 0)
        logger.info(
          `journal retention: removed ${pruned} run(s) older than ${config.journal.retentionDays} days`,
        );
    } catch (thrown) {
      logger.warn(`journal retention failed: ${ensureAppError(thrown).describe()}`);
    }
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
