// `npm run sandbox` builds first, but only when dist/ is missing or older than its sources, so a
// second run starts at once and a run during the tests never rewrites dist/ under another test.
// The build's own output goes to stderr: stdout stays for the CLI (one JSON document with --json).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '..');
const inputs = ['functions', 'cli', 'shared', 'sandbox'];
const files = ['tsconfig.json', 'tsconfig.build.json', 'package.json', 'scripts/copy-assets.mjs'];
const output = join(root, 'dist', 'cli', 'main.js');

function newest(path) {
  const stats = statSync(path);
  if (!stats.isDirectory()) return stats.mtimeMs;
  let latest = 0;
  for (const entry of readdirSync(path)) latest = Math.max(latest, newest(join(path, entry)));
  return latest;
}

const sources = Math.max(
  ...[...inputs, ...files]
    .map((p) => join(root, p))
    .filter(existsSync)
    .map(newest),
);
if (!existsSync(output) || statSync(output).mtimeMs < sources) {
  process.stderr.write('Building the app (dist/ is missing or older than the sources)...\n');
  const build = spawnSync('npm', ['run', '--silent', 'build'], {
    cwd: root,
    stdio: ['ignore', process.stderr, process.stderr],
  });
  process.exit(build.status ?? 1);
}
