// Runs every compiled benchmark (dist/bench/*.bench.js) one after another and prints their figures.
// Benchmarks report numbers; they never fail a build on timing.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

const folder = join('dist', 'bench');
const only = process.argv.slice(2);
const files = readdirSync(folder)
  .filter((file) => file.endsWith('.bench.js'))
  .filter((file) => only.length === 0 || only.some((name) => file.includes(name)))
  .sort();
let failed = 0;
for (const file of files) {
  console.log(`\n### ${file.replace('.bench.js', '')}`);
  const result = spawnSync(process.execPath, ['--expose-gc', join(folder, file)], { stdio: 'inherit' });
  if (result.status !== 0) failed += 1;
}
process.exitCode = failed > 0 ? 1 : 0;
