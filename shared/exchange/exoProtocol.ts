import { isRecord } from '../guards';
/**
 * The wire protocol between Node and ExoActions.psm1, as pure code (no process needed to test it).
 *
 * Requests: a constant command line (`Invoke-ExoRunPlan`), then, when the call carries data, one data
 * line: `#` and base64 of UTF-8 JSON. The module reads that line itself from stdin, so data is never
 * command text (which transcription and script block logging record), and should a data line ever be
 * read as a command, the `#` makes it a comment, never code or an error message that echoes it.
 *
 * Answers: exactly one line of compact JSON on stdout. Terminal control sequences are ignored wherever
 * they appear: real pwsh on Linux writes ESC[?1h ESC[?1l around every line it reads when TERM is unset
 * (PowerShell/PowerShell#26631), and a future release or host may write others.
 */

export type ParsedResult =
  { ok: true; value: Record<string, unknown>; noise: string[] } | { ok: false; problem: string };

/** The data line for a payload: `#` + base64 (an alphabet that cannot leave a comment or a literal). */
export function encodeDataLine(value: unknown): string {
  return `#${Buffer.from(JSON.stringify(value), 'utf8').toString('base64')}`;
}

// CSI (ESC [ ... final), OSC (ESC ] ... BEL or ESC \), two-character ESC sequences, and C1 CSI.
const TERMINAL_SEQUENCE =
  // eslint-disable-next-line no-control-regex
  /\u001b\[[0-?]*[ -/]*[@-~]|\u001b\][^\u0007\u001b]*(?:\u0007|\u001b\\)?|\u001b[@-Z\\-_]|\u009b[0-?]*[ -/]*[@-~]/g;

export function stripTerminalSequences(text: string): string {
  return text.replace(TERMINAL_SEQUENCE, '');
}

/** Exactly one JSON object line; other non-empty lines are returned as noise for the log. */
export function parseResultLine(stdout: string): ParsedResult {
  const noise: string[] = [];
  const results: Record<string, unknown>[] = [];
  for (const raw of stripTerminalSequences(stdout).split(/\r?\n/)) {
    const line = raw.trim();
    if (line.length === 0) continue;
    if (line.startsWith('{')) {
      try {
        const value: unknown = JSON.parse(line);
        if (isRecord(value)) {
          results.push(value);
          continue;
        }
      } catch {
        // not JSON: noise
      }
    }
    noise.push(line);
  }
  const [only] = results;
  if (results.length !== 1 || only === undefined) {
    return {
      ok: false,
      problem: `got ${results.length} JSON lines${noise.length > 0 ? ` and ${noise.length} other lines` : ''}`,
    };
  }
  return { ok: true, value: only, noise };
}
