/** Narrowing for untrusted JSON (API bodies, PowerShell results): a plain object, not an array. */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
