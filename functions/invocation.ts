/** What the triggers share: their time budgets. Not a function itself. */

/** A scheduled sweep stops starting runs after this, well inside host.json's functionTimeout (1 hour). */
export const TIMER_BUDGET_MS = 25 * 60 * 1000;
/** One PowerShell call in an HTTP-triggered sweep may take at most this (HTTP answers within 230 s). */
export const HTTP_CALL_TIMEOUT_MS = 45_000;
