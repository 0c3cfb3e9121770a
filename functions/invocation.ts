/** What the triggers share: their time budgets and the problem answer. Not a function itself. */
import type { HttpResponseInit } from '@azure/functions';

/** A scheduled sweep stops starting runs after this, well inside host.json's functionTimeout (1 hour). */
export const TIMER_BUDGET_MS = 25 * 60 * 1000;
/** One PowerShell call in an HTTP-triggered sweep may take at most this (HTTP answers within 230 s). */
export const HTTP_CALL_TIMEOUT_MS = 45_000;

/** An RFC 9457 problem answer: our error code as the title, its message, and what to do. */
export function problem(status: number, code: string, detail: string, hint?: string): HttpResponseInit {
  return {
    status,
    headers: { 'content-type': 'application/problem+json' },
    jsonBody: { status, title: code, detail, ...(hint ? { hint } : {}) },
  };
}
