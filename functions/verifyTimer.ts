import { app, type InvocationContext, type Timer } from '@azure/functions';
import { verify } from '../shared/composition';
import { loadConfig } from '../shared/config';
import { ensureAppError } from '../shared/errors';
import { invocationLogger } from '../shared/logging';
import { logVerifyReport } from '../shared/verify/verifyReport';
import { TIMER_BUDGET_MS } from './invocation';

const DAY_MS = 24 * 3600 * 1000;

/**
 * Scheduled verify (VERIFY_SCHEDULE): re-check completed runs of the last VERIFY_SINCE_DAYS days
 * against Exchange and log each drift and a summary. It never repairs and never signals: repairing
 * is `verify --repair`, a person's decision. The invocation fails only on setup errors.
 */
export async function verifyTimer(timer: Timer, context: InvocationContext): Promise<void> {
  const logger = invocationLogger(context);
  try {
    const config = loadConfig(process.env);
    if (timer.isPastDue) logger.warn('this scheduled verify started late (the timer was past due)');
    const since = new Date(Date.now() - config.verify.sinceDays * DAY_MS);
    const deadline = new Date(Date.now() + TIMER_BUDGET_MS);
    const report = await verify(config, { logger, env: process.env }, { since, repair: false, deadline });
    logVerifyReport(logger, report);
  } catch (thrown) {
    const error = ensureAppError(thrown);
    logger.error(`verify failed before checking runs: ${error.describe()}`, { code: error.code });
    throw error;
  }
}

// Off unless VERIFY_SCHEDULE is set: the host cannot resolve an empty %VERIFY_SCHEDULE%, so without
// it the function is not registered at all (changing an app setting restarts the app, which reloads this).
if ((process.env.VERIFY_SCHEDULE ?? '').trim() !== '') {
  app.timer('verifyTimer', {
    schedule: '%VERIFY_SCHEDULE%',
    runOnStartup: false,
    handler: verifyTimer,
  });
}
