/** The first line of a message, capped: what an error from elsewhere may contribute to ours. */
export function firstLine(text: string, max = 300): string {
  const line = text.split(/\r?\n/, 1)[0] ?? '';
  return line.length > max ? `${line.slice(0, max)}…` : line;
}
