import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';
import { sweep } from '../shared/composition';
import { loadConfig } from '../shared/config';
import { ensureAppError } from '../shared/errors';
import { invocationLogger } from '../shared/logging';
import { HTTP_CALL_TIMEOUT_MS, problem } from './invocation';
import { logReport } from '../shared/sweep/report';

const RUN_ID = /^[0-9a-f]{24}$/i;

/** POST /api/sweep[?dryRun=true]: a whole sweep, bounded to answer inside the HTTP limit. */
export async function sweepHttp(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  return handle(request, context, undefined);
}

/** POST /api/runs/{runId}/rerun[?dryRun=true]: one run now (400 bad id, 404 unknown, 409 not waiting). */
export async function rerunHttp(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const runId = request.params.runId ?? '';
  if (!RUN_ID.test(runId)) {
    return problem(400, 'RunIdInvalid', 'runId must be a SaaS Manager run id (24 hexadecimal characters)');
  }
  return handle(request, context, runId.toLowerCase());
}

async function handle(
  request: HttpRequest,
  context: InvocationContext,
  runId: string | undefined,
): Promise<HttpResponseInit> {
  const logger = invocationLogger(context);
  const dryRunParam = request.query.get('dryRun');
  if (dryRunParam !== null && !['true', 'false'].includes(dryRunParam)) {
    return problem(400, 'DryRunInvalid', 'dryRun must be true or false');
  }
  try {
    const config = loadConfig(process.env);
    const started = Date.now();
    const report = await sweep(
      config,
      { logger, env: process.env, maxCallTimeoutMs: HTTP_CALL_TIMEOUT_MS },
      {
        dryRun: dryRunParam === 'true' || config.dryRun,
        ...(runId === undefined ? {} : { runId }),
        deadline: new Date(started + config.httpBudgetMs),
        reserveMs: 2 * Math.min(HTTP_CALL_TIMEOUT_MS, config.exchange.callTimeoutMs),
      },
    );
    logReport(logger, report);
    return { status: 200, jsonBody: report };
  } catch (thrown) {
    const error = ensureAppError(thrown);
    logger.error(`${runId ? `rerun of ${runId}` : 'sweep'} failed: ${error.describe()}`, {
      code: error.code,
    });
    return problem(error.httpStatus, error.code, error.message, error.hint);
  }
}

app.http('sweepHttp', { methods: ['POST'], authLevel: 'function', route: 'sweep', handler: sweepHttp });
app.http('rerunHttp', {
  methods: ['POST'],
  authLevel: 'function',
  route: 'runs/{runId}/rerun',
  handler: rerunHttp,
});
