import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';
import { runHistory } from '../shared/composition';
import { loadHistoryConfig } from '../shared/config';
import { ensureAppError } from '../shared/errors';
import { invocationLogger } from '../shared/logging';
import { problem } from './invocation';

const RUN_ID = /^[0-9a-f]{24}$/i;

/** GET /api/runs/{runId}: the run's journal as JSON (400 bad id, 404 unknown run). */
export async function runHistoryHttp(
  request: HttpRequest,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  const runId = request.params.runId ?? '';
  if (!RUN_ID.test(runId)) {
    return problem(400, 'RunIdInvalid', 'runId must be a SaaS Manager run id (24 hexadecimal characters)');
  }
  try {
    const history = await runHistory(loadHistoryConfig(process.env), runId.toLowerCase());
    if (!history) return problem(404, 'RunNotFound', `the journal knows no run ${runId}`);
    return { status: 200, jsonBody: history };
  } catch (thrown) {
    const error = ensureAppError(thrown);
    invocationLogger(context).error(`reading the journal of run ${runId} failed: ${error.describe()}`, {
      code: error.code,
    });
    return problem(500, error.code, error.message, error.hint);
  }
}

app.http('runHistoryHttp', {
  methods: ['GET'],
  authLevel: 'function',
  route: 'runs/{runId}',
  handler: runHistoryHttp,
});
