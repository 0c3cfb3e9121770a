/**
 * The WorkflowApiErrors the SaaS Manager adapter raises, built from an exchange's method, path,
 * status and problem details (never its body or headers), with a hint that says what to do.
 */
import { WorkflowApiError, type WorkflowApiCode, type WorkflowApiErrorDetails } from '../errors';
import type { WaitingStep, WorkflowRun } from '../domain';
import { parseProblemDetails, summarizeProblem } from './problemDetails';
import {
  clip,
  describeExchange,
  safePath,
  type Answer,
  type Exchange,
  type Method,
  type NetworkFailure,
} from './transport';

/** Exactly what a sweep needs: find workflows, read runs, fire the step's action. */
export const SAAS_MANAGER_SCOPES = [
  'Workflows.Read',
  'Workflows.Runs.Read',
  'Workflows.Runs.Execute',
] as const;

export const BASE_URL_HINT =
  'check TRELICA_BASE_URL (https://app.trelica.com, or https://eu.trelica.com in the EU) and that this machine can reach it';
export const SCOPES_HINT = `the API application needs the scopes ${SAAS_MANAGER_SCOPES.join(', ')}; create or edit it in SaaS Manager under Admin → Settings → API applications (save it before using its credentials)`;

export function networkError(
  origin: string,
  method: Method,
  url: URL,
  exchange: NetworkFailure,
  attempts: number,
  setup: boolean,
): WorkflowApiError {
  const tries = attempts > 1 ? ` (${attempts} attempts)` : '';
  const message = exchange.timedOut
    ? `SaaS Manager at ${origin} did not answer ${method} ${url.pathname}: ${exchange.reason}${tries}`
    : `Cannot reach SaaS Manager at ${origin} (${method} ${url.pathname}: ${exchange.reason})${tries}`;
  return new WorkflowApiError(exchange.timedOut ? 'Timeout' : 'Unreachable', message, {
    method,
    path: safePath(url),
    setup,
    hint: BASE_URL_HINT,
  });
}

export function statusError(
  method: Method,
  url: URL,
  answer: Answer,
  attempts: number,
  setup: boolean,
  code?: WorkflowApiCode,
): WorkflowApiError {
  const problem = parseProblemDetails(answer.body);
  const summary = summarizeProblem(problem);
  const tries = attempts > 1 ? ` after ${attempts} attempts` : '';
  const trace = problem?.traceId ? ` (traceId ${problem.traceId})` : '';
  const message = `SaaS Manager ${method} ${url.pathname} answered ${answer.status}${answer.statusText ? ` ${answer.statusText}` : ''}${summary ? `: ${summary}` : ''}${tries}${trace}`;
  const details: WorkflowApiErrorDetails = {
    method,
    path: safePath(url),
    upstreamStatus: answer.status,
    setup,
    ...(problem?.title !== undefined ? { title: problem.title } : {}),
    ...(problem?.detail !== undefined ? { detail: problem.detail } : {}),
    ...(problem?.traceId !== undefined ? { traceId: problem.traceId } : {}),
  };
  const status = answer.status;
  if (status === 401) {
    return new WorkflowApiError(code ?? 'Unauthorized', message, {
      ...details,
      setup: true,
      hint: 'a freshly issued access token was refused; check that the API application is still enabled',
    });
  }
  if (status === 403)
    return new WorkflowApiError(code ?? 'Forbidden', message, {
      ...details,
      setup: true,
      hint: SCOPES_HINT,
    });
  if (status >= 300 && status < 400) {
    return new WorkflowApiError(code ?? 'Redirected', message, { ...details, hint: BASE_URL_HINT });
  }
  const fallback: WorkflowApiCode =
    status === 404
      ? 'NotFound'
      : status === 429
        ? 'RateLimited'
        : status >= 500
          ? 'ServerError'
          : 'RequestFailed';
  return new WorkflowApiError(code ?? fallback, message, details);
}

export function signalRefused(
  step: WaitingStep,
  run: WorkflowRun,
  url: URL,
  answer: Answer,
): WorkflowApiError {
  if (answer.status === 404) {
    const problem = parseProblemDetails(answer.body);
    return new WorkflowApiError(
      'RunGone',
      `SaaS Manager has no run ${run.runId} with a "${step.actionName}" action at step "${step.stepName}" any more (POST ${url.pathname} answered 404)${problem?.traceId ? ` (traceId ${problem.traceId})` : ''}`,
      {
        method: 'POST',
        path: safePath(url),
        upstreamStatus: 404,
        ...(problem?.traceId ? { traceId: problem.traceId } : {}),
      },
    );
  }
  const error = statusError('POST', url, answer, 1, false);
  if (answer.status === 401 || answer.status === 403) return error;
  return new WorkflowApiError(
    'SignalRejected',
    `The "${step.actionName}" signal for run ${run.runId} was refused: ${error.message}`,
    {
      method: 'POST',
      path: safePath(url),
      upstreamStatus: answer.status,
      ...pick(error),
    },
  );
}

export function signalGaveUp(
  step: WaitingStep,
  run: WorkflowRun,
  url: URL,
  exchange: Exchange,
  attempts: number,
  uncertain: boolean,
): WorkflowApiError {
  const outcome = uncertain
    ? 'whether the last attempt took effect is unknown; if the run is still waiting, the next sweep tries again'
    : 'the run is still waiting, so the next sweep tries again';
  return new WorkflowApiError(
    uncertain ? 'SignalUncertain' : 'SignalFailed',
    `The "${step.actionName}" signal for run ${run.runId} did not go through: POST ${url.pathname} ${describeExchange(exchange)} (${attempts} ${attempts === 1 ? 'attempt' : 'attempts'}); ${outcome}`,
    {
      method: 'POST',
      path: safePath(url),
      ...(exchange.kind === 'response' ? { upstreamStatus: exchange.status } : {}),
      ...(exchange.kind === 'network' ? { hint: BASE_URL_HINT } : {}),
    },
  );
}

export function parseBaseUrl(value: string): URL {
  let url: URL;
  try {
    url = new URL(value.trim());
  } catch {
    throw new WorkflowApiError('InvalidBaseUrl', `TRELICA_BASE_URL "${value}" is not a URL`, {
      setup: true,
      hint: BASE_URL_HINT,
    });
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new WorkflowApiError(
      'InvalidBaseUrl',
      `TRELICA_BASE_URL must be an https:// URL (got ${url.protocol})`,
      {
        setup: true,
        hint: BASE_URL_HINT,
      },
    );
  }
  url.search = '';
  url.hash = '';
  return url;
}

export function actionNotFound(step: WaitingStep, run: WorkflowRun): WorkflowApiError {
  const actions =
    run.availableActions.length > 0
      ? `its actions are ${quoteList(run.availableActions)}`
      : 'it offers no actions';
  return new WorkflowApiError(
    'ActionNotFound',
    `Run ${run.runId}${run.name ? ` (${run.name})` : ''} waits at step "${step.stepName}" but has no action named "${step.actionName}"; ${actions}`,
    { hint: 'set WORKFLOW_ACTION_NAME to the action this app should fire when its work is done' },
  );
}

function pick(error: WorkflowApiError): WorkflowApiErrorDetails {
  return {
    ...(error.title !== undefined ? { title: error.title } : {}),
    ...(error.detail !== undefined ? { detail: error.detail } : {}),
    ...(error.traceId !== undefined ? { traceId: error.traceId } : {}),
  };
}

export function quoteList(items: readonly string[], max = 10): string {
  const shown = items.slice(0, max).map((item) => `"${clip(item)}"`);
  return items.length > max ? `${shown.join(', ')} and ${items.length - max} more` : shown.join(', ');
}
