import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';
import { undo } from '../shared/composition';
import { loadConfig } from '../shared/config';
import { ensureAppError } from '../shared/errors';
import { invocationLogger } from '../shared/logging';
import { HTTP_CALL_TIMEOUT_MS, problem } from './invocation';

const RUN_ID = /^(undo-)?[0-9a-f]{24}$/i;

/**
 * POST /api/runs/{runId}/undo[?dryRun=true][&force=true]: restore what the run changed, from its
 * journal (400 bad id or switch, 404 unknown run, 409 undo of an undo). Never signals the workflow.
 */
export async function undoHttp(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const runId = request.params.runId ?? '';
  if (!RUN_ID.test(runId)) {
    return problem(400, 'RunIdInvalid', 'runId must be a SaaS Manager run id (24 hexadecimal characters)');
  }
  const flags: Record<string, boolean> = {};
  for (const name of ['dryRun', 'force']) {
    const value = request.query.get(name);
    if (value !== null && !['true', 'false'].includes(value)) {
      return problem(
        400,
        `${name === 'dryRun' ? 'DryRun' : 'Force'}Invalid`,
        `${name} must be true or false`,
      );
    }
    flags[name] = value === 'true';
  }
  const logger = invocationLogger(context);
  try {
    const config = loadConfig(process.env);
    const report = await undo(
      config,
      { logger, env: process.env, maxCallTimeoutMs: HTTP_CALL_TIMEOUT_MS },
      {
        runId: runId.toLowerCase(),
        dryRun: flags.dryRun === true || config.dryRun,
        force: flags.force === true,
      },
    );
    return { status: 200, jsonBody: report };
  } catch (thrown) {
    const error = ensureAppError(thrown);
    logger.error(`undo of ${runId} failed: ${error.describe()}`, { code: error.code });
    return problem(error.httpStatus, error.code, error.message, error.hint);
  }
}

app.http('undoHttp', {
  methods: ['POST'],
  authLevel: 'function',
  route: 'runs/{runId}/undo',
  handler: undoHttp,
});
